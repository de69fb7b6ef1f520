//! MMDAgent-EX's Plugin_Remote in synchronous Rust.
//!
//! [MMDAgent-EX] is a toolkit for spoken-dialogue CG agents. Its Plugin_Remote connects the agent to
//! outside programs ("controllers": dialogue managers, recognisers, test scripts) over TCP/IP and
//! WebSocket. Every message the agent emits goes to every peer as a line `TYPE|ARGS\n`; every line a
//! peer sends becomes a message in the agent; audio and avatar-control lines share the same stream.
//! This crate speaks that protocol, compatible on the wire and in its `.mdf` settings, for either end.
//!
//! [MMDAgent-EX]: https://mmdagent-ex.dev/
//!
//! # Roles
//!
//! The same [`Remote`] plays either end: the transports a [`Config`] names start, and from then on
//! the host sends [`Item`]s to peers and receives [`Event`]s, through channels, from plain threads.
//!
//! ## The agent's side, as a TCP server controllers connect to
//!
//! ```
//! use std::io::{BufRead, BufReader, Write};
//! use std::net::TcpStream;
//! use mmdagent_remote::{Config, Event, Item, Remote, TcpServerConfig};
//!
//! let mut config = Config::default();
//! config.tcp_server = Some(TcpServerConfig::new(0)); // 0: any free port; the original's is 60001
//! let agent = Remote::start(&config)?;
//! let port = agent.local_addr().unwrap().port();
//!
//! // A controller connects and sends a message, as the user guide's Python script does.
//! let mut controller = TcpStream::connect(("127.0.0.1", port))?;
//! controller.write_all(b"MESSAGE|aaa|bbb\n")?;
//!
//! for event in agent.events() {
//!     match event {
//!         Event::Connected { address, .. } => println!("REMOTE_EVENT_CONNECTED|{}", address.ip()),
//!         Event::Item { item: Item::Message(message), .. } => {
//!             assert_eq!(message.to_string(), "MESSAGE|aaa|bbb");
//!             agent.send_message("SYNTH_START", "mei|mei_voice_normal|hello")?; // to every peer
//!             break;
//!         }
//!         _ => {}
//!     }
//! }
//! let mut reply = String::new();
//! BufReader::new(controller).read_line(&mut reply)?;
//! assert_eq!(reply, "SYNTH_START|mei|mei_voice_normal|hello\n");
//! agent.shutdown()?; // closes every connection and joins every thread (dropping does too)
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## The agent's side, as a TCP client of a controller's server
//!
//! ```
//! use std::io::Write;
//! use std::net::TcpListener;
//! use mmdagent_remote::{Config, Event, Item, Remote, RetryLimit, TcpClientConfig};
//!
//! let controller = TcpListener::bind("127.0.0.1:0")?;
//! let mut client = TcpClientConfig::new("127.0.0.1", controller.local_addr()?.port());
//! client.retry.limit = RetryLimit::Forever; // Plugin_Remote_RetryForever=true
//! let mut config = Config::default();
//! config.tcp_client = Some(client);
//! let agent = Remote::start(&config)?;
//!
//! let (mut connection, _) = controller.accept()?;
//! connection.write_all(b"MESSAGE|aaa|bbb\n")?;
//! let received = agent.events().find_map(|event| match event {
//!     Event::Item { item: Item::Message(message), .. } => Some(message),
//!     _ => None,
//! });
//! assert_eq!(received.unwrap().args(), "aaa|bbb");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## The controller's side, connecting to an agent
//!
//! A dialogue manager that talks to a running MMDAgent-EX (server mode, port 60001) is a TCP client
//! too; it reacts to the agent's messages and sends its own. The [`agent`] module types them, so
//! a `|` or a line end in what was heard cannot break the line sent back; it also speaks long
//! answers a sentence at a time ([`agent::Speaker`], with a complete example).
//!
//! ```no_run
//! use mmdagent_remote::agent::{AgentEvent, Command};
//! use mmdagent_remote::{Config, Event, Item, Remote, TcpClientConfig};
//!
//! let mut config = Config::default();
//! config.tcp_client = Some(TcpClientConfig::new("localhost", 60001));
//! let agent = Remote::start(&config)?;
//! for event in agent.events() {
//!     if let Event::GaveUp { reason, .. } = &event {
//!         return Err(reason.clone().into());
//!     }
//!     if let Some(AgentEvent::RecogStopped { text }) = AgentEvent::from_event(&event) {
//!         let answer = Command::SynthStart { model: "mei".into(), voice: "mei_voice_normal".into(), text };
//!         agent.send(&Item::Message(answer.to_message()?))?;
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## WebSocket: the agent as client, the controller as server
//!
//! The agent connects to a controller's WebSocket server (`Plugin_Remote_Websocket_Host`, `_Port`,
//! `_Directory`); the controller's side is a [`WebSocketServerConfig`], as the user guide's Python
//! servers are. Each message travels as one text frame ending in a newline; wss works with the
//! `tls` feature.
//!
//! ```
//! use mmdagent_remote::{Config, Event, Item, Remote, WebSocketClientConfig, WebSocketServerConfig};
//!
//! // The controller: serves /chat on a free port of 127.0.0.1.
//! let mut server = WebSocketServerConfig::new(0);
//! server.path = Some("/chat".to_owned());
//! let mut config = Config::default();
//! config.websocket_server = Some(server);
//! let controller = Remote::start(&config)?;
//! let port = controller.websocket_addr().unwrap().port();
//!
//! // The agent: ws://127.0.0.1:<port>/chat, sending `X-App-Type: MMDAgent` as MMDAgent-EX does.
//! let mut config = Config::default();
//! config.websocket_client = Some(WebSocketClientConfig::new("127.0.0.1", port, "/chat"));
//! let agent = Remote::start(&config)?;
//!
//! let connected = |remote: &Remote| remote.events().any(|event| matches!(event, Event::Connected { .. }));
//! assert!(connected(&controller) && connected(&agent));
//! controller.send_message("TEST_MESSAGE", "")?;
//! let received = agent.events().find_map(|event| match event {
//!     Event::Item { item: Item::Message(message), .. } => Some(message.to_string()),
//!     _ => None,
//! });
//! assert_eq!(received.as_deref(), Some("TEST_MESSAGE"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Why blocking threads
//!
//! The users of this crate link it from synchronous programs, build it for small targets, and learn
//! it from examples with threads. So it has no async runtime: each transport is a few OS threads
//! (an acceptor, and a reader and a writer per peer; or one connector, which reads, and one writer
//! for a client's life) that block in the kernel.
//! Readers hand the host what they read through a `crossbeam-channel`; the host encodes what it
//! sends into byte outboxes, and a writer is woken only when its outbox stops being empty. Nothing
//! polls: an idle connection costs no CPU, and every blocked thread has a way to be woken, so
//! shutting down is prompt.
//!
//! # What is logged
//!
//! The library logs through the `log` facade and never prints. By level:
//! - `error`: a client gave up connecting; a thread could not be started or woken.
//! - `warn`: a connection attempt failed (and will be retried); a peer was disconnected for not
//!   reading, or turned away over the peer limit; a connection broke; bad input from a peer (the
//!   first error and then every power of two, per peer); messages dropped with no peer connected
//!   (once per outage, with the count); questionable settings.
//! - `info`: listening; connecting; a peer connected or disconnected.
//!
//! # Settings
//!
//! [`MdfSettings`] reads `.mdf` files (`KEY=VALUE` lines, later ones winning) and turns the
//! `Plugin_Remote_*` keys into a typed [`Config`]. A bad value is an [`Error`] naming the file,
//! line and key; an unknown `Plugin_Remote_*` key is a warning that suggests the nearest known one.
//!
//! ```
//! use mmdagent_remote::MdfSettings;
//!
//! let mut settings = MdfSettings::new();
//! settings.load_str("main.mdf", "Plugin_Remote_EnableServer=true\nPlugin_Remote_ListenPort=50001\n");
//! let config = settings.to_config()?;
//! assert_eq!(config.tcp_server.unwrap().port, 50001);
//!
//! settings.load_str("override.mdf", "Plugin_Remote_ListenPort=fifty\n");
//! let error = settings.to_config().unwrap_err();
//! assert_eq!(
//!     error.to_string(),
//!     "override.mdf:1: Plugin_Remote_ListenPort=fifty: not a port number: write a number from 1 to 65535"
//! );
//! # Ok::<(), mmdagent_remote::Error>(())
//! ```
//!
//! # The codec
//!
//! A [`LineDecoder`] per connection turns the bytes that arrive, however they are split, into
//! [`Item`]s: messages, avatar commands, audio chunks and controls. [`encode`] writes them back.
//!
//! ```
//! use mmdagent_remote::{AudioControl, AvatarCommand, Item, LineDecoder, Message};
//!
//! let mut decoder = LineDecoder::new();
//! let mut items = Vec::new();
//! for piece in [&b"__AV_START\nSNDFI"[..], b"LESND0004\x01\x02\x03\x04__AV_MESSAGE,MOTION|mei\r\n"] {
//!     decoder.decode(piece, |item| items.push(item.map(Item::into_owned)));
//! }
//! assert_eq!(items, [
//!     Ok(Item::avatar(AvatarCommand::Start)),
//!     Ok(Item::AudioControl(AudioControl::File)),
//!     Ok(Item::AudioChunk(vec![1, 2, 3, 4].into())),
//!     Ok(Item::Message(Message::new("MOTION", "mei"))),
//! ]);
//! ```
//!
//! # Cargo features
//!
//! - `tls` (default): `wss://` through the platform's TLS library (`native-tls`).
//! - `cli` (default): the `mmdagent-remote` command and its logger (`env_logger`). The library
//!   itself never installs a logger and never prints; it logs through the `log` facade.
//!
//! Library users on small targets can depend on `mmdagent-remote` with `default-features = false`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// The README's Rust examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;

pub mod agent;
mod audio;
mod codec;
mod config;
mod error;
mod host;
mod hub;
mod transport;

pub use audio::{
    AudioProgress, AudioRecorder, AudioStream, AudioStreamHandle, AudioStreamOptions,
    AudioStreamState, AudioTarget, SampleEncoding, SavedSegment, WavAudio, WavFormat,
    DEFAULT_AUDIO_CHUNK_BYTES, DEFAULT_AUDIO_LEAD, MAX_AUDIO_CHUNK_BYTES, MAX_AUDIO_LEAD,
    MAX_WAV_DURATION, SAMPLE_RATE,
};
pub use codec::{
    encode, encode_line, AudioControl, AutoLipMode, AvatarCommand, DecodeError, EncodeError, Item,
    LineDecoder, Message, MAX_AUDIO_CHUNK_LENGTH,
};
pub use config::{
    known_keys, AddressError, Config, ConfigWarning, HostPort, KeyHelp, ListenAddress, MdfSettings,
    PingPolicy, RetryLimit, RetryPolicy, TcpClientConfig, TcpServerConfig, TlsIdentity,
    WebSocketClientConfig, WebSocketServerConfig, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_MAX_LINE_LENGTH, DEFAULT_MAX_PEERS, DEFAULT_PORT, DEFAULT_SERVER_HANDSHAKE_TIMEOUT,
    DEFAULT_WEBSOCKET_PORT, MAX_LINE_LENGTH_LIMIT,
};
pub use error::{Error, Origin, SettingError, WavError, WavProblem};
pub use host::{Events, RecvError, RecvTimeoutError, Remote, TryRecvError};
pub use hub::{
    DisconnectReason, DropCause, Event, HostOptions, Inbound, PeerId, PeerInfo, Received, Stats,
    Transport,
};
