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
//!     Ok(Item::Avatar(AvatarCommand::Start)),
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

mod codec;
mod config;
mod error;
mod host;
mod transport;

pub use codec::{
    encode, AudioControl, AutoLipMode, AvatarCommand, DecodeError, Item, LineDecoder, Message,
    MAX_AUDIO_CHUNK_LENGTH,
};
pub use config::{
    known_keys, Config, ConfigWarning, KeyHelp, MdfSettings, Origin, RetryLimit, RetryPolicy,
    TcpClientConfig, TcpServerConfig, WebSocketClientConfig, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_LINE_LENGTH, DEFAULT_MAX_PEERS, DEFAULT_PORT, MAX_LINE_LENGTH_LIMIT,
};
pub use error::{Error, SettingError};
pub use host::{DisconnectReason, Event, HostOptions, PeerId, PeerInfo, Remote, Stats, Transport};
