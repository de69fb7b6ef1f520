//! The Plugin_Remote wire format: bytes to items and items to bytes, with no I/O.
//!
//! [`LineDecoder`] splits an inbound stream into [`Item`]s; [`encode`] writes items for the wire.
//! Both are pure state over byte slices, so they are tested byte by byte and used alike by every
//! transport and by either end of a connection. `websocket_frame` does the same for the WebSocket
//! frames those lines travel in.

mod byte_search;
mod decoder;
mod encoder;
mod item;
pub(crate) mod unpredictable;
#[allow(dead_code)] // parts are used only by the tests until every caller is in
pub(crate) mod websocket_frame;

pub use decoder::LineDecoder;
pub(crate) use encoder::encode_message_parts;
pub use encoder::{encode, encode_line, EncodeError, MAX_AUDIO_CHUNK_LENGTH};
pub use item::{AudioControl, AutoLipMode, AvatarCommand, DecodeError, Item, Message};
