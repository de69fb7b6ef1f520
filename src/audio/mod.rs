//! Audio in the protocol's own format (16 kHz, 16-bit signed little-endian, mono): saving what peers
//! stream as WAV files, and streaming audio to peers.
//!
//! This module sits above the host API: it learns about received audio from [`Event`](crate::Event)s
//! and sends through [`Remote`](crate::Remote). Nothing below it (codec, hub, transports, host)
//! imports it.

mod recorder;
#[allow(dead_code)] // its caller, the WAV reader, comes next
mod resample;

pub use recorder::{AudioRecorder, SavedSegment, SAMPLE_RATE};
