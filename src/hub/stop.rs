//! The stop signal: every library thread waits on it, among its other waits, to learn that the host
//! shut down.

use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};

/// The library's threads wait on this to learn that the host shut down: the sender is never used,
/// only dropped, which wakes every receiver at once.
#[derive(Clone)]
pub(crate) struct StopSignal(Receiver<()>);

impl StopSignal {
    pub(crate) fn new() -> (Sender<()>, StopSignal) {
        let (trigger, signal) = crossbeam_channel::bounded(0);
        (trigger, StopSignal(signal))
    }

    pub(crate) fn is_stopped(&self) -> bool {
        matches!(self.0.try_recv(), Err(TryRecvError::Disconnected))
    }

    /// Sleeps for `duration` unless stopped first; returns whether it was stopped.
    pub(crate) fn sleep(&self, duration: Duration) -> bool {
        matches!(
            self.0.recv_timeout(duration),
            Err(RecvTimeoutError::Disconnected)
        )
    }

    /// The channel itself, to wait on together with others in `select!`.
    pub(crate) fn receiver(&self) -> &Receiver<()> {
        &self.0
    }
}
