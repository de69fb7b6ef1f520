//! Reading WAV files into the protocol's audio: 16 kHz, 16-bit, mono.
//!
//! A RIFF/WAVE file is a list of chunks; this reads the `fmt ` chunk and the `data` chunk after it
//! and skips every other (`LIST`, `fact`, `bext`...), each padded to an even length as RIFF asks.
//! Samples may be 8-bit unsigned, 16, 24 or 32-bit signed integers, or 32 or 64-bit floats
//! (format tags 1 and 3, or `WAVE_FORMAT_EXTENSIBLE` with either as its subformat), with any number
//! of channels, which are averaged into one, at any rate from 1 kHz to 1 MHz, resampled to 16 kHz.
//!
//! Nothing in a header is trusted for memory: chunks are skipped by reading past them, and what is
//! reserved for samples is bounded by the bytes the file really has. The data is converted block by
//! block as it is read, so memory holds the 16 kHz result (at most [`MAX_WAV_DURATION`]) and one
//! block, not the whole file at its own rate as well. A `data` chunk whose length is
//! `0xFFFFFFFF` (what programs writing WAV to a pipe put there) runs to the end of the file. A
//! `data` chunk of 0 bytes is read as no audio (no samples; a stream of it sends only its preamble
//! and `SNDBRKS`). Float samples that are NaN or infinite are read as silence. This module does no
//! playback and no sending.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::resample::{output_length, quantise, Resampler};
use super::SAMPLE_RATE;
use crate::error::{Error, WavError, WavProblem};

/// A WAV file's audio converted to the protocol's format, and the format it was in.
///
/// ```no_run
/// use mmdagent_remote::WavAudio;
///
/// let wav = WavAudio::open("hello.wav")?;
/// println!("{} Hz, {} channels: {:?} of audio", wav.format.sample_rate, wav.format.channels, wav.duration());
/// # Ok::<(), mmdagent_remote::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WavAudio {
    /// The file's format, as its `fmt ` chunk says.
    pub format: WavFormat,
    /// The audio at 16 kHz, mono, 16-bit.
    pub samples: Vec<i16>,
}

/// The sample format of a WAV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WavFormat {
    /// Frames per second.
    pub sample_rate: u32,
    /// Channels per frame.
    pub channels: u16,
    /// How each sample is stored.
    pub encoding: SampleEncoding,
}

/// How one sample is stored in a WAV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SampleEncoding {
    /// 8-bit unsigned integer, silence at 128.
    Unsigned8,
    /// 16-bit signed integer.
    Signed16,
    /// 24-bit signed integer.
    Signed24,
    /// 32-bit signed integer.
    Signed32,
    /// 32-bit IEEE float, full scale ±1.0.
    Float32,
    /// 64-bit IEEE float, full scale ±1.0.
    Float64,
}

impl SampleEncoding {
    fn bytes(self) -> usize {
        match self {
            SampleEncoding::Unsigned8 => 1,
            SampleEncoding::Signed16 => 2,
            SampleEncoding::Signed24 => 3,
            SampleEncoding::Signed32 | SampleEncoding::Float32 => 4,
            SampleEncoding::Float64 => 8,
        }
    }

    /// One sample, at full scale ±1.0; `bytes` is exactly [`Self::bytes`] long.
    fn decode(self, bytes: &[u8]) -> f32 {
        match self {
            SampleEncoding::Unsigned8 => (f32::from(bytes[0]) - 128.0) / 128.0,
            SampleEncoding::Signed16 => {
                f32::from(i16::from_le_bytes([bytes[0], bytes[1]])) / 32768.0
            }
            SampleEncoding::Signed24 => {
                // Into the top three bytes of an i32, so the sign comes along.
                let value = i32::from_le_bytes([0, bytes[0], bytes[1], bytes[2]]);
                (f64::from(value) / 2_147_483_648.0) as f32
            }
            SampleEncoding::Signed32 => {
                let value = i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                (f64::from(value) / 2_147_483_648.0) as f32
            }
            SampleEncoding::Float32 => {
                finite_or_silence(f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
            }
            SampleEncoding::Float64 => {
                let mut array = [0; 8];
                array.copy_from_slice(bytes);
                finite_or_silence(f64::from_le_bytes(array) as f32)
            }
        }
    }
}

/// A float sample, or silence for NaN and the infinities, which are no level at all (and would
/// spread through the filter to every sample near them).
fn finite_or_silence(sample: f32) -> f32 {
    if sample.is_finite() {
        sample
    } else {
        0.0
    }
}

/// The lowest and highest sample rates read: below or above is a broken header, not audio.
const RATES: std::ops::RangeInclusive<u32> = 1_000..=1_000_000;
/// A `data` length that means "to the end of the file".
const UNKNOWN_LENGTH: u32 = u32::MAX;
/// The tail of the GUID of `WAVE_FORMAT_EXTENSIBLE` subformats whose first two bytes are a format tag.
const SUBFORMAT_GUID_TAIL: [u8; 14] = [
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
];
const FORMAT_PCM: u16 = 1;
const FORMAT_FLOAT: u16 = 3;
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;
/// The longest audio read: an hour, far more than the agent buffers (about 60 s; a stream is
/// paced, so longer audio plays whole) but a bound on memory: an hour at 16 kHz is 115 MB of
/// samples, whatever the file's own rate and format. Longer audio is an error before (when the
/// length is known) or while it is read.
pub const MAX_WAV_DURATION: Duration = Duration::from_secs(60 * 60);
/// How much of the data is read at a time.
const READ_BLOCK: usize = 64 * 1024;

impl WavAudio {
    /// Reads a WAV file and converts its audio to 16 kHz mono.
    ///
    /// Fails with [`Error::Wav`] naming the file and what is wrong with it.
    pub fn open(path: impl AsRef<Path>) -> Result<WavAudio, Error> {
        let path = path.as_ref();
        let fail = |error| WavError {
            path: path.to_path_buf(),
            problem: WavProblem::Io(error),
        };
        let file = File::open(path).map_err(fail)?;
        let length = file.metadata().map_err(fail)?.len();
        read_wav(path.to_path_buf(), io::BufReader::new(file), Some(length)).map_err(Error::from)
    }

    /// Reads WAV bytes from `reader` (a network response, a pipe, memory) and converts them;
    /// `name` stands for the source in errors.
    ///
    /// ```
    /// use mmdagent_remote::WavAudio;
    ///
    /// let error = WavAudio::from_reader("reply.wav", &b"ID3\x03 this is an MP3"[..]).unwrap_err();
    /// assert_eq!(error.to_string(), "reply.wav: not a WAV file (no RIFF header)");
    /// ```
    pub fn from_reader(name: impl Into<PathBuf>, reader: impl Read) -> Result<WavAudio, Error> {
        read_wav(name.into(), reader, None).map_err(Error::from)
    }

    /// How long the audio plays.
    pub fn duration(&self) -> Duration {
        samples_duration(self.samples.len() as u64)
    }
}

/// How long `samples` 16 kHz samples play.
pub(crate) fn samples_duration(samples: u64) -> Duration {
    Duration::from_secs(samples / u64::from(SAMPLE_RATE))
        + Duration::from_nanos(
            samples % u64::from(SAMPLE_RATE) * 1_000_000_000 / u64::from(SAMPLE_RATE),
        )
}

/// Parses a whole WAV stream. `length`, when known, bounds what is reserved for samples.
fn read_wav(path: PathBuf, reader: impl Read, length: Option<u64>) -> Result<WavAudio, WavError> {
    let mut reader = Counting {
        inner: reader,
        read: 0,
    };
    let fail = |problem| WavError {
        path: path.clone(),
        problem,
    };
    let mut header = [0; 12];
    let got = read_up_to(&mut reader, &mut header).map_err(|e| fail(WavProblem::Io(e)))?;
    if got >= 4 && (&header[..4] == b"RIFX" || &header[..4] == b"RF64") {
        return Err(fail(WavProblem::UnsupportedRiff([
            header[0], header[1], header[2], header[3],
        ])));
    }
    if got < 4 || &header[..4] != b"RIFF" {
        return Err(fail(WavProblem::NotRiff));
    }
    if got < 12 {
        return Err(fail(WavProblem::Truncated {
            part: "RIFF header".to_owned(),
            declared: 12,
            present: got as u64,
        }));
    }
    if &header[8..12] != b"WAVE" {
        let mut kind = [0; 4];
        kind.copy_from_slice(&header[8..12]);
        return Err(fail(WavProblem::NotWave(kind)));
    }
    let mut format = None;
    loop {
        let mut chunk_header = [0; 8];
        let got =
            read_up_to(&mut reader, &mut chunk_header).map_err(|e| fail(WavProblem::Io(e)))?;
        if got < 8 {
            // The chunks ran out (trailing bytes too few for a chunk are ignored).
            return Err(fail(match format {
                None => WavProblem::MissingFormat,
                Some(_) => WavProblem::MissingData,
            }));
        }
        let id: [u8; 4] = [
            chunk_header[0],
            chunk_header[1],
            chunk_header[2],
            chunk_header[3],
        ];
        let size = u32::from_le_bytes([
            chunk_header[4],
            chunk_header[5],
            chunk_header[6],
            chunk_header[7],
        ]);
        let truncated = |present: u64| WavProblem::Truncated {
            part: format!("{:?} chunk", String::from_utf8_lossy(&id)),
            declared: u64::from(size),
            present,
        };
        match &id {
            b"fmt " => {
                let mut bytes = [0; 40];
                let wanted = (size as usize).min(bytes.len());
                let got = read_up_to(&mut reader, &mut bytes[..wanted])
                    .map_err(|e| fail(WavProblem::Io(e)))?;
                if got < wanted {
                    return Err(fail(truncated(got as u64)));
                }
                let rest = u64::from(size) - wanted as u64 + u64::from(size % 2);
                skip(&mut reader, rest).map_err(|e| fail(WavProblem::Io(e)))?;
                format = Some(parse_format(&bytes[..wanted], size).map_err(fail)?);
            }
            b"data" => {
                let Some(format) = format else {
                    return Err(fail(WavProblem::MissingFormat));
                };
                let declared = (size != UNKNOWN_LENGTH).then_some(u64::from(size));
                let remaining = length.map(|length| length.saturating_sub(reader.read));
                let samples = read_data(&mut reader, format, declared, remaining, MAX_WAV_DURATION)
                    .map_err(|problem| {
                        fail(match problem {
                            DataProblem::Io(error) => WavProblem::Io(error),
                            DataProblem::Truncated(present) => truncated(present),
                            DataProblem::TooLong { seconds } => WavProblem::TooLong {
                                seconds,
                                limit: MAX_WAV_DURATION,
                            },
                        })
                    })?;
                return Ok(WavAudio { format, samples });
            }
            _ => {
                let wanted = u64::from(size) + u64::from(size % 2);
                let skipped = skip(&mut reader, wanted).map_err(|e| fail(WavProblem::Io(e)))?;
                if skipped < u64::from(size) {
                    return Err(fail(truncated(skipped)));
                }
            }
        }
    }
}

/// The format a `fmt ` chunk of `size` bytes describes (`bytes` is its first 40 at most).
fn parse_format(bytes: &[u8], size: u32) -> Result<WavFormat, WavProblem> {
    if bytes.len() < 16 {
        return Err(WavProblem::FormatChunkTooShort(size));
    }
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let mut tag = u16_at(0);
    let channels = u16_at(2);
    let sample_rate = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    let block_align = u16_at(12);
    let bits = u16_at(14);
    if tag == FORMAT_EXTENSIBLE {
        // cbSize (2 bytes), valid bits (2), channel mask (4), then the subformat GUID (16).
        if bytes.len() < 40 {
            return Err(WavProblem::FormatChunkTooShort(size));
        }
        let subformat = u16_at(24);
        if bytes[26..40] != SUBFORMAT_GUID_TAIL {
            return Err(WavProblem::UnsupportedFormat(FORMAT_EXTENSIBLE));
        }
        tag = subformat;
    }
    let encoding = match (tag, bits) {
        (FORMAT_PCM, 8) => SampleEncoding::Unsigned8,
        (FORMAT_PCM, 16) => SampleEncoding::Signed16,
        (FORMAT_PCM, 24) => SampleEncoding::Signed24,
        (FORMAT_PCM, 32) => SampleEncoding::Signed32,
        (FORMAT_FLOAT, 32) => SampleEncoding::Float32,
        (FORMAT_FLOAT, 64) => SampleEncoding::Float64,
        (FORMAT_PCM | FORMAT_FLOAT, bits) => {
            return Err(WavProblem::UnsupportedSampleSize {
                float: tag == FORMAT_FLOAT,
                bits,
            })
        }
        (tag, _) => return Err(WavProblem::UnsupportedFormat(tag)),
    };
    if channels == 0 {
        return Err(WavProblem::NoChannels);
    }
    if !RATES.contains(&sample_rate) {
        return Err(WavProblem::SampleRate(sample_rate));
    }
    let expected = u32::from(channels) * encoding.bytes() as u32;
    if u32::from(block_align) != expected {
        return Err(WavProblem::BlockAlign {
            declared: block_align,
            expected,
        });
    }
    Ok(WavFormat {
        sample_rate,
        channels,
        encoding,
    })
}

enum DataProblem {
    Io(io::Error),
    /// The file ended this many bytes into a chunk that declared more.
    Truncated(u64),
    /// The audio is longer than [`MAX_WAV_DURATION`]: at least this many seconds.
    TooLong {
        seconds: u64,
    },
}

/// Reads the `data` chunk's frames, averages each into one sample and converts them to 16 kHz as
/// they arrive. `declared` is `None` for "to the end"; `remaining`, when known, is how many bytes
/// the file has left; more than `max_duration` (whole seconds) of audio is refused.
fn read_data(
    reader: &mut impl Read,
    format: WavFormat,
    declared: Option<u64>,
    remaining: Option<u64>,
    max_duration: Duration,
) -> Result<Vec<i16>, DataProblem> {
    let frame_bytes = usize::from(format.channels) * format.encoding.bytes();
    let sample_bytes = format.encoding.bytes();
    let max_frames = max_duration.as_secs() * u64::from(format.sample_rate);
    let too_long = |frames: u64| DataProblem::TooLong {
        seconds: frames / u64::from(format.sample_rate),
    };
    // Reserve only what the file really holds (when known); otherwise grow as frames arrive.
    let reserve = match (declared, remaining) {
        (Some(declared), Some(remaining)) => Some(declared.min(remaining)),
        (None, Some(remaining)) => Some(remaining),
        _ => None,
    }
    .map_or(Ok(0), |bytes| {
        let frames = bytes / frame_bytes as u64;
        if frames > max_frames {
            return Err(too_long(frames));
        }
        Ok(output_length(frames, format.sample_rate))
    })?;
    let mut output = Vec::with_capacity(reserve);
    let mut resampler = Resampler::new(format.sample_rate);
    let block = (READ_BLOCK / frame_bytes).max(1) * frame_bytes;
    let mut buffer = vec![0; block];
    let mut mono = Vec::with_capacity(block / frame_bytes);
    let mut left = declared.unwrap_or(u64::MAX);
    let mut total = 0u64;
    let scale = 1.0 / f32::from(format.channels);
    loop {
        let wanted = left.min(block as u64) as usize;
        if wanted == 0 {
            break;
        }
        let got = read_up_to(reader, &mut buffer[..wanted]).map_err(DataProblem::Io)?;
        total += got as u64;
        left -= got as u64;
        let frames = total / frame_bytes as u64;
        if frames > max_frames {
            return Err(too_long(frames));
        }
        mono.clear();
        for frame in buffer[..got - got % frame_bytes].chunks_exact(frame_bytes) {
            let sum: f32 = frame
                .chunks_exact(sample_bytes)
                .map(|sample| format.encoding.decode(sample))
                .sum();
            mono.push(sum * scale);
        }
        resampler.push(&mono, |sample| output.push(quantise(sample)));
        if got < wanted {
            if declared.is_some() {
                return Err(DataProblem::Truncated(total));
            }
            if got % frame_bytes != 0 {
                log::warn!("a WAV file ends inside a frame; the partial frame is dropped");
            }
            break;
        }
        if got % frame_bytes != 0 {
            // Only the last block of a declared length can end inside a frame.
            log::warn!("a WAV data chunk ends inside a frame; the partial frame is dropped");
        }
    }
    resampler.finish(|sample| output.push(quantise(sample)));
    Ok(output)
}

/// Fills as much of `buffer` as the reader has, stopping only at its end; how much was filled.
fn read_up_to(reader: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// Reads past `bytes` bytes, or to the end; how many were passed.
fn skip(reader: &mut impl Read, bytes: u64) -> io::Result<u64> {
    io::copy(&mut reader.take(bytes), &mut io::sink())
}

/// A reader that counts the bytes read through it, to know how much of a file is left.
struct Counting<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buffer)?;
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A RIFF/WAVE file of these chunks, each padded to an even length.
    fn riff(chunks: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
        let mut body = b"WAVE".to_vec();
        for (id, bytes) in chunks {
            body.extend_from_slice(*id);
            body.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            body.extend_from_slice(bytes);
            if bytes.len() % 2 == 1 {
                body.push(0);
            }
        }
        let mut file = b"RIFF".to_vec();
        file.extend_from_slice(&(body.len() as u32).to_le_bytes());
        file.extend(body);
        file
    }

    /// A 16-byte `fmt ` chunk's content.
    fn fmt(tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
        let align = channels * bits / 8;
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&tag.to_le_bytes());
        bytes.extend_from_slice(&channels.to_le_bytes());
        bytes.extend_from_slice(&rate.to_le_bytes());
        bytes.extend_from_slice(&(rate * u32::from(align)).to_le_bytes());
        bytes.extend_from_slice(&align.to_le_bytes());
        bytes.extend_from_slice(&bits.to_le_bytes());
        bytes
    }

    /// A 40-byte `WAVE_FORMAT_EXTENSIBLE` chunk's content with `subformat` as its GUID's tag.
    fn extensible(subformat: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
        let mut bytes = fmt(FORMAT_EXTENSIBLE, channels, rate, bits);
        bytes.extend_from_slice(&22u16.to_le_bytes());
        bytes.extend_from_slice(&bits.to_le_bytes());
        bytes.extend_from_slice(&0x3u32.to_le_bytes());
        bytes.extend_from_slice(&subformat.to_le_bytes());
        bytes.extend_from_slice(&SUBFORMAT_GUID_TAIL);
        bytes
    }

    fn read(bytes: &[u8]) -> Result<WavAudio, Error> {
        WavAudio::from_reader("test.wav", bytes)
    }

    fn samples(bytes: &[u8]) -> Vec<i16> {
        read(bytes).unwrap().samples
    }

    fn error(bytes: &[u8]) -> String {
        read(bytes).unwrap_err().to_string()
    }

    fn le16(values: &[i16]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    const VALUES: [i16; 6] = [0, 1, -1, 12345, 32767, -32768];

    #[test]
    fn every_sample_encoding_reads_right_at_16khz_mono() {
        let pcm16 = le16(&VALUES);
        let pcm24: Vec<u8> = VALUES
            .iter()
            .flat_map(|&v| (i32::from(v) << 8).to_le_bytes()[..3].to_vec())
            .collect();
        let pcm32: Vec<u8> = VALUES
            .iter()
            .flat_map(|&v| (i32::from(v) << 16).to_le_bytes())
            .collect();
        let float32: Vec<u8> = VALUES
            .iter()
            .flat_map(|&v| (f32::from(v) / 32768.0).to_le_bytes())
            .collect();
        let float64: Vec<u8> = VALUES
            .iter()
            .flat_map(|&v| (f64::from(v) / 32768.0).to_le_bytes())
            .collect();
        for (name, format, data) in [
            ("16-bit", fmt(1, 1, 16_000, 16), &pcm16),
            ("24-bit", fmt(1, 1, 16_000, 24), &pcm24),
            ("32-bit", fmt(1, 1, 16_000, 32), &pcm32),
            ("float", fmt(3, 1, 16_000, 32), &float32),
            ("double", fmt(3, 1, 16_000, 64), &float64),
            ("extensible 16-bit", extensible(1, 1, 16_000, 16), &pcm16),
            ("extensible 24-bit", extensible(1, 1, 16_000, 24), &pcm24),
            ("extensible float", extensible(3, 1, 16_000, 32), &float32),
        ] {
            let wav = riff(&[(b"fmt ", &format), (b"data", data)]);
            assert_eq!(samples(&wav), VALUES, "{name}");
        }
        let pcm8 = riff(&[
            (b"fmt ", &fmt(1, 1, 16_000, 8)),
            (b"data", &[128, 255, 0, 192]),
        ]);
        assert_eq!(samples(&pcm8), [0, 32512, -32768, 16384]);
    }

    #[test]
    fn the_format_is_reported_as_the_file_says() {
        let wav = riff(&[(b"fmt ", &extensible(3, 2, 44_100, 32)), (b"data", &[0; 8])]);
        let format = read(&wav).unwrap().format;
        assert_eq!(
            format,
            WavFormat {
                sample_rate: 44_100,
                channels: 2,
                encoding: SampleEncoding::Float32
            }
        );
    }

    #[test]
    fn channels_are_averaged_into_one() {
        let stereo = le16(&[1000, 3000, -2, 0, 32767, 32767]);
        let wav = riff(&[(b"fmt ", &fmt(1, 2, 16_000, 16)), (b"data", &stereo)]);
        assert_eq!(samples(&wav), [2000, -1, 32767]);
        let three = le16(&[3, 6, 9, 300, 300, 300]);
        let wav = riff(&[(b"fmt ", &fmt(1, 3, 16_000, 16)), (b"data", &three)]);
        assert_eq!(samples(&wav), [6, 300]);
    }

    #[test]
    fn other_rates_are_resampled_to_16khz() {
        let stereo_48k = le16(&[0; 4800 * 2]);
        let wav = riff(&[(b"fmt ", &fmt(1, 2, 48_000, 16)), (b"data", &stereo_48k)]);
        let audio = read(&wav).unwrap();
        assert_eq!(audio.samples.len(), 1600);
        assert_eq!(audio.duration(), Duration::from_millis(100));
    }

    #[test]
    fn chunks_before_between_and_after_are_skipped_with_their_pad_bytes() {
        let data = le16(&VALUES);
        let mut long_fmt = fmt(1, 1, 16_000, 16);
        long_fmt.extend_from_slice(&[0, 0, 0]); // cbSize and one odd byte: 19 bytes, padded
        let wav = riff(&[
            (b"LIST", b"INFOISFT\x05\x00\x00\x00Lavf\x00"),
            (b"fmt ", &long_fmt),
            (b"junk", b"odd"),
            (b"data", &data),
            (b"LIST", b"after the data"),
        ]);
        assert_eq!(samples(&wav), VALUES);
    }

    #[test]
    fn an_odd_sized_data_chunk_keeps_its_whole_frames() {
        let mut data = le16(&[7, 8]);
        data.push(9);
        let wav = riff(&[(b"fmt ", &fmt(1, 1, 16_000, 16)), (b"data", &data)]);
        assert_eq!(samples(&wav), [7, 8]);
    }

    #[test]
    fn a_streamed_data_length_reads_to_the_end_of_the_file() {
        let mut wav = riff(&[(b"fmt ", &fmt(1, 1, 16_000, 16)), (b"data", &le16(&VALUES))]);
        let data_length_at = wav.len() - VALUES.len() * 2 - 4;
        wav[data_length_at..data_length_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        wav[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(samples(&wav), VALUES);
    }

    #[test]
    fn a_file_is_read_from_disk_and_a_missing_one_is_named() {
        let path = std::env::temp_dir().join(format!("mdr-wav-{}.wav", std::process::id()));
        let wav = riff(&[(b"fmt ", &fmt(1, 1, 16_000, 16)), (b"data", &le16(&VALUES))]);
        std::fs::write(&path, wav).unwrap();
        let audio = WavAudio::open(&path);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(audio.unwrap().samples, VALUES);
        let error = WavAudio::open(&path).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with(&format!("{}: cannot read: ", path.display())),
            "{error}"
        );
        assert!(std::error::Error::source(&error).is_some());
    }

    #[test]
    fn bad_files_are_errors_naming_the_file_and_the_problem() {
        let pcm = fmt(1, 1, 16_000, 16);
        let data = le16(&VALUES);
        let mut bad_align = pcm.clone();
        bad_align[12] = 3;
        let mut bad_guid = extensible(1, 1, 16_000, 16);
        bad_guid[39] = 0;
        let mut not_wave = riff(&[(b"fmt ", &pcm), (b"data", &data)]);
        not_wave[8..12].copy_from_slice(b"AVI ");
        let mut truncated = riff(&[(b"fmt ", &pcm), (b"data", &data)]);
        truncated.truncate(truncated.len() - 3);
        for (bytes, expected) in [
            (Vec::new(), "not a WAV file (no RIFF header)"),
            (b"RIFX\x00\x00\x00\x24WAVE".to_vec(), "a RIFX file (big-endian WAV) is not read: convert it to RIFF (little-endian) WAVE"),
            (b"RF64\xff\xff\xff\xffWAVE".to_vec(), "an RF64 file (WAV over 4 GiB) is not read: convert it to RIFF WAVE"),
            (b"ID3\x04 an mp3 file".to_vec(), "not a WAV file (no RIFF header)"),
            (b"RIFF\x04\x00".to_vec(), "truncated: the RIFF header should hold 12 bytes, the file ends after 6"),
            (not_wave, "not a WAV file (a RIFF file of kind \"AVI \", not WAVE)"),
            (
                riff(&[(b"fmt ", &fmt(2, 1, 16_000, 4)), (b"data", &data)]),
                "unsupported sample format 0x0002 (MS ADPCM): only uncompressed PCM and IEEE float are read; convert it to PCM first",
            ),
            (
                riff(&[(b"fmt ", &fmt(0x55, 1, 16_000, 0)), (b"data", &data)]),
                "unsupported sample format 0x0055 (MP3): only uncompressed PCM and IEEE float are read; convert it to PCM first",
            ),
            (
                riff(&[(b"fmt ", &bad_guid), (b"data", &data)]),
                "unsupported sample format 0xFFFE: only uncompressed PCM and IEEE float are read; convert it to PCM first",
            ),
            (
                riff(&[(b"fmt ", &fmt(1, 1, 16_000, 12)), (b"data", &data)]),
                "unsupported 12-bit integer samples: only 8, 16, 24 and 32 bits are read",
            ),
            (
                riff(&[(b"fmt ", &fmt(3, 1, 16_000, 16)), (b"data", &data)]),
                "unsupported 16-bit floating-point samples: only 32 and 64 bits are read",
            ),
            (riff(&[(b"fmt ", &fmt(1, 0, 16_000, 16)), (b"data", &data)]), "the format says 0 channels"),
            (
                riff(&[(b"fmt ", &fmt(1, 1, 0, 16)), (b"data", &data)]),
                "a sample rate of 0 Hz is not audio: expected 1000 to 1000000 Hz",
            ),
            (
                riff(&[(b"fmt ", &fmt(1, 1, 2_000_000, 16)), (b"data", &data)]),
                "a sample rate of 2000000 Hz is not audio: expected 1000 to 1000000 Hz",
            ),
            (
                riff(&[(b"fmt ", &bad_align), (b"data", &data)]),
                "the format says 3 bytes per frame, but its channels and sample size make 2",
            ),
            (riff(&[(b"fmt ", &pcm[..14]), (b"data", &data)]), "the fmt chunk is too short (14 bytes)"),
            (riff(&[(b"data", &data), (b"fmt ", &pcm)]), "no fmt chunk before the data"),
            (riff(&[(b"LIST", b"only a list")]), "no fmt chunk before the data"),
            (riff(&[(b"fmt ", &pcm)]), "no data chunk"),
            (truncated, "truncated: the \"data\" chunk should hold 12 bytes, the file ends after 9"),
        ] {
            assert_eq!(error(&bytes), format!("test.wav: {expected}"));
        }
    }

    #[test]
    fn audio_longer_than_the_limit_is_refused_before_or_while_it_is_read() {
        let format = WavFormat {
            sample_rate: 1_000,
            channels: 1,
            encoding: SampleEncoding::Unsigned8,
        };
        let limit = Duration::from_secs(2);
        let read = |bytes: &[u8], declared, remaining| match read_data(
            &mut &bytes[..],
            format,
            declared,
            remaining,
            limit,
        ) {
            Ok(samples) => Ok(samples.len()),
            Err(DataProblem::TooLong { seconds }) => Err(seconds),
            Err(_) => panic!("another problem"),
        };
        let two_seconds = [128u8; 2_000];
        assert_eq!(read(&two_seconds, Some(2_000), Some(2_000)), Ok(32_000));
        let three_seconds = [128u8; 3_000];
        // Its length known, it is refused before a byte is read: this reader fails if read.
        struct Unread;
        impl Read for Unread {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("read although the length says too long"))
            }
        }
        for declared in [Some(3_000), None] {
            match read_data(&mut Unread, format, declared, Some(3_000), limit) {
                Err(DataProblem::TooLong { seconds }) => assert_eq!(seconds, 3),
                _ => panic!("not refused before reading"),
            }
        }
        // Streamed with no length, it is refused once a block read passes the limit (before that
        // block is converted), with as much as was read by then.
        assert_eq!(read(&three_seconds, None, None), Err(3));
        let ten_seconds = vec![128u8; 10 * READ_BLOCK];
        assert!(matches!(read(&ten_seconds, None, None), Err(seconds) if seconds < 100));
        let error = WavError {
            path: "long.wav".into(),
            problem: WavProblem::TooLong {
                seconds: 4_000,
                limit: MAX_WAV_DURATION,
            },
        };
        assert_eq!(
            error.to_string(),
            "long.wav: the audio is 4000 s long; at most 3600 s are read"
        );
    }

    #[test]
    fn non_finite_float_samples_are_read_as_silence() {
        let data: Vec<u8> = [0.5f32, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let wav = riff(&[(b"fmt ", &fmt(3, 1, 16_000, 32)), (b"data", &data)]);
        assert_eq!(samples(&wav), [16384, 0, 0, 0, -16384]);
    }

    #[test]
    fn an_empty_data_chunk_is_no_audio() {
        let wav = riff(&[(b"fmt ", &fmt(1, 1, 44_100, 16)), (b"data", &[])]);
        assert_eq!(samples(&wav), Vec::<i16>::new());
    }

    #[test]
    fn lengths_in_headers_are_not_trusted_for_memory() {
        let pcm = fmt(1, 1, 16_000, 16);
        // A data chunk claiming almost 4 GiB with 4 bytes present: an error, not a huge reservation.
        let mut huge = riff(&[(b"fmt ", &pcm), (b"data", &[1, 0, 2, 0])]);
        let at = huge.len() - 8;
        huge[at..at + 4].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        assert_eq!(
            error(&huge),
            "test.wav: truncated: the \"data\" chunk should hold 4294967280 bytes, the file ends after 4"
        );
        // So is an unknown chunk claiming as much before any data.
        let mut list = riff(&[(b"fmt ", &pcm), (b"LIST", b"xx")]);
        let at = list.len() - 6;
        list[at..at + 4].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        assert_eq!(
            error(&list),
            "test.wav: truncated: the \"LIST\" chunk should hold 4294967280 bytes, the file ends after 2"
        );
    }
}
