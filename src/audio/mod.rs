//! Audio in the protocol's own format (16 kHz, 16-bit signed little-endian, mono): saving what peers
//! stream as WAV files, and reading WAV files to stream to peers.
//!
//! `recorder` writes what peers send; `wav` reads files of any common PCM format and `resample`
//! brings them to 16 kHz. This module sits above the host API and learns about received audio from
//! [`Event`](crate::Event)s; nothing below it (codec, hub, transports, host) imports it.

mod recorder;
mod resample;
mod wav;

pub use recorder::{AudioRecorder, SavedSegment, SAMPLE_RATE};
pub use wav::{SampleEncoding, WavAudio, WavFormat};
