//! The pauses of the reconnect loop: exponential backoff with "equal jitter" after a
//! [`RetryPolicy`]. The `n`-th pause is drawn between half and all of
//! `min(interval × 2^(n-1), longest)`; the count starts again once a link has stayed up for the
//! longest pause.
//!
//! Randomness comes from [`Unpredictable`], as the WebSocket mask keys do: no dependency, and two
//! agents started together draw apart. The schedule itself ([`pause`]) takes its random number as an
//! argument, so it is tested without chance.

use std::time::Duration;

use crate::codec::unpredictable::Unpredictable;
use crate::config::RetryPolicy;

/// One client's pauses between attempts.
pub(crate) struct Backoff {
    /// Pauses taken since the last link that stayed up.
    taken: u32,
    random: Unpredictable,
}

impl Backoff {
    pub(crate) fn new() -> Self {
        Backoff {
            taken: 0,
            random: Unpredictable::new(),
        }
    }

    /// The next pause, which grows the one after it.
    pub(crate) fn next(&mut self, policy: &RetryPolicy) -> Duration {
        let pause = pause(policy, self.taken, self.random.next_u64());
        self.taken = self.taken.saturating_add(1);
        pause
    }

    /// A link stayed up for `lasted`: if that is long enough, the pauses start again from the
    /// first. Returns whether they did.
    pub(crate) fn link_lasted(&mut self, policy: &RetryPolicy, lasted: Duration) -> bool {
        let stable = lasted >= policy.longest_pause();
        if stable {
            self.taken = 0;
        }
        stable
    }
}

/// The pause after `taken` earlier ones, for a random number `random` (any `u64`, uniform):
/// between half and all of the ceiling `min(interval × 2^taken, longest)`.
pub(crate) fn pause(policy: &RetryPolicy, taken: u32, random: u64) -> Duration {
    let longest = policy.longest_pause();
    let ceiling = policy
        .interval
        .checked_mul(1u32.checked_shl(taken).unwrap_or(u32::MAX))
        .map_or(longest, |grown| grown.min(longest));
    let half = ceiling.as_nanos() / 2;
    let drawn = ((ceiling.as_nanos() - half) * u128::from(random)) >> 64;
    let nanos = u64::try_from(half + drawn).unwrap_or(u64::MAX);
    Duration::from_nanos(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RetryLimit;

    fn policy(interval_ms: u64, max_ms: u64) -> RetryPolicy {
        let mut policy = RetryPolicy::new(RetryLimit::Forever);
        policy.interval = Duration::from_millis(interval_ms);
        policy.max_interval = Duration::from_millis(max_ms);
        policy
    }

    const LOWEST: u64 = 0;
    const HIGHEST: u64 = u64::MAX;

    #[test]
    fn pauses_lie_between_half_and_all_of_a_doubling_ceiling() {
        let policy = policy(500, 30_000);
        let ceilings = [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000];
        for (taken, ceiling) in ceilings.into_iter().enumerate() {
            let taken = taken as u32;
            let low = pause(&policy, taken, LOWEST);
            let high = pause(&policy, taken, HIGHEST);
            assert_eq!(low, Duration::from_millis(ceiling / 2), "pause {taken}");
            assert!(high <= Duration::from_millis(ceiling), "pause {taken}");
            assert!(
                Duration::from_millis(ceiling) - high < Duration::from_micros(1),
                "pause {taken}: {high:?}"
            );
            let middle = pause(&policy, taken, HIGHEST / 2);
            assert!(low < middle && middle < high);
        }
    }

    #[test]
    fn the_ceiling_never_passes_the_longest_pause_however_many_failed() {
        let policy = policy(500, 30_000);
        for taken in [20, 31, 32, 64, u32::MAX] {
            assert!(pause(&policy, taken, HIGHEST) <= Duration::from_secs(30));
            assert_eq!(pause(&policy, taken, LOWEST), Duration::from_secs(15));
        }
    }

    #[test]
    fn a_longest_pause_below_the_interval_counts_as_the_interval() {
        let policy = policy(500, 100);
        for taken in 0..5 {
            assert_eq!(pause(&policy, taken, LOWEST), Duration::from_millis(250));
        }
    }

    #[test]
    fn the_schedule_grows_and_starts_again_after_a_link_that_stayed_up() {
        let policy = policy(100, 1600);
        let mut backoff = Backoff::new();
        let ceilings: Vec<Duration> = (0..6).map(|_| backoff.next(&policy)).collect();
        for (taken, pause) in ceilings.iter().enumerate() {
            let ceiling = Duration::from_millis((100 << taken).min(1600));
            assert!(
                *pause >= ceiling / 2 && *pause <= ceiling,
                "{taken}: {pause:?}"
            );
        }
        assert!(!backoff.link_lasted(&policy, Duration::from_millis(1599)));
        assert!(
            backoff.next(&policy) >= Duration::from_millis(800),
            "still grown"
        );
        assert!(backoff.link_lasted(&policy, Duration::from_millis(1600)));
        assert!(
            backoff.next(&policy) <= Duration::from_millis(100),
            "back to the first"
        );
    }

    #[test]
    fn instances_started_together_spread_their_first_pauses() {
        let policy = policy(500, 30_000);
        let pauses: Vec<Duration> = (0..1000).map(|_| Backoff::new().next(&policy)).collect();
        let distinct: std::collections::HashSet<_> = pauses.iter().collect();
        assert!(distinct.len() > 990, "{} distinct", distinct.len());
        let within = |from: u64, to: u64| {
            pauses
                .iter()
                .filter(|pause| (from..to).contains(&(pause.as_millis() as u64)))
                .count()
        };
        // Uniform over 250..500 ms: each 50 ms fifth holds about 200 of the thousand.
        for from in (250..500).step_by(50) {
            let count = within(from, from + 50);
            assert!((120..280).contains(&count), "{from} ms: {count}");
        }
    }
}
