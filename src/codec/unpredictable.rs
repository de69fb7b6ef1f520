//! Unpredictable numbers without a dependency, for WebSocket masking keys and retry jitter: a
//! counter, started from the clock and the instance's number, hashed with the standard library's
//! keyed hash (SipHash, with keys random per process). Seeing earlier numbers tells nothing of
//! the next, and two sources started together draw apart.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of unpredictable `u64`s.
#[derive(Debug)]
pub(crate) struct Unpredictable {
    secret: RandomState,
    counter: u64,
}

impl Unpredictable {
    /// A new sequence, apart from every other instance's.
    pub(crate) fn new() -> Self {
        static INSTANCES: AtomicU64 = AtomicU64::new(0);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as u64);
        Unpredictable {
            secret: RandomState::new(),
            counter: now ^ INSTANCES.fetch_add(1, Ordering::Relaxed).rotate_left(32),
        }
    }

    /// The next number.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.counter = self.counter.wrapping_add(1);
        self.secret.hash_one(self.counter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_differ_between_draws_and_instances() {
        let mut source = Unpredictable::new();
        let drawn: std::collections::HashSet<u64> = (0..1000).map(|_| source.next_u64()).collect();
        assert_eq!(drawn.len(), 1000);
        let (mut a, mut b) = (Unpredictable::new(), Unpredictable::new());
        assert_ne!(a.next_u64(), b.next_u64());
    }
}
