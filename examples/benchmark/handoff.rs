//! The round trip through the design issue 8 prescribes, written by hand with nothing else: a
//! writer thread that sleeps until the host hands it bytes (a buffer under a mutex and a
//! condition variable) and writes them, and a reader thread that reads, cuts what it read into
//! messages and hands each to the host through a channel. What this costs beyond a single thread
//! doing its own I/O is the design's: two thread hand-offs per round trip.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
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

/// A connection with a writer and a reader thread of its own, seen from the host.
pub struct HandOff {
    outbox: Arc<Outbox>,
    delivered: mpsc::Receiver<Vec<u8>>,
    writer: JoinHandle<()>,
    reader: JoinHandle<()>,
    closer: TcpStream,
}

impl HandOff {
    /// Starts the two threads around `socket`, the reader cutting messages with `cut`.
    pub fn around(socket: &TcpStream, cut: Cut) -> Self {
        let outbox = Arc::new(Outbox::default());
        let writer = {
            let outbox = Arc::clone(&outbox);
            let mut socket = socket.try_clone().expect("a handle for the writer");
            // Named, as the crate's threads are, to tell them apart in a profile.
            let thread = thread::Builder::new().name("hand-writer".to_owned());
            thread
                .spawn(move || {
                    let mut taken = Vec::new();
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
                        if socket.write_all(&taken).is_err() {
                            return;
                        }
                        taken.clear();
                    }
                })
                .expect("a thread")
        };
        let (deliver, delivered) = mpsc::channel();
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
                        pending.extend_from_slice(&buffer[..read]);
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
        match self.delivered.recv_timeout(Duration::from_secs(10)) {
            Ok(message) => Some(message),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("nothing arrived for 10 s"),
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

/// Cuts a short unmasked text frame from a server: two header bytes, then the payload.
fn cut_short_frame(pending: &mut Vec<u8>) -> Option<Vec<u8>> {
    let length = usize::from(*pending.get(1)? & 0x7f);
    if pending.len() < 2 + length {
        return None;
    }
    let payload = pending[2..2 + length].to_vec();
    pending.drain(..2 + length);
    Some(payload)
}

/// Cuts a line, its `\n` included.
pub fn cut_line(pending: &mut Vec<u8>) -> Option<Vec<u8>> {
    let end = pending.iter().position(|&byte| byte == b'\n')? + 1;
    let line = pending[..end].to_vec();
    pending.drain(..end);
    Some(line)
}

/// WebSocket round trips of `count` numbered messages through a bare echo server at `address`,
/// one at a time, each from the host's send until the echo reached the host.
pub fn websocket_round_trips(
    address: SocketAddr,
    count: usize,
    line: impl Fn(usize) -> Vec<u8>,
) -> Vec<Duration> {
    let socket = TcpStream::connect(address).expect("connect");
    socket.set_nodelay(true).expect("nodelay");
    let url = format!("ws://127.0.0.1:{}/", address.port());
    let bare = socket.try_clone().expect("a second handle");
    // The upgrade only; after it the socket is used bare.
    let (websocket, _) = tungstenite::client(url, socket).expect("the upgrade");
    let connection = HandOff::around(&bare, cut_short_frame);
    let times = (0..count)
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
        .collect();
    connection.finish();
    drop(websocket);
    times
}
