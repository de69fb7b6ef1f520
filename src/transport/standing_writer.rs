//! A client's writer thread, started with the client by the thread that starts the
//! [`Remote`](crate::Remote) and kept for the client's life. Each connection lends it its write
//! loop; a server's connections, and a client's after its writer died, start their own.
//!
//! Why a client does not start its writer with each connection, from its connector thread as a
//! server's reader does: on a machine with few processors the kernel keeps each thread on the
//! processor it last ran on while that one is idle, so where a connection's threads first land
//! decides, for the connection's life, how many of a round trip's four hand-offs (host → writer →
//! peer → reader → host) cross processors, each crossing the wake-up of a halted one. Measured on
//! the 2-vCPU development machine with the benchmark's `websocket` section, runs taken in turns:
//! the wss round trip's median ratio (goal 1.3) was 1.23–1.68 in 11 runs with the writer started
//! by the connector, 1.14–1.67 in 11 with it started here but after the TLS set-up (which keeps
//! the host's thread busy for milliseconds), and 1.12–1.18 in 4 with it started here first, its
//! p99 (goal 1.5) 1.29–1.37. Written by hand, the same design measured 1.1–1.2 with both threads
//! started by the host's thread and 1.5–1.7 with one connection thread starting the other. The
//! effect is one of placement, not of work: the threads do the same either way.

use crossbeam_channel::{Sender, TrySendError};

use crate::hub::Hub;

/// A connection's write loop, run on the writer thread.
pub(crate) type WriteLoop = Box<dyn FnOnce() + Send>;

/// The standing writer thread of a client. Dropping this lets the thread end once its current
/// loop has; the host's thread set joins it.
pub(crate) struct StandingWriter {
    loops: Sender<WriteLoop>,
}

impl StandingWriter {
    /// Starts the thread, named `name`; `None` if it cannot be started, and then each connection
    /// starts its own.
    pub(crate) fn start(hub: &Hub, name: &str) -> Option<StandingWriter> {
        // One loop at a time: a client's next connection starts after its last one ended.
        let (loops, waiting) = crossbeam_channel::bounded::<WriteLoop>(1);
        let started = hub.threads.spawn(name.to_owned(), move || {
            for write_loop in waiting {
                write_loop();
            }
        });
        match started {
            Ok(()) => Some(StandingWriter { loops }),
            Err(error) => {
                log::warn!("cannot start the writer thread {name} ahead ({error}); each connection will start its own");
                None
            }
        }
    }

    /// Runs `write_loop` on the standing thread, or gives it back if that thread is gone (a loop
    /// panicked on it) or still holds a loop (which a client's one connection at a time rules
    /// out, but a refusal costs only a thread, where waiting could hang).
    pub(crate) fn lend(&self, write_loop: WriteLoop) -> Result<(), WriteLoop> {
        self.loops
            .try_send(write_loop)
            .map_err(|refused| match refused {
                TrySendError::Full(write_loop) | TrySendError::Disconnected(write_loop) => {
                    write_loop
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::HostOptions;
    use std::time::Duration;

    fn hub() -> Hub {
        let (events, _) = crossbeam_channel::unbounded();
        let (_stop, signal) = crate::hub::StopSignal::new();
        Hub::new(events, signal, HostOptions::default(), 0)
    }

    #[test]
    fn runs_each_lent_loop_on_one_thread_and_ends_when_dropped() {
        let hub = hub();
        let writer = StandingWriter::start(&hub, "test-standing").unwrap();
        let (ran, on) = crossbeam_channel::unbounded();
        let mut threads = Vec::new();
        for _ in 0..2 {
            let ran = ran.clone();
            let lent = writer.lend(Box::new(move || {
                ran.send(std::thread::current().id()).unwrap();
            }));
            assert!(lent.is_ok());
            // One loop at a time, as a client's connections come.
            threads.push(on.recv_timeout(Duration::from_secs(10)).unwrap());
        }
        let [first, second] = threads[..] else {
            unreachable!()
        };
        assert_eq!(first, second);
        assert_ne!(first, std::thread::current().id());
        drop(writer);
        // Joins the thread: it ends once its loops are done and it is dropped.
        hub.threads.join_all();
        assert!(hub.threads.panicked().is_empty());
    }

    #[test]
    fn gives_a_loop_back_once_a_loop_panicked_on_the_thread() {
        let hub = hub();
        let writer = StandingWriter::start(&hub, "test-standing").unwrap();
        assert!(writer.lend(Box::new(|| panic!("injected"))).is_ok());
        hub.threads.join_all();
        assert_eq!(hub.threads.panicked(), ["test-standing"]);
        let (ran, on) = crossbeam_channel::unbounded::<()>();
        let refused = writer.lend(Box::new(move || drop(ran)));
        let Err(given_back) = refused else {
            panic!("the dead thread took the loop");
        };
        given_back();
        assert!(on.recv_timeout(Duration::from_secs(10)).is_err());
    }
}
