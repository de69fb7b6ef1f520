//! The agent's own vocabulary, typed: the commands a controller sends ([`Command`]), the events it
//! receives ([`AgentEvent`]), and speech that is never cut ([`split_utterance`], [`Speaker`]).
//!
//! This module sits above the codec and the host: it turns typed commands into [`Message`]s and
//! messages into typed events, and [`Speaker`] sends through a [`Remote`](crate::Remote). It opens
//! no connection and receives nothing by itself. Argument shapes follow the agent's public message
//! reference; where that leaves a detail open, the item's documentation says what is assumed.
//!
//! [`Message`]: crate::Message

mod command;
mod event;
mod speaker;
mod text;
mod utterance;

pub use command::{Command, CoordinateFrame, MotionRepeat, MotionScope, Movement};
pub use event::AgentEvent;
pub use speaker::{Speaker, SpeechTimeout, Spoken};
pub use text::{make_text_safe, CommandError, BAR_REPLACEMENT, MAX_AGENT_LINE_BYTES};
pub use utterance::split_utterance;
