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
            Error::Setting(setting) => setting.fmt(f),
            Error::InvalidMessage(why) => write!(f, "invalid message: {why}"),
            Error::Bind { address, source } => write!(f, "cannot listen on {address}: {source}"),
            Error::NoSuchPeer(peer) => write!(f, "{peer} is not connected"),
            Error::Dropped { peer, cause } => write!(f, "not sent to {peer}: {cause}"),
            Error::Spawn(source) => write!(f, "cannot start a thread: {source}"),
            Error::ThreadPanicked(names) => write!(f, "library threads panicked: {names}"),
            Error::Unsupported(what) => write!(f, "unsupported: {what}"),
            Error::Tls(what) => write!(f, "TLS: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::ReadSettings { source, .. }
            | Error::Bind { source, .. }
            | Error::Spawn(source) => Some(source),
            Error::Setting(_)
            | Error::InvalidMessage(_)
            | Error::NoSuchPeer(_)
            | Error::Dropped { .. }
            | Error::ThreadPanicked(_)
            | Error::Unsupported(_)
            | Error::Tls(_) => None,
        }
    }
}

impl From<EncodeError> for Error {
    fn from(error: EncodeError) -> Self {
        Error::InvalidMessage(error.to_string())
    }
}

impl From<SettingError> for Error {
    fn from(setting: SettingError) -> Self {
        Error::Setting(Box::new(setting))
    }
}
