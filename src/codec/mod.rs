//! The Plugin_Remote wire format: bytes to items and items to bytes, with no I/O.
//!
//! [`LineDecoder`] splits an inbound stream into [`Item`]s; [`encode`] writes items for the wire.
//! Both are pure state over byte slices, so they are tested byte by byte and used alike by every
//! transport and by either end of a connection.

mod decoder;
mod encoder;
mod item;

pub use decoder::LineDecoder;
pub use encoder::{encode, encode_line, MAX_AUDIO_CHUNK_LENGTH};
pub use item::{AudioControl, AutoLipMode, AvatarCommand, DecodeError, Item, Message};
