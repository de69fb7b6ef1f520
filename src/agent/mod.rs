//! The agent's own vocabulary, typed: the commands a controller sends ([`Command`]), the events it
//! receives ([`AgentEvent`]), speech that is never cut ([`split_utterance`], [`Speaker`]), and the
//! agent's own answers on the wire, for standing in for it ([`StandIn`], [`connection_message`]).
//!
//! This module sits above the codec and the host: it turns typed commands into [`Message`]s and
//! messages into typed events, and [`Speaker`] sends through a [`Remote`](crate::Remote). It opens
//! no connection and receives nothing by itself. Argument shapes follow the agent's public message
//! reference; where that leaves a detail open, the item's documentation says what is assumed.
//!
//! [`Message`]: crate::Message
//!
//! # A controller that answers what it hears
//!
//! The agent sends `RECOG_EVENT_STOP|text` when its recogniser has heard something; this
//! controller shows the text in a caption and speaks an answer, a sentence at a time. Its receive
//! loop shows every event to the [`Speaker`] and waits no longer than the speaker's deadline. (Here
//! the agent is played by the library on a loopback port, hidden from the listing.)
//!
//! ```
//! use std::time::Instant;
//! use mmdagent_remote::agent::{AgentEvent, Command, Speaker};
//! use mmdagent_remote::{Config, Item, Remote, TcpClientConfig};
//! # use mmdagent_remote::{Event, TcpServerConfig};
//! # let mut server = TcpServerConfig::new(0);
//! # server.bind_address = "127.0.0.1".parse()?;
//! # let mut config = Config::default();
//! # config.tcp_server = Some(server);
//! # let agent = Remote::start(&config)?;
//! # let port = agent.local_addr().unwrap().port();
//! # // The agent hears one utterance, shows what it is sent, and speaks every sentence at once.
//! # let agent = std::thread::spawn(move || -> Result<Vec<String>, mmdagent_remote::Error> {
//! #     let mut received = Vec::new();
//! #     for event in agent.events() {
//! #         match event {
//! #             Event::Connected { .. } => {
//! #                 agent.send_message("RECOG_EVENT_STOP", "こんにちは")?;
//! #             }
//! #             Event::Item { item: Item::Message(message), .. } => {
//! #                 received.push(message.to_string());
//! #                 if message.name() == "SYNTH_START" {
//! #                     agent.send_message("SYNTH_EVENT_STOP", "mei")?;
//! #                 }
//! #                 if received.len() == 3 {
//! #                     break;
//! #                 }
//! #             }
//! #             _ => {}
//! #         }
//! #     }
//! #     Ok(received)
//! # });
//!
//! let mut config = Config::default();
//! config.tcp_client = Some(TcpClientConfig::new("127.0.0.1", port)); // an agent: localhost:60001
//! let controller = Remote::start(&config)?;
//! let mut speaker = Speaker::new("mei", "mei_voice_normal")?;
//!
//! loop {
//!     let event = match speaker.deadline() {
//!         None => controller.recv()?,
//!         Some(deadline) => match controller.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
//!             Ok(event) => event,
//!             Err(_) => {
//!                 speaker.handle_deadline(&controller)?; // the agent never said it finished
//!                 continue;
//!             }
//!         },
//!     };
//!     speaker.handle_event(&controller, &event)?; // it only looks; the event is still ours
//!     match AgentEvent::from_event(&event) {
//!         Some(AgentEvent::RecogStopped { text }) => {
//!             let caption = Command::TextAreaSet { alias: "caption".into(), text: text.clone() };
//!             controller.send(&Item::Message(caption.to_message()?))?;
//!             speaker.speak(&controller, &format!("「{text}」と聞こえました。ほかに何か？"))?;
//!         }
//!         // One answer is enough for this example; a real controller goes on listening.
//!         Some(AgentEvent::SynthStopped { .. }) if speaker.is_idle() => break,
//!         _ => {}
//!     }
//! }
//! # assert_eq!(agent.join().unwrap()?, [
//! #     "TEXTAREA_SET|caption|こんにちは",
//! #     "SYNTH_START|mei|mei_voice_normal|「こんにちは」と聞こえました。",
//! #     "SYNTH_START|mei|mei_voice_normal|ほかに何か？",
//! # ]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod command;
mod event;
mod speaker;
mod stand_in;
mod text;
mod utterance;

pub use command::{Command, CoordinateFrame, MotionRepeat, MotionScope, Movement};
pub use event::AgentEvent;
pub use speaker::{Speaker, SpeechTimeout, Spoken};
pub use stand_in::{connection_message, stand_in_speaking_time, StandIn};
pub use text::{make_text_safe, CommandError, BAR_REPLACEMENT, MAX_AGENT_LINE_BYTES};
pub use utterance::split_utterance;
