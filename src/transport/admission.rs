//! A server's peer limit: the places peers hold, taken when a connection is ready to be served
//! and given back as soon as its peer has stopped sending.
//!
//! A place freed a moment after the next peer arrives must not turn that peer away: a client
//! that connects, sends and closes in a loop is never over the limit, though each connection's
//! end is still being written out while the next arrives. So a server at its limit waits a short
//! while ([`GRACE`]) for a place before it refuses, and a connection gives its place back when its
//! reader sees the end, not when its writer is done.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{select, Receiver, Sender};

use crate::hub::StopSignal;

/// How long a server at its limit waits for a place before it refuses a peer.
pub(crate) const GRACE: Duration = Duration::from_millis(250);

/// The places of one server.
pub(crate) struct PeerPlaces {
    taken: AtomicUsize,
    limit: usize,
    /// Rung when a place is given back, for a server waiting for one.
    freed: Sender<()>,
    freed_rung: Receiver<()>,
}

/// One peer's place, given back when dropped, however its connection ends.
pub(crate) struct Place(Arc<PeerPlaces>);

impl PeerPlaces {
    pub(crate) fn new(limit: usize) -> Arc<PeerPlaces> {
        let (freed, freed_rung) = crossbeam_channel::bounded(1);
        Arc::new(PeerPlaces {
            taken: AtomicUsize::new(0),
            limit,
            freed,
            freed_rung,
        })
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// A place now, if one is free.
    pub(crate) fn try_take(self: &Arc<Self>) -> Option<Place> {
        self.taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |taken| {
                (taken < self.limit).then_some(taken + 1)
            })
            .ok()
            .map(|_| Place(Arc::clone(self)))
    }

    /// A place, waiting up to [`GRACE`] for one to be given back; `None` if none was, or if the
    /// host is shutting down.
    pub(crate) fn take(self: &Arc<Self>, stop: &StopSignal) -> Option<Place> {
        let deadline = crossbeam_channel::after(GRACE);
        loop {
            if let Some(place) = self.try_take() {
                return Some(place);
            }
            select! {
                recv(self.freed_rung) -> _ => {}
                recv(stop.receiver()) -> _ => return None,
                recv(deadline) -> _ => return self.try_take(),
            }
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.0.taken.fetch_sub(1, Ordering::AcqRel);
        let _ = self.0.freed.try_send(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_place_given_back_within_the_grace_is_taken_and_none_is_refused_after_it() {
        let (_trigger, stop) = StopSignal::new();
        let places = PeerPlaces::new(1);
        let held = places.take(&stop).expect("a free place");
        assert!(places.try_take().is_none(), "the limit holds");
        let giving_back = std::thread::spawn(move || {
            std::thread::sleep(GRACE / 5);
            drop(held);
        });
        let waited = Instant::now();
        let again = places.take(&stop).expect("the place given back");
        assert!(waited.elapsed() < GRACE, "{:?}", waited.elapsed());
        giving_back.join().unwrap();
        let waited = Instant::now();
        assert!(places.take(&stop).is_none(), "nothing given back");
        assert!(waited.elapsed() >= GRACE);
        drop(again);
        assert!(places.try_take().is_some());
    }

    #[test]
    fn shutting_down_ends_the_wait_at_once() {
        let (trigger, stop) = StopSignal::new();
        let places = PeerPlaces::new(0);
        drop(trigger);
        let waited = Instant::now();
        assert!(places.take(&stop).is_none());
        assert!(waited.elapsed() < GRACE);
    }
}
