//! The WebSocket round trip through the design issue 8 prescribes, written by hand with nothing
//! else: after a bare tungstenite upgrade, a writer thread that sleeps until the host hands it a
//! frame (a buffer under a mutex and a condition variable) and writes it, and a reader thread
//! that reads frames and hands each payload to the host through a channel. What this costs beyond
//! the single-threaded bare client is the design's: two thread hand-offs per round trip.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Outbox {
    bytes: Mutex<(Vec<u8>, bool)>,
    ready: Condvar,
}

/// Round trips of `count` numbered messages through a bare echo server at `address`, one at a
/// time, each from the host's send until the echo reached the host.
pub fn round_trips(
    address: SocketAddr,
    count: usize,
    line: impl Fn(usize) -> Vec<u8>,
) -> Vec<Duration> {
    let socket = TcpStream::connect(address).expect("connect");
    socket.set_nodelay(true).expect("nodelay");
    let url = format!("ws://127.0.0.1:{}/", address.port());
    let reader_socket = socket.try_clone().expect("a second handle");
    let writer_socket = socket.try_clone().expect("a third handle");
    let closer = socket.try_clone().expect("a fourth handle");
    // The upgrade only; after it the sockets are used bare.
    let (websocket, _) = tungstenite::client(url, socket).expect("the upgrade");
    let outbox = Arc::new(Outbox::default());
    let writer = {
        let outbox = Arc::clone(&outbox);
        let mut socket = writer_socket;
        thread::spawn(move || {
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
                socket.write_all(&taken).expect("write");
                taken.clear();
            }
        })
    };
    let (deliver, delivered) = mpsc::channel::<Vec<u8>>();
    let reader = {
        let mut socket = reader_socket;
        thread::spawn(move || {
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
                // Short unmasked text frames from the server: two header bytes, then the payload.
                while pending.len() >= 2 && pending.len() >= 2 + usize::from(pending[1] & 0x7f) {
                    let length = usize::from(pending[1] & 0x7f);
                    let payload = pending[2..2 + length].to_vec();
                    pending.drain(..2 + length);
                    if deliver.send(payload).is_err() {
                        return;
                    }
                }
            }
        })
    };
    let times = (0..count)
        .map(|number| {
            let payload = line(number);
            assert!(payload.len() < 126, "a short frame");
            let start = Instant::now();
            {
                let mut state = outbox.bytes.lock().expect("lock");
                // A masked text frame, as a client sends; the key of zeros leaves the payload as
                // it is, which is allowed and costs the same to the server.
                state
                    .0
                    .extend_from_slice(&[0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0]);
                state.0.extend_from_slice(&payload);
            }
            outbox.ready.notify_one();
            let echo = delivered
                .recv_timeout(Duration::from_secs(10))
                .expect("the echo");
            assert_eq!(echo, payload);
            start.elapsed()
        })
        .collect();
    outbox.bytes.lock().expect("lock").1 = true;
    outbox.ready.notify_one();
    writer.join().expect("the writer");
    // Shutting the connection down ends the server and wakes the reader.
    let _ = closer.shutdown(std::net::Shutdown::Both);
    drop(websocket);
    reader.join().expect("the reader");
    times
}
