//! What a running MMDAgent-EX sends its peers in answer to what it receives, without the agent:
//! the rules of a stand-in that lets a controller run end to end with no agent at hand.
//!
//! [`StandIn`] holds no socket and starts no thread: it turns each [`Event`] into the messages the
//! agent would send to every peer, and keeps the speech answers that fall due later, so the
//! caller waits for [`StandIn::next_due`] beside its other channels. [`connection_message`] is
//! the `REMOTE_EVENT_*` line the agent writes for a connection event.

use std::time::{Duration, Instant};

use crate::codec::{AvatarCommand, Item, Message};
use crate::hub::{Event, Transport};

/// How long the stand-in "speaks" before the first character.
const SPEAKING_START: Duration = Duration::from_millis(100);
/// How long it "speaks" per character of the text.
const SPEAKING_PER_CHAR: Duration = Duration::from_millis(20);
/// The longest it "speaks", whatever the text.
const SPEAKING_AT_MOST: Duration = Duration::from_secs(3);

/// How long the stand-in takes to "speak" a text: 100 ms + 20 ms per character, at most 3 s.
///
/// ```
/// use std::time::Duration;
/// use mmdagent_remote::agent::stand_in_speaking_time;
///
/// assert_eq!(stand_in_speaking_time("こんにちは"), Duration::from_millis(200));
/// ```
pub fn stand_in_speaking_time(text: &str) -> Duration {
    let characters = u32::try_from(text.chars().count()).unwrap_or(u32::MAX);
    SPEAKING_START
        .saturating_add(SPEAKING_PER_CHAR.saturating_mul(characters))
        .min(SPEAKING_AT_MOST)
}

/// The line the agent emits for a connection event: `REMOTE_EVENT_CONNECTED|<ip>` when a peer
/// connects, `REMOTE_EVENT_DISCONNECTED|<ip>` when it leaves; `None` for any other event.
///
/// ```
/// # use mmdagent_remote::{Config, Event, Remote, TcpServerConfig};
/// use mmdagent_remote::agent::connection_message;
/// # let mut config = Config::default();
/// # let mut server = TcpServerConfig::new(0);
/// # server.bind_address = "127.0.0.1".parse()?;
/// # config.tcp_server = Some(server);
/// # let remote = Remote::start(&config)?;
/// # let _peer = std::net::TcpStream::connect(("127.0.0.1", remote.local_addr().unwrap().port()))?;
/// let event = remote.recv()?;
/// assert_eq!(connection_message(&event).unwrap().to_string(), "REMOTE_EVENT_CONNECTED|127.0.0.1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn connection_message(event: &Event) -> Option<Message<'static>> {
    match event {
        Event::Connected { address, .. } => Some(Message::new(
            "REMOTE_EVENT_CONNECTED",
            address.ip().to_string(),
        )),
        Event::Disconnected { address, .. } => Some(Message::new(
            "REMOTE_EVENT_DISCONNECTED",
            address.ip().to_string(),
        )),
        _ => None,
    }
}

/// A stand-in for the agent on the wire: what a running MMDAgent-EX sends every peer for each
/// event, as observed on the real agent.
///
/// - Every message a peer sends is forwarded to every peer, the sender included; a message with
///   an empty type (`|onlyargs`) as its arguments alone, as the agent writes it.
/// - `__AV_START` and `__AV_END` are answered with `AVATAR|START` and `AVATAR|END`.
/// - A peer of the TCP server connecting or leaving is announced with [`connection_message`].
/// - `SYNTH_START|model|voice|text` is answered with `SYNTH_EVENT_START|model` at once and
///   `SYNTH_EVENT_STOP|model` after [`stand_in_speaking_time`]`(text)`; `SYNTH_STOP|model` ends
///   every speech of that model at once with its `SYNTH_EVENT_STOP|model`.
///
/// ```
/// use std::time::Instant;
/// use mmdagent_remote::agent::StandIn;
/// use mmdagent_remote::{Event, Item, Message};
/// # fn answer_in(remote: &mmdagent_remote::Remote, event: &Event) -> Result<(), mmdagent_remote::Error> {
/// let mut stand_in = StandIn::new();
/// for message in stand_in.answer(event, Instant::now()) {
///     remote.send(&Item::Message(message))?;
/// }
/// // ...and when `stand_in.next_due()` comes:
/// for message in stand_in.take_due(Instant::now()) {
///     remote.send(&Item::Message(message))?;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct StandIn {
    /// The `SYNTH_EVENT_STOP`s due, each with its model.
    speech_due: Vec<(Instant, String)>,
}

impl StandIn {
    /// A stand-in with no speech going on.
    pub fn new() -> Self {
        StandIn::default()
    }

    /// The messages the agent sends every peer in answer to `event`, in order, as of `now`.
    pub fn answer(&mut self, event: &Event, now: Instant) -> Vec<Message<'static>> {
        match event {
            Event::Item {
                item: Item::Message(message),
                ..
            } => {
                let mut answers = vec![as_the_agent_writes_it(message)];
                self.answer_speech(message, now, &mut answers);
                answers
            }
            Event::Item {
                item: Item::Avatar { command, .. },
                ..
            } => match command {
                AvatarCommand::Start => vec![Message::new("AVATAR", "START")],
                AvatarCommand::End => vec![Message::new("AVATAR", "END")],
                _ => Vec::new(),
            },
            Event::Connected {
                transport: Transport::TcpServer,
                ..
            }
            | Event::Disconnected {
                transport: Transport::TcpServer,
                ..
            } => connection_message(event).into_iter().collect(),
            _ => Vec::new(),
        }
    }

    /// When the next `SYNTH_EVENT_STOP` is due, if one is.
    pub fn next_due(&self) -> Option<Instant> {
        self.speech_due.iter().map(|(at, _)| *at).min()
    }

    /// Every `SYNTH_EVENT_STOP` due by `now`, earliest first.
    pub fn take_due(&mut self, now: Instant) -> Vec<Message<'static>> {
        self.speech_due.sort_by_key(|(at, _)| *at);
        let ready = self.speech_due.partition_point(|(at, _)| *at <= now);
        self.speech_due
            .drain(..ready)
            .map(|(_, model)| Message::new("SYNTH_EVENT_STOP", model))
            .collect()
    }

    fn answer_speech(
        &mut self,
        message: &Message<'_>,
        now: Instant,
        answers: &mut Vec<Message<'static>>,
    ) {
        match message.name() {
            "SYNTH_START" => {
                let mut args = message.args().splitn(3, '|');
                let (Some(model), Some(_voice), Some(text)) =
                    (args.next(), args.next(), args.next())
                else {
                    return;
                };
                if model.is_empty() {
                    return;
                }
                answers.push(Message::new("SYNTH_EVENT_START", model));
                self.speech_due
                    .push((now + stand_in_speaking_time(text), model.to_owned()));
            }
            "SYNTH_STOP" => {
                let model = message.args();
                let before = self.speech_due.len();
                self.speech_due.retain(|(_, speaking)| speaking != model);
                for _ in self.speech_due.len()..before {
                    answers.push(Message::new("SYNTH_EVENT_STOP", model));
                }
            }
            _ => {}
        }
    }
}

/// The agent writes a message with an empty type as its arguments alone (`|onlyargs` comes back as
/// `onlyargs`); every other message as it came.
fn as_the_agent_writes_it(message: &Message<'_>) -> Message<'static> {
    if message.name().is_empty() {
        Message::parse(message.args().to_owned())
    } else {
        message.clone().into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::PeerId;

    fn item(line: &str) -> Event {
        Event::Item {
            peer: PeerId(1),
            item: Item::from_line(line.to_owned()).unwrap(),
        }
    }

    fn lines(messages: Vec<Message<'static>>) -> Vec<String> {
        messages.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn speaking_time_grows_with_the_text_up_to_three_seconds() {
        assert_eq!(stand_in_speaking_time(""), Duration::from_millis(100));
        assert_eq!(
            stand_in_speaking_time("こんにちは"),
            Duration::from_millis(200)
        );
        assert_eq!(
            stand_in_speaking_time(&"a".repeat(1000)),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn avatar_start_and_end_are_answered_as_the_agent_does() {
        let mut stand_in = StandIn::new();
        let now = Instant::now();
        assert_eq!(
            lines(stand_in.answer(&item("__AV_START"), now)),
            ["AVATAR|START"]
        );
        assert_eq!(
            lines(stand_in.answer(&item("__AV_END"), now)),
            ["AVATAR|END"]
        );
        assert!(stand_in.answer(&item("__AV_SETMODEL,0"), now).is_empty());
    }

    #[test]
    fn messages_are_forwarded_and_speech_answered_in_time() {
        let mut stand_in = StandIn::new();
        let now = Instant::now();
        assert_eq!(lines(stand_in.answer(&item("|only"), now)), ["only"]);
        assert_eq!(
            lines(stand_in.answer(&item("SYNTH_START|mei|v|ab"), now)),
            ["SYNTH_START|mei|v|ab", "SYNTH_EVENT_START|mei"]
        );
        let due = stand_in.next_due().unwrap();
        assert_eq!(due - now, Duration::from_millis(140));
        assert!(stand_in.take_due(due - Duration::from_millis(1)).is_empty());
        assert_eq!(lines(stand_in.take_due(due)), ["SYNTH_EVENT_STOP|mei"]);
        assert_eq!(stand_in.next_due(), None);
    }

    #[test]
    fn synth_stop_ends_the_speech_of_its_model_at_once() {
        let mut stand_in = StandIn::new();
        let now = Instant::now();
        stand_in.answer(&item("SYNTH_START|mei|v|long"), now);
        stand_in.answer(&item("SYNTH_START|other|v|long"), now);
        assert_eq!(
            lines(stand_in.answer(&item("SYNTH_STOP|mei"), now)),
            ["SYNTH_STOP|mei", "SYNTH_EVENT_STOP|mei"]
        );
        assert_eq!(stand_in.speech_due.len(), 1);
    }
}
