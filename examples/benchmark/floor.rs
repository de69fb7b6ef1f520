//! The design issue 8 prescribes, written by hand with nothing else, to measure what the design
//! itself costs on this machine: per peer a byte buffer under a mutex that the host appends each
//! line to, and a writer thread that sleeps while the buffer is empty, is woken only when it stops
//! being empty, swaps the whole buffer out and writes it with one call. No encoding, no peer table,
//! no accounting: whatever the library costs beyond this is the library's; what this costs beyond
//! the single-threaded baseline is the design's (a second thread reading bytes another core wrote,
//! and three busy threads on two cores).

use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};

#[derive(Default)]
struct State {
    bytes: Vec<u8>,
    waiting: bool,
    closed: bool,
}

#[derive(Default)]
struct Outbox {
    state: Mutex<State>,
    ready: Condvar,
}

/// One hand-written outbox and writer thread per socket.
pub struct HandOutboxes {
    outboxes: Vec<Arc<Outbox>>,
    writers: Vec<JoinHandle<TcpStream>>,
}

impl HandOutboxes {
    pub fn new(sockets: Vec<TcpStream>) -> HandOutboxes {
        let mut outboxes = Vec::new();
        let mut writers = Vec::new();
        for mut socket in sockets {
            let outbox = Arc::new(Outbox::default());
            outboxes.push(Arc::clone(&outbox));
            writers.push(thread::spawn(move || {
                let mut taken = Vec::new();
                loop {
                    {
                        let mut state = outbox.state.lock().expect("lock");
                        while state.bytes.is_empty() && !state.closed {
                            state.waiting = true;
                            state = outbox.ready.wait(state).expect("wait");
                        }
                        if state.bytes.is_empty() {
                            return socket;
                        }
                        std::mem::swap(&mut state.bytes, &mut taken);
                    }
                    socket.write_all(&taken).expect("write");
                    taken.clear();
                }
            }));
        }
        HandOutboxes { outboxes, writers }
    }

    /// Appends `line` to every outbox, waking a writer only if it waits.
    pub fn send(&self, line: &[u8]) {
        for outbox in &self.outboxes {
            let mut state = outbox.state.lock().expect("lock");
            state.bytes.extend_from_slice(line);
            let wake = std::mem::take(&mut state.waiting);
            drop(state);
            if wake {
                outbox.ready.notify_one();
            }
        }
    }

    /// Lets the writers finish what is queued; returns the sockets.
    pub fn finish(self) -> Vec<TcpStream> {
        for outbox in &self.outboxes {
            outbox.state.lock().expect("lock").closed = true;
            outbox.ready.notify_one();
        }
        self.writers
            .into_iter()
            .map(|writer| writer.join().expect("a writer"))
            .collect()
    }
}
