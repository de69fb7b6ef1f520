//! The round trip through the design issue 8 prescribes, written by hand with nothing else: a
//! writer thread that sleeps until the host hands it bytes (a buffer under a mutex and a
//! condition variable) and writes them, and a reader thread that reads, cuts what it read into
//! messages and hands each to the host through a channel. What this costs beyond a single thread
//! doing its own I/O is the design's: two thread hand-offs per round trip. For wss a [`Layer`]
//! (TLS, in `handoff_tls`) turns the bytes on their way, each thread locking it only while it
//! does.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Outbox {
    /// The bytes not yet taken by the writer, and whether the host is done.
    bytes: Mutex<(Vec<u8>, bool)>,
    ready: Condvar,
}

/// Cuts one whole message off the front of what was read, if one is there.
type Cut = fn(&mut Vec<u8>) -> Option<Vec<u8>>;

/// What the connection's threads do to the bytes between the host and the socket.
pub trait Layer: Send + Sync + 'static {
    /// What goes on the wire for `plain`, the bytes the host queued: `plain` itself, or what
    /// was made of it in `scratch`.
    fn seal<'a>(&self, plain: &'a [u8], scratch: &'a mut Vec<u8>) -> &'a [u8];

    /// Appends to `plain` what `wire`, the bytes the socket gave, holds for the host.
    fn open(&self, wire: &[u8], plain: &mut Vec<u8>);
}

/// The bytes as they are: a bare socket.
pub struct Bare;

impl Layer for Bare {
    fn seal<'a>(&self, plain: &'a [u8], _: &'a mut Vec<u8>) -> &'a [u8] {
        plain
    }

    fn open(&self, wire: &[u8], plain: &mut Vec<u8>) {
        plain.extend_from_slice(wire);
    }
}

/// The channel through which the reader hands messages to the host. How the host waits on it
/// decides part of a round trip on a machine whose idle processors halt.
#[derive(Clone, Copy)]
pub enum Handover {
    /// `std::sync::mpsc`: a host with nothing to take parks at once.
    Std,
    /// A bounded crossbeam channel, as the crate's readers hand over their deliveries: a host
    /// with nothing to take spins and yields its processor a few times before it parks.
    Crossbeam,
}

enum Deliver {
    Std(mpsc::Sender<Vec<u8>>),
    Crossbeam(crossbeam_channel::Sender<Vec<u8>>),
}

impl Deliver {
    fn send(&self, message: Vec<u8>) -> Result<(), ()> {
        match self {
            Deliver::Std(channel) => channel.send(message).map_err(drop),
            Deliver::Crossbeam(channel) => channel.send(message).map_err(drop),
        }
    }
}

enum Delivered {
    Std(mpsc::Receiver<Vec<u8>>),
    Crossbeam(crossbeam_channel::Receiver<Vec<u8>>),
}

impl Handover {
    fn channel(self) -> (Deliver, Delivered) {
        match self {
            Handover::Std => {
                let (deliver, delivered) = mpsc::channel();
                (Deliver::Std(deliver), Delivered::Std(delivered))
            }
            Handover::Crossbeam => {
                // The crate's default event queue length.
                let (deliver, delivered) = crossbeam_channel::bounded(256);
                (Deliver::Crossbeam(deliver), Delivered::Crossbeam(delivered))
            }
        }
    }
}

/// A connection with a writer and a reader thread of its own, seen from the host.
pub struct HandOff {
    outbox: Arc<Outbox>,
    delivered: Delivered,
    writer: JoinHandle<()>,
    reader: JoinHandle<()>,
    closer: TcpStream,
}

impl HandOff {
    /// Starts the two threads around `socket`, the bytes going through `layer` and the reader
    /// cutting messages with `cut` and handing them over through `std::sync::mpsc`.
    pub fn around(socket: &TcpStream, cut: Cut, layer: impl Layer) -> Self {
        Self::around_with(socket, cut, layer, Handover::Std)
    }

    /// As [`around`](Self::around), the reader handing messages over through `handover`.
    pub fn around_with(
        socket: &TcpStream,
        cut: Cut,
        layer: impl Layer,
        handover: Handover,
    ) -> Self {
        let layer = Arc::new(layer);
        let outbox = Arc::new(Outbox::default());
        let writer = {
            let outbox = Arc::clone(&outbox);
            let layer = Arc::clone(&layer);
            let mut socket = socket.try_clone().expect("a handle for the writer");
            // Named, as the crate's threads are, to tell them apart in a profile.
            let thread = thread::Builder::new().name("hand-writer".to_owned());
            thread
                .spawn(move || {
                    let mut taken = Vec::new();
                    let mut scratch = Vec::new();
                    loop {
                        {
                            let mut state = outbox.bytes.lock().expect("lock");
                            while state.0.is_empty() && !state.1 {
                                state = outbox.ready.wait(state).expect("wait");
                            }
                            if state.0.is_empty() {
                                return;
                            }
                            std::mem::swap(&mut state.0, &mut taken);
                        }
                        if socket.write_all(layer.seal(&taken, &mut scratch)).is_err() {
                            return;
                        }
                        taken.clear();
                    }
                })
                .expect("a thread")
        };
        let (deliver, delivered) = handover.channel();
        let reader = {
            let mut socket = socket.try_clone().expect("a handle for the reader");
            let thread = thread::Builder::new().name("hand-reader".to_owned());
            thread
                .spawn(move || {
                    let mut pending = Vec::new();
                    let mut buffer = [0; 4096];
                    loop {
                        let Ok(read) = socket.read(&mut buffer) else {
                            return;
                        };
                        if read == 0 {
                            return;
                        }
                        layer.open(&buffer[..read], &mut pending);
                        while let Some(message) = cut(&mut pending) {
                            if deliver.send(message).is_err() {
                                return;
                            }
                        }
                    }
                })
                .expect("a thread")
        };
        let closer = socket.try_clone().expect("a handle to close with");
        HandOff {
            outbox,
            delivered,
            writer,
            reader,
            closer,
        }
    }

    /// Queues `parts` as one message and wakes the writer.
    pub fn send(&self, parts: &[&[u8]]) {
        {
            let mut state = self.outbox.bytes.lock().expect("lock");
            parts
                .iter()
                .for_each(|part| state.0.extend_from_slice(part));
        }
        self.outbox.ready.notify_one();
    }

    /// The next message the reader handed over; `None` once the connection ended.
    pub fn recv(&self) -> Option<Vec<u8>> {
        const TIMEOUT: Duration = Duration::from_secs(10);
        let timed_out = || panic!("nothing arrived for 10 s");
        match &self.delivered {
            Delivered::Std(channel) => match channel.recv_timeout(TIMEOUT) {
                Ok(message) => Some(message),
                Err(mpsc::RecvTimeoutError::Disconnected) => None,
                Err(mpsc::RecvTimeoutError::Timeout) => timed_out(),
            },
            Delivered::Crossbeam(channel) => match channel.recv_timeout(TIMEOUT) {
                Ok(message) => Some(message),
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => None,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => timed_out(),
            },
        }
    }

    /// Lets the writer finish, shuts the connection down (which wakes the reader) and joins both.
    pub fn finish(self) {
        self.outbox.bytes.lock().expect("lock").1 = true;
        self.outbox.ready.notify_one();
        self.writer.join().expect("the writer");
        let _ = self.closer.shutdown(std::net::Shutdown::Both);
        self.reader.join().expect("the reader");
    }
}

/// Cuts a line, its `\n` included.
pub fn cut_line(pending: &mut Vec<u8>) -> Option<Vec<u8>> {
    let end = pending.iter().position(|&byte| byte == b'\n')? + 1;
    let line = pending[..end].to_vec();
    pending.drain(..end);
    Some(line)
}

/// Cuts a short unmasked text frame from a server: two header bytes, then the payload.
pub fn cut_short_frame(pending: &mut Vec<u8>) -> Option<Vec<u8>> {
    let length = usize::from(*pending.get(1)? & 0x7f);
    if pending.len() < 2 + length {
        return None;
    }
    let payload = pending[2..2 + length].to_vec();
    pending.drain(..2 + length);
    Some(payload)
}

/// WebSocket round trips of `count` numbered messages through `connection`, upgraded and cutting
/// frames with [`cut_short_frame`], to an echo server, one at a time, each from the host's send
/// until the echo reached the host.
pub fn websocket_round_trips(
    connection: &HandOff,
    count: usize,
    line: impl Fn(usize) -> Vec<u8>,
) -> Vec<Duration> {
    (0..count)
        .map(|number| {
            let payload = line(number);
            assert!(payload.len() < 126, "a short frame");
            let start = Instant::now();
            // A masked text frame, as a client sends; the key of zeros leaves the payload as it
            // is, which is allowed and costs the same to the server.
            connection.send(&[&[0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0], &payload]);
            let echo = connection.recv().expect("the echo");
            assert_eq!(echo, payload);
            start.elapsed()
        })
        .collect()
}
