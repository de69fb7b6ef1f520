//! Audio in the protocol's own format (16 kHz, 16-bit signed little-endian, mono): saving what peers
//! stream as WAV files, and reading WAV files to stream to peers.
//!
//! `recorder` writes what peers send; `wav` reads files of any common PCM format, `resample` brings
//! them to 16 kHz, and `stream` frames and paces audio to peers. This module sits above the host API and learns about received audio from
//! [`Event`](crate::Event)s; nothing below it (codec, hub, transports, host) imports it.

/// The protocol's audio sample rate, in Hz: Plugin_Remote audio is 16 kHz, 16-bit signed
/// little-endian, mono.
pub const SAMPLE_RATE: u32 = 16_000;

mod recorder;
mod resample;
mod stream;
mod wav;

pub use recorder::{AudioRecorder, SavedSegment};
pub use stream::{
    AudioProgress, AudioStream, AudioStreamHandle, AudioStreamOptions, AudioStreamState,
    AudioTarget, DEFAULT_AUDIO_CHUNK_BYTES, DEFAULT_AUDIO_LEAD, MAX_AUDIO_CHUNK_BYTES,
    MAX_AUDIO_LEAD,
};
pub use wav::{SampleEncoding, WavAudio, WavFormat, MAX_WAV_DURATION};
