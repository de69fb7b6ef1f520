//! The crate's one error type.
//!
//! Every fallible public function returns [`Error`]. Variants carry what a user needs to act on the
//! failure (the file, line and key of a bad setting; the path of an unreadable file) and keep their
//! payloads boxed so that `Result<T, Error>` stays small on the hot paths.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::codec::EncodeError;
use std::sync::Arc;

use crate::hub::{DropCause, PeerId};

/// Where a setting was written: a file (or other named source) and a 1-based line number.
///
/// Settings given on a command line use the source name `--set` and the position of the option
/// among the overrides as the line number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    /// The file name, or a name for a source that is not a file.
    pub source: Arc<str>,
    /// The line number, counting from 1.
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.source, self.line)
    }
}

/// Everything that can go wrong in this crate.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A settings (`.mdf`) file could not be read.
    ReadSettings {
        /// The file that was asked for.
        path: PathBuf,
        /// Why reading it failed.
        source: io::Error,
    },
    /// A setting has a value that cannot be used, or conflicts with another setting.
    Setting(Box<SettingError>),
    /// A file other than settings could not be read (a CA certificate, a TLS certificate or key).
    ReadFile {
        /// What the file was to hold, in words (`the CA file`).
        what: &'static str,
        /// The file that was asked for.
        path: PathBuf,
        /// Why reading it failed.
        source: io::Error,
    },
    /// A message cannot be encoded for the wire (for example, it contains a newline).
    InvalidMessage(String),
    /// A server could not listen on its address (in use, or not this machine's).
    Bind {
        /// The address asked for.
        address: SocketAddr,
        /// Why binding failed.
        source: io::Error,
    },
    /// The peer is not connected (any more).
    NoSuchPeer(PeerId),
    /// The message was not queued for the peer, and is counted in [`Stats`](crate::Stats).
    Dropped {
        /// The peer it was for.
        peer: PeerId,
        /// Why it was not queued.
        cause: DropCause,
    },
    /// The operating system would not start a thread.
    Spawn(io::Error),
    /// A thread of the library panicked; the names of the threads.
    ThreadPanicked(String),
    /// The configuration asks for something this build cannot do.
    Unsupported(String),
    /// TLS could not be set up (a certificate or key that cannot be used).
    Tls(String),
    /// A WAV file cannot be read as audio: which file, and what is wrong with it.
    Wav(Box<WavError>),
    /// Audio, or options for sending it, that cannot be used (a chunk size over 4,096 bytes, a
    /// sample rate of 0); what is wrong.
    InvalidAudio(String),
}

/// A setting that cannot be used: where it was written, what it says, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    /// Where the offending line is.
    pub origin: Origin,
    /// The key as it was written.
    pub key: String,
    /// The value as it was written (trailing white space already stripped).
    pub value: String,
    /// What is wrong, in words meant for the person who wrote the file.
    pub problem: String,
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}={}: {}",
            self.origin, self.key, self.value, self.problem
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ReadSettings { path, source } => {
                write!(f, "cannot read settings file {}: {source}", path.display())
            }
            Error::ReadFile { what, path, source } => {
                write!(f, "cannot read {what} {}: {source}", path.display())
            }
            Error::Setting(setting) => setting.fmt(f),
            Error::InvalidMessage(why) => write!(f, "invalid message: {why}"),
            Error::Bind { address, source } => write!(f, "cannot listen on {address}: {source}"),
            Error::NoSuchPeer(peer) => write!(f, "{peer} is not connected"),
            Error::Dropped { peer, cause } => write!(f, "not sent to {peer}: {cause}"),
            Error::Spawn(source) => write!(f, "cannot start a thread: {source}"),
            Error::ThreadPanicked(names) => write!(f, "library threads panicked: {names}"),
            Error::Unsupported(what) => write!(f, "unsupported: {what}"),
            Error::Tls(what) => write!(f, "TLS: {what}"),
            Error::Wav(wav) => wav.fmt(f),
            Error::InvalidAudio(what) => write!(f, "invalid audio: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::ReadSettings { source, .. }
            | Error::ReadFile { source, .. }
            | Error::Bind { source, .. }
            | Error::Spawn(source) => Some(source),
            Error::Setting(_)
            | Error::InvalidMessage(_)
            | Error::NoSuchPeer(_)
            | Error::Dropped { .. }
            | Error::ThreadPanicked(_)
            | Error::Unsupported(_)
            | Error::Tls(_)
            | Error::InvalidAudio(_) => None,
            Error::Wav(wav) => wav.io_error().map(|io| io as _),
        }
    }
}

impl From<EncodeError> for Error {
    fn from(error: EncodeError) -> Self {
        Error::InvalidMessage(error.to_string())
    }
}

/// A WAV file that cannot be read as audio: which file, and what is wrong with it.
///
/// Shown as `<file>: <problem>`, for example `voice.wav: not a WAV file (no RIFF header)`.
#[derive(Debug)]
#[non_exhaustive]
pub struct WavError {
    /// The file, or the name given for audio read from elsewhere.
    pub path: PathBuf,
    /// What is wrong.
    pub problem: WavProblem,
}

/// What is wrong with a WAV file.
#[derive(Debug)]
#[non_exhaustive]
pub enum WavProblem {
    /// It could not be opened or read.
    Io(io::Error),
    /// It does not start with `RIFF`.
    NotRiff,
    /// It is a variant of RIFF this crate does not read: `RIFX` (big-endian) or `RF64` (64-bit
    /// lengths); the four bytes it starts with.
    UnsupportedRiff([u8; 4]),
    /// It is a RIFF file of another kind than `WAVE` (the kind it says).
    NotWave([u8; 4]),
    /// Its samples are in a format this crate does not decode (a compressed one, such as ADPCM or
    /// MP3): the format tag.
    UnsupportedFormat(u16),
    /// Its samples are of a size this crate does not decode for their format.
    UnsupportedSampleSize {
        /// Whether the samples are floating point.
        float: bool,
        /// Bits per sample.
        bits: u16,
    },
    /// The `fmt ` chunk says there are no channels.
    NoChannels,
    /// The sample rate is outside 1,000 to 1,000,000 Hz.
    SampleRate(u32),
    /// The bytes per frame do not match the channels and the sample size.
    BlockAlign {
        /// What the `fmt ` chunk says.
        declared: u16,
        /// Channels times bytes per sample.
        expected: u32,
    },
    /// The `fmt ` chunk is shorter than its format needs: its length in bytes.
    FormatChunkTooShort(u32),
    /// No `fmt ` chunk comes before the `data` chunk.
    MissingFormat,
    /// There is no `data` chunk.
    MissingData,
    /// The audio plays longer than the most this crate reads,
    /// [`MAX_WAV_DURATION`](crate::MAX_WAV_DURATION).
    TooLong {
        /// How long it plays, in whole seconds (or at least, if its length was not known).
        seconds: u64,
        /// The most that is read.
        limit: std::time::Duration,
    },
    /// The file ends inside a chunk.
    Truncated {
        /// What was cut short: `"data" chunk`, `"fmt " chunk`, `RIFF header`.
        part: String,
        /// How many bytes the chunk says it holds.
        declared: u64,
        /// How many of them are there.
        present: u64,
    },
}

impl WavError {
    /// The I/O error underneath, if that is what went wrong.
    pub fn io_error(&self) -> Option<&io::Error> {
        match &self.problem {
            WavProblem::Io(error) => Some(error),
            _ => None,
        }
    }
}

impl fmt::Display for WavError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.problem)
    }
}

impl std::error::Error for WavError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.io_error().map(|io| io as _)
    }
}

impl fmt::Display for WavProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WavProblem::Io(error) => write!(f, "cannot read: {error}"),
            WavProblem::NotRiff => f.write_str("not a WAV file (no RIFF header)"),
            WavProblem::UnsupportedRiff([b'R', b'I', b'F', b'X']) => f.write_str(
                "a RIFX file (big-endian WAV) is not read: convert it to RIFF (little-endian) WAVE",
            ),
            WavProblem::UnsupportedRiff(_) => {
                f.write_str("an RF64 file (WAV over 4 GiB) is not read: convert it to RIFF WAVE")
            }
            WavProblem::NotWave(kind) => write!(
                f,
                "not a WAV file (a RIFF file of kind {:?}, not WAVE)",
                String::from_utf8_lossy(kind)
            ),
            WavProblem::UnsupportedFormat(tag) => {
                let name = match tag {
                    0x0002 => " (MS ADPCM)",
                    0x0006 => " (A-law)",
                    0x0007 => " (mu-law)",
                    0x0011 => " (IMA ADPCM)",
                    0x0055 => " (MP3)",
                    _ => "",
                };
                write!(
                    f,
                    "unsupported sample format 0x{tag:04X}{name}: only uncompressed PCM and IEEE \
                     float are read; convert it to PCM first"
                )
            }
            WavProblem::UnsupportedSampleSize { float, bits } => {
                let (kind, sizes) = if *float {
                    ("floating-point", "32 and 64")
                } else {
                    ("integer", "8, 16, 24 and 32")
                };
                write!(f, "unsupported {bits}-bit {kind} samples: only {sizes} bits are read")
            }
            WavProblem::NoChannels => f.write_str("the format says 0 channels"),
            WavProblem::SampleRate(rate) => write!(
                f,
                "a sample rate of {rate} Hz is not audio: expected 1000 to 1000000 Hz"
            ),
            WavProblem::BlockAlign { declared, expected } => write!(
                f,
                "the format says {declared} bytes per frame, but its channels and sample size make {expected}"
            ),
            WavProblem::FormatChunkTooShort(length) => {
                write!(f, "the fmt chunk is too short ({length} bytes)")
            }
            WavProblem::MissingFormat => f.write_str("no fmt chunk before the data"),
            WavProblem::MissingData => f.write_str("no data chunk"),
            WavProblem::TooLong { seconds, limit } => write!(
                f,
                "the audio is {seconds} s long; at most {} s are read",
                limit.as_secs()
            ),
            WavProblem::Truncated {
                part,
                declared,
                present,
            } => write!(
                f,
                "truncated: the {part} should hold {declared} bytes, the file ends after {present}"
            ),
        }
    }
}

impl From<WavError> for Error {
    fn from(wav: WavError) -> Self {
        Error::Wav(Box::new(wav))
    }
}

impl From<SettingError> for Error {
    fn from(setting: SettingError) -> Self {
        Error::Setting(Box::new(setting))
    }
}
