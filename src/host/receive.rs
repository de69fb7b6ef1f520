//! Receiving events one at a time: the errors of [`Remote::recv`] and its kin, and the iterator of
//! [`Remote::events`]. The library's own types, so that the public API names no dependency's.

use std::fmt;

use crate::host::Remote;
use crate::hub::Event;

/// [`Remote::recv`] failed: the library has shut down and every event was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError;

/// Why [`Remote::try_recv`] returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// No event is waiting now.
    Empty,
    /// The library has shut down and every event was taken.
    Disconnected,
}

/// Why [`Remote::recv_timeout`] returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvTimeoutError {
    /// No event came in time.
    Timeout,
    /// The library has shut down and every event was taken.
    Disconnected,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no more events: the library has shut down")
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("no event is waiting"),
            TryRecvError::Disconnected => RecvError.fmt(f),
        }
    }
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvTimeoutError::Timeout => f.write_str("no event came in time"),
            RecvTimeoutError::Disconnected => RecvError.fmt(f),
        }
    }
}

impl std::error::Error for RecvError {}
impl std::error::Error for TryRecvError {}
impl std::error::Error for RecvTimeoutError {}

/// Every event of a [`Remote`], waiting for each, until the library shuts down.
#[derive(Debug)]
pub struct Events<'r> {
    remote: &'r Remote,
}

impl<'r> Events<'r> {
    pub(crate) fn new(remote: &'r Remote) -> Self {
        Events { remote }
    }
}

impl Iterator for Events<'_> {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        self.remote.recv().ok()
    }
}
