//! A writer's doorbell: the host rings it when the writer's outbox stops being empty, and the
//! writer waits on it until then.
//!
//! How the writer waits decides two latencies on a machine whose idle processors halt, and a
//! channel's receiver can wait only one way: it spins, gives its processor away four times, and
//! then sleeps. In a quick exchange of single messages (a peer waits for each answer before it
//! sends the next) the yields cost: the peer that the writer's write just woke is placed on the
//! writer's own processor (a socket's wake-up tells the kernel the waker is about to sleep) and
//! waits for them. After a pause they help: a writer that sleeps at once leaves the next
//! message's wake-ups to land on a halted processor, which takes tens of microseconds to start.
//! So a writer that may (TCP's) sleeps promptly while it is in a quick exchange (it wrote one
//! message, and its last wait was short) and otherwise waits as a channel does. Measured on the
//! 2-vCPU development machine in 27 runs each of the benchmark's `tcp` section, taken in turns:
//! the round trip's median ratio went from about 1.38 to 1.33 and met its goal in 26 runs
//! instead of 21; sending, broadcast and a message after a pause did not move. WebSocket writers
//! always wait as a channel does: sleeping promptly made the wss round trip's p99 worse there.
//!
//! A sleeping writer parks its thread. A ring that finds it asleep hands the caller a
//! [`Sleeper`] to wake it with once the caller has let go of its locks; woken under the outbound
//! log's lock, the writer would run straight into that lock and sleep again.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread::{self, Thread, ThreadId};
use std::time::{Duration, Instant};

use crate::hub::lock;

/// A wait that ended sooner than this after a single message is part of a quick exchange: far
/// longer than a round trip over loopback or a LAN here (about 0.1 ms), far shorter than the
/// gaps between an agent's events.
const QUICK_EXCHANGE: Duration = Duration::from_micros(500);

/// How long a writer in a quick exchange looks for a ring before it sleeps: a few microseconds,
/// in case the host's answer is already on its way.
const EXCHANGE_SPINS: u32 = 128;

/// Rounds of spinning (1, 2, 4, ... 64 pauses) and then yields before a writer sleeps otherwise:
/// the pattern of crossbeam's channels, which this replaced.
const BACK_OFF_SPIN_ROUNDS: u32 = 7;
const BACK_OFF_YIELDS: u32 = 4;

/// A new doorbell: the bell for whoever rings, the doorbell for the one who waits.
pub(crate) fn doorbell(prompt_in_exchanges: bool) -> (Bell, Doorbell) {
    let shared = Arc::new(Shared::default());
    let doorbell = Doorbell {
        shared: Arc::clone(&shared),
        prompt_in_exchanges,
        last_wait: Cell::new(Duration::MAX),
        registered: Cell::new(None),
    };
    (Bell(shared), doorbell)
}

/// The flags are read without a lock. A waiter announces `asleep` and then looks for a ring, a
/// ringer sets `rung` and then looks for a sleeper, both in one total order: one of them sees the
/// other. A sleeper parks its thread; a wake-up that comes before it parks is kept by the thread
/// and ends the park at once.
#[derive(Default)]
struct Shared {
    rung: AtomicBool,
    /// The bell is gone: it will never ring, so nothing waits any more.
    hung_up: AtomicBool,
    asleep: AtomicBool,
    /// The thread that sleeps, set before it first does and again only if another thread takes
    /// over the waiting.
    waiter: Mutex<Option<Thread>>,
}

impl Shared {
    fn wake(&self) {
        if let Some(waiter) = &*lock(&self.waiter) {
            waiter.unpark();
        }
    }

    /// Takes a ring, or sees that there will be none.
    fn take_ring(&self) -> bool {
        self.rung.swap(false, SeqCst) || self.hung_up.load(SeqCst)
    }

    /// Whether a wait would end now, without taking the ring: what a spinning waiter reads, so
    /// that it does not write the flag's cache line from under the ringer on every turn.
    fn ringing(&self) -> bool {
        self.rung.load(SeqCst) || self.hung_up.load(SeqCst)
    }
}

/// The ringing side. Dropping it wakes the waiter for good, as a dropped channel sender would.
pub(crate) struct Bell(Arc<Shared>);

impl Bell {
    /// Rings: the next wait returns at once. If the waiter sleeps, returns it: dropping the
    /// [`Sleeper`] wakes it, which the caller should do once it holds no lock the waiter takes
    /// (else the waiter wakes only to sleep again on that lock).
    #[must_use]
    pub(crate) fn ring(&self) -> Option<Sleeper> {
        if !self.0.rung.swap(true, SeqCst) && self.0.asleep.load(SeqCst) {
            return Some(Sleeper(Arc::clone(&self.0)));
        }
        None
    }
}

impl Drop for Bell {
    fn drop(&mut self) {
        self.0.hung_up.store(true, SeqCst);
        if self.0.asleep.load(SeqCst) {
            self.0.wake();
        }
    }
}

/// A waiter to wake up; dropping it does.
pub(crate) struct Sleeper(Arc<Shared>);

impl Drop for Sleeper {
    fn drop(&mut self) {
        self.0.wake();
    }
}

/// Waiters to wake together, when this is dropped. The first takes no allocation: a send to one
/// peer, the usual case, wakes at most one.
#[derive(Default)]
pub(crate) struct Sleepers {
    first: Option<Sleeper>,
    more: Vec<Sleeper>,
}

impl Sleepers {
    pub(crate) fn add(&mut self, sleeper: Sleeper) {
        match self.first {
            None => self.first = Some(sleeper),
            Some(_) => self.more.push(sleeper),
        }
    }
}

/// The waiting side, used by one thread at a time.
pub(crate) struct Doorbell {
    shared: Arc<Shared>,
    prompt_in_exchanges: bool,
    /// How long the last wait took.
    last_wait: Cell<Duration>,
    /// The thread last set as the waiter. A waiter that locked `waiter` on every sleep would
    /// often find it held by the ringer, who holds it through the system call that wakes a
    /// parked thread, and would sleep on the lock and need waking a second time: measured in a
    /// TCP round trip, 1.3 sleeps of the writer each instead of 1.
    registered: Cell<Option<ThreadId>>,
}

impl Doorbell {
    /// Waits until the bell rings (taking the ring) or is gone. `written`: how many messages the
    /// writer wrote since its last wait.
    pub(crate) fn wait(&self, written: u64) {
        self.wait_until(None, written);
    }

    /// As [`wait`](Self::wait), but no later than `deadline`; `false` if the deadline came first.
    pub(crate) fn wait_deadline(&self, deadline: Instant, written: u64) -> bool {
        self.wait_until(Some(deadline), written)
    }

    /// Takes a ring without waiting; `true` if there was one.
    #[cfg(test)]
    pub(crate) fn try_take(&self) -> bool {
        self.shared.rung.swap(false, SeqCst)
    }

    /// Whether the next wait, after `written` messages, sleeps promptly.
    fn in_quick_exchange(&self, written: u64) -> bool {
        self.prompt_in_exchanges && written == 1 && self.last_wait.get() < QUICK_EXCHANGE
    }

    fn wait_until(&self, deadline: Option<Instant>, written: u64) -> bool {
        let started = Instant::now();
        let rung = if self.in_quick_exchange(written) {
            self.spin_then_sleep(deadline)
        } else {
            self.back_off_then_sleep(deadline)
        };
        self.last_wait.set(started.elapsed());
        rung
    }

    fn spin_then_sleep(&self, deadline: Option<Instant>) -> bool {
        for _ in 0..EXCHANGE_SPINS {
            if self.shared.ringing() {
                break;
            }
            std::hint::spin_loop();
        }
        self.sleep(deadline)
    }

    fn back_off_then_sleep(&self, deadline: Option<Instant>) -> bool {
        for round in 0..BACK_OFF_SPIN_ROUNDS {
            if self.shared.take_ring() {
                return true;
            }
            for _ in 0..1u32 << round {
                std::hint::spin_loop();
            }
        }
        for _ in 0..BACK_OFF_YIELDS {
            if self.shared.take_ring() {
                return true;
            }
            thread::yield_now();
        }
        self.sleep(deadline)
    }

    fn sleep(&self, deadline: Option<Instant>) -> bool {
        let shared = &*self.shared;
        let current = thread::current().id();
        if self.registered.get() != Some(current) {
            *lock(&shared.waiter) = Some(thread::current());
            self.registered.set(Some(current));
        }
        loop {
            shared.asleep.store(true, SeqCst);
            if shared.take_ring() {
                shared.asleep.store(false, SeqCst);
                return true;
            }
            match deadline {
                None => thread::park(),
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) => thread::park_timeout(left),
                    None => {
                        shared.asleep.store(false, SeqCst);
                        return false;
                    }
                },
            }
            shared.asleep.store(false, SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: Duration = Duration::from_secs(10);

    /// Returns once the waiter sleeps, so that a ring after it tests the wake-up itself.
    fn until_asleep(bell: &Bell) {
        let start = Instant::now();
        while !bell.0.asleep.load(SeqCst) {
            assert!(start.elapsed() < BOUND, "the waiter never slept");
            thread::yield_now();
        }
    }

    /// Starts a thread waiting on `doorbell` (after `written` messages) and returns once it
    /// sleeps. The thread returns whether a ring, not the deadline, ended its wait.
    fn sleeping_waiter(bell: &Bell, doorbell: Doorbell, written: u64) -> thread::JoinHandle<bool> {
        let waiter = thread::spawn(move || doorbell.wait_deadline(Instant::now() + BOUND, written));
        until_asleep(bell);
        waiter
    }

    #[test]
    fn a_ring_before_the_wait_is_kept_once() {
        let (bell, doorbell) = doorbell(true);
        assert!(!doorbell.try_take());
        drop(bell.ring());
        drop(bell.ring());
        assert!(doorbell.wait_deadline(Instant::now() + BOUND, 0));
        assert!(!doorbell.try_take(), "two rings before a wait are one");
    }

    #[test]
    fn a_ring_wakes_a_sleeping_waiter_in_either_way_of_waiting() {
        for quick in [false, true] {
            let (bell, doorbell) = doorbell(true);
            if quick {
                doorbell.last_wait.set(Duration::ZERO);
            }
            assert_eq!(doorbell.in_quick_exchange(1), quick);
            let waiter = sleeping_waiter(&bell, doorbell, 1);
            // A spurious return from the park may have cleared `asleep` for a moment: the ring
            // is then taken from the flag, and the wait ends just the same.
            drop(bell.ring());
            assert!(
                waiter.join().unwrap(),
                "woken by the ring, not by the deadline"
            );
        }
    }

    #[test]
    fn sleepers_gathered_together_are_all_woken_when_dropped() {
        let mut sleepers = Sleepers::default();
        let mut waiters = Vec::new();
        let mut bells = Vec::new();
        for _ in 0..3 {
            let (bell, doorbell) = doorbell(false);
            waiters.push(sleeping_waiter(&bell, doorbell, 0));
            bells.push(bell);
        }
        for bell in &bells {
            // A spurious return from the park may have taken the ring already: then the wait
            // ends without the sleeper, and the test still sees it end in time.
            if let Some(sleeper) = bell.ring() {
                sleepers.add(sleeper);
            }
        }
        let start = Instant::now();
        drop(sleepers);
        for waiter in waiters {
            assert!(
                waiter.join().unwrap(),
                "woken by the ring, not by the deadline"
            );
        }
        assert!(start.elapsed() < BOUND);
    }

    #[test]
    fn a_ring_reports_a_sleeper_only_while_the_waiter_sleeps() {
        let (bell, doorbell) = doorbell(true);
        assert!(bell.ring().is_none(), "awake");
        assert!(doorbell.try_take());
        bell.0.asleep.store(true, SeqCst);
        assert!(bell.ring().is_some(), "asleep");
        assert!(
            bell.ring().is_none(),
            "rung already: the first ring wakes it"
        );
    }

    #[test]
    fn only_a_single_message_after_a_short_wait_makes_a_quick_exchange() {
        let (bell, doorbell) = doorbell(true);
        assert!(!doorbell.in_quick_exchange(1), "no wait yet");
        doorbell.last_wait.set(QUICK_EXCHANGE / 2);
        assert!(doorbell.in_quick_exchange(1));
        assert!(!doorbell.in_quick_exchange(2), "a burst");
        assert!(
            !doorbell.in_quick_exchange(0),
            "bytes of the protocol's own"
        );
        // A wait records how long it took: one that ran to a later deadline was a pause (the
        // deadline is far enough off that a stalled test thread cannot eat into the wait).
        assert!(!doorbell.wait_deadline(Instant::now() + QUICK_EXCHANGE * 100, 1));
        assert!(!doorbell.in_quick_exchange(1), "after a pause");
        drop(bell);

        let (_bell, always) = super::doorbell(false);
        always.last_wait.set(Duration::ZERO);
        assert!(
            !always.in_quick_exchange(1),
            "a writer that always waits as a channel"
        );
    }

    #[test]
    fn dropping_the_bell_wakes_the_waiter_for_good() {
        let (bell, doorbell) = doorbell(true);
        let waiter = thread::spawn(move || {
            let first = doorbell.wait_deadline(Instant::now() + BOUND, 0);
            let second = doorbell.wait_deadline(Instant::now() + BOUND, 1);
            (first && second, doorbell)
        });
        until_asleep(&bell);
        drop(bell);
        let (woken, doorbell) = waiter.join().unwrap();
        assert!(woken, "both waits end at once, not at their deadlines");
        assert!(doorbell.wait_deadline(Instant::now() + BOUND, 0));
    }

    #[test]
    fn the_deadline_ends_a_wait_without_a_ring() {
        let (_bell, doorbell) = doorbell(true);
        let start = Instant::now();
        assert!(!doorbell.wait_deadline(start + Duration::from_millis(20), 0));
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert!(
            !doorbell.wait_deadline(start, 1),
            "a deadline already past returns at once"
        );
    }

    #[test]
    fn a_doorbell_moved_to_another_thread_wakes_there() {
        let (bell, doorbell) = doorbell(true);
        let first = thread::spawn(move || {
            let rung = doorbell.wait_deadline(Instant::now() + Duration::from_millis(1), 0);
            assert!(!rung, "nothing rang yet");
            doorbell
        });
        let doorbell = first.join().unwrap();
        let second = sleeping_waiter(&bell, doorbell, 0);
        drop(bell.ring());
        assert!(
            second.join().unwrap(),
            "woken by the ring, not by the deadline"
        );
    }
}
