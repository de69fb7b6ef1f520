//! Whether a WebSocket link is alive: the times its reader last received bytes and its writer
//! last sent an unanswered Ping, and what the writer should do next (wait, ping, or declare the
//! link dead), after a [`PingPolicy`].
//!
//! It does no I/O and reads no clock of its own: the reader notes arrivals, the writer asks when
//! its timer runs out, each passing the time, so the rules are tested without sleeping. The two
//! times are atomics, so the reader never waits for the writer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::config::PingPolicy;

/// No Ping is waiting for an answer.
const NONE: u64 = u64::MAX;

/// One connection's liveness, shared by its reader and writer.
pub(crate) struct Liveness {
    policy: PingPolicy,
    /// The moment the times below count from.
    origin: Instant,
    /// Nanoseconds from `origin` to the last arrival of bytes.
    last_received: AtomicU64,
    /// Nanoseconds from `origin` to the last Ping sent, or [`NONE`].
    ping_sent: AtomicU64,
}

/// What the writer should do when its timer runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing yet; look again at this time.
    WaitUntil(Instant),
    /// Send a Ping now (it is noted as sent).
    Ping,
    /// Nothing arrived within the deadline after a Ping: the link is dead.
    Dead {
        /// How long nothing has arrived.
        silent_for: Duration,
    },
}

impl Liveness {
    /// A link that has just been established at `now`.
    pub(crate) fn new(policy: PingPolicy, now: Instant) -> Self {
        Liveness {
            policy,
            origin: now,
            last_received: AtomicU64::new(0),
            ping_sent: AtomicU64::new(NONE),
        }
    }

    /// How long one write may block before the link counts as dead.
    pub(crate) fn write_timeout(&self) -> Duration {
        self.policy.interval.saturating_add(self.policy.deadline)
    }

    /// Bytes arrived at `now`.
    pub(crate) fn received(&self, now: Instant) {
        self.last_received
            .fetch_max(self.since_origin(now), Ordering::AcqRel);
    }

    /// When the writer should look next.
    pub(crate) fn due(&self) -> Instant {
        let received = self.last_received.load(Ordering::Acquire);
        let sent = self.ping_sent.load(Ordering::Acquire);
        if sent != NONE && received < sent {
            self.at(sent).checked_add(self.policy.deadline)
        } else {
            self.at(received).checked_add(self.policy.interval)
        }
        .unwrap_or_else(|| self.origin + Duration::from_secs(86_400 * 365))
    }

    /// What to do at `now`.
    pub(crate) fn check(&self, now: Instant) -> Verdict {
        let due = self.due();
        if now < due {
            return Verdict::WaitUntil(due);
        }
        let received = self.last_received.load(Ordering::Acquire);
        let sent = self.ping_sent.load(Ordering::Acquire);
        if sent != NONE && received < sent {
            return Verdict::Dead {
                silent_for: now.saturating_duration_since(self.at(received)),
            };
        }
        self.ping_sent
            .store(self.since_origin(now), Ordering::Release);
        Verdict::Ping
    }

    fn since_origin(&self, now: Instant) -> u64 {
        let nanos = now.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(nanos).unwrap_or(NONE - 1)
    }

    fn at(&self, nanos: u64) -> Instant {
        self.origin + Duration::from_nanos(nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_secs(30);
    const DEADLINE: Duration = Duration::from_secs(10);

    fn liveness() -> (Liveness, Instant) {
        let start = Instant::now();
        (
            Liveness::new(PingPolicy::new(INTERVAL, DEADLINE), start),
            start,
        )
    }

    fn seconds(start: Instant, seconds: u64) -> Instant {
        start + Duration::from_secs(seconds)
    }

    #[test]
    fn a_quiet_link_is_pinged_after_the_interval_and_dead_after_the_deadline() {
        let (live, start) = liveness();
        assert_eq!(
            live.check(seconds(start, 29)),
            Verdict::WaitUntil(seconds(start, 30))
        );
        assert_eq!(live.check(seconds(start, 30)), Verdict::Ping);
        assert_eq!(live.due(), seconds(start, 40));
        assert_eq!(
            live.check(seconds(start, 39)),
            Verdict::WaitUntil(seconds(start, 40))
        );
        assert_eq!(
            live.check(seconds(start, 40)),
            Verdict::Dead {
                silent_for: Duration::from_secs(40)
            }
        );
    }

    #[test]
    fn anything_that_arrives_answers_the_ping_and_restarts_the_interval() {
        let (live, start) = liveness();
        assert_eq!(live.check(seconds(start, 30)), Verdict::Ping);
        live.received(seconds(start, 35));
        assert_eq!(live.due(), seconds(start, 65));
        assert_eq!(
            live.check(seconds(start, 40)),
            Verdict::WaitUntil(seconds(start, 65))
        );
        assert_eq!(live.check(seconds(start, 65)), Verdict::Ping);
    }

    #[test]
    fn arrivals_keep_a_busy_link_from_being_pinged() {
        let (live, start) = liveness();
        for second in (10..300).step_by(10) {
            live.received(seconds(start, second));
            assert!(matches!(
                live.check(seconds(start, second + 1)),
                Verdict::WaitUntil(_)
            ));
        }
    }

    #[test]
    fn bytes_that_arrived_before_the_ping_do_not_answer_it() {
        let (live, start) = liveness();
        live.received(seconds(start, 1));
        assert_eq!(live.check(seconds(start, 31)), Verdict::Ping);
        live.received(seconds(start, 1));
        assert!(matches!(
            live.check(seconds(start, 41)),
            Verdict::Dead { .. }
        ));
    }
}
