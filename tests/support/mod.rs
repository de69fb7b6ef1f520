//! Helpers shared by the integration tests: bounded waits on events and sockets, and a count of the
//! library's own threads.
#![allow(dead_code)] // each test file uses a different part of this module

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use mmdagent_remote::{Event, Item, Message, Remote};

pub mod witness;

/// How long any single wait in the tests may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// Receives events until one matches, failing the test after `WAIT`. Returns the match and the
/// events passed over on the way.
pub fn wait_for<T>(
    remote: &Remote,
    what: &str,
    mut matches: impl FnMut(&Event) -> Option<T>,
) -> (T, Vec<Event>) {
    let deadline = Instant::now() + WAIT;
    let mut passed = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match remote.recv_timeout(left) {
            Ok(event) => match matches(&event) {
                Some(found) => return (found, passed),
                None => passed.push(event),
            },
            Err(_) => panic!("timed out waiting for {what}; events seen: {passed:#?}"),
        }
    }
}

/// Waits for the next message and returns it as its line.
pub fn next_message(remote: &Remote) -> String {
    wait_for(remote, "a message", |event| match event {
        Event::Item {
            item: Item::Message(message),
            ..
        } => Some(message.to_string()),
        _ => None,
    })
    .0
}

pub fn message(name: &str, args: &str) -> Item<'static> {
    Item::Message(Message::new(name.to_owned(), args))
}

/// A line reader on a socket with a read timeout, so a missing line fails rather than hangs.
pub struct LineReader(BufReader<TcpStream>);

impl LineReader {
    pub fn new(stream: &TcpStream) -> Self {
        let stream = stream.try_clone().expect("clone socket");
        stream
            .set_read_timeout(Some(WAIT))
            .expect("set read timeout");
        LineReader(BufReader::new(stream))
    }

    pub fn line(&mut self) -> String {
        let mut line = String::new();
        match self.0.read_line(&mut line) {
            Ok(0) => panic!("connection closed while waiting for a line"),
            Ok(_) => line.trim_end_matches('\n').to_owned(),
            Err(error) => panic!("no line within {WAIT:?}: {error}"),
        }
    }

    /// Reads until the peer closes; what arrived meanwhile.
    pub fn until_closed(&mut self) -> Vec<u8> {
        let mut rest = Vec::new();
        let _ = self.0.read_to_end(&mut rest);
        rest
    }
}

/// Names of the library's threads (`mdr-...`) still running in this process.
pub fn library_threads() -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| name.starts_with("mdr-"))
        .collect()
}

/// Polls a condition that has no event to wait on (a thread count), failing after `WAIT`.
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; library threads: {:?}",
            library_threads()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Accepts one connection, failing the test after `WAIT` instead of blocking for ever.
pub fn accept(listener: &std::net::TcpListener) -> TcpStream {
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let deadline = Instant::now() + WAIT;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).expect("blocking stream");
                return stream;
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    Instant::now() < deadline,
                    "nothing connected within {WAIT:?}"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(error) => panic!("accept failed: {error}"),
        }
    }
}

/// Runs `work` on another thread and fails the test if it does not finish within `limit`.
pub fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done, finished) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = done.send(work());
    });
    finished
        .recv_timeout(limit)
        .unwrap_or_else(|_| panic!("{what} did not finish within {limit:?}"))
}

/// An address where nothing listens, so connecting is refused. The port comes from a listener on
/// 127.0.0.1 that is let go, and the address is on 127.0.0.2: a client connecting there gets
/// 127.0.0.1 as its source, so it can never be handed that same port and connect to itself (which
/// Linux allows when source and destination match).
pub fn refused_address() -> std::net::SocketAddr {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    std::net::SocketAddr::from(([127, 0, 0, 2], port))
}
