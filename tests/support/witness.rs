//! The fault suite's host and witness.
//!
//! A [`Host`] owns a [`Remote`] and a pump thread that takes every delivery from it: a `WIT|n`
//! line is checked (each peer's numbers must come in order, without a gap) and answered to its
//! sender alone with `ECHO|n`; every other event goes to the test through [`Host::wait_for`].
//!
//! A [`Witness`] is a well-behaved peer that keeps a round trip going while a test abuses the
//! same process: it sends `WIT|n`, waits for `ECHO|n`, and goes on, over TCP or WebSocket. Its
//! reader also checks the host's broadcasts `B|n` for order. At the end ([`Witness::finish`]) it
//! must have lost nothing: every line it sent came back, in order, and the host heard each once.
//!
//! The `/proc/self` counters (threads, file descriptors, resident memory) are Linux's; elsewhere
//! they are `None` and the tests that need them say they skip.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mmdagent_remote::{
    Config, Event, HostOptions, Item, Message, PeerId, Received, Remote, TcpServerConfig,
    WebSocketServerConfig,
};

use super::WAIT;

/// The pause between two of a witness's round trips: it keeps traffic going without taking a
/// core of a 2-core machine for itself.
const PACE: Duration = Duration::from_millis(2);
/// Round trips a witness must have made before it counts as having been there.
const MIN_ROUNDS: u64 = 3;

/// Serialises the tests that count threads, file descriptors or memory of the whole process
/// (cargo runs a file's tests on parallel threads of one process).
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A config with a TCP server on 127.0.0.1, any free port.
pub fn tcp_server_config() -> Config {
    let mut server = TcpServerConfig::new(0);
    server.bind_address = "127.0.0.1".parse().unwrap();
    let mut config = Config::default();
    config.tcp_server = Some(server);
    config
}

/// A config with a WebSocket server on 127.0.0.1, any free port, any path.
pub fn websocket_server_config() -> Config {
    let mut config = Config::default();
    config.websocket_server = Some(WebSocketServerConfig::new(0));
    config
}

/// What the pump heard from witnesses, and what went wrong.
#[derive(Default)]
struct Heard {
    next: HashMap<PeerId, u64>,
    faults: Vec<String>,
}

/// A [`Remote`] whose deliveries a pump thread takes: witness lines are answered there, the
/// rest come to the test.
pub struct Host {
    remote: Option<Arc<Remote>>,
    events: Receiver<Event>,
    /// Events passed over by a wait, for later ones.
    pending: Mutex<VecDeque<Event>>,
    stop: Option<Sender<()>>,
    pump: Option<JoinHandle<()>>,
    heard: Arc<Mutex<Heard>>,
}

impl Host {
    pub fn start(config: &Config) -> Host {
        Host::start_with(config, HostOptions::default())
    }

    pub fn start_with(config: &Config, options: HostOptions) -> Host {
        let remote = Arc::new(Remote::start_with(config, options).expect("the host starts"));
        let (events_in, events) = crossbeam_channel::unbounded();
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let heard = Arc::new(Mutex::new(Heard::default()));
        let pump = std::thread::Builder::new()
            .name("test-pump".to_owned())
            .spawn({
                let remote = Arc::clone(&remote);
                let heard = Arc::clone(&heard);
                move || pump(&remote, &events_in, &stopped, &heard)
            })
            .expect("start the pump");
        Host {
            remote: Some(remote),
            events,
            pending: Mutex::default(),
            stop: Some(stop),
            pump: Some(pump),
            heard,
        }
    }

    pub fn remote(&self) -> &Remote {
        self.remote.as_ref().expect("running")
    }

    /// The TCP server's address.
    pub fn tcp_address(&self) -> SocketAddr {
        self.remote().local_addr().expect("a TCP server")
    }

    /// The WebSocket server's address.
    pub fn websocket_address(&self) -> SocketAddr {
        self.remote().websocket_addr().expect("a WebSocket server")
    }

    /// Waits (at most [`WAIT`]) for the first event that matches and takes it; the events passed
    /// over stay, in order, for later waits.
    pub fn wait_for<T>(&self, what: &str, mut matches: impl FnMut(&Event) -> Option<T>) -> T {
        let mut pending = lock(&self.pending);
        for index in 0..pending.len() {
            if let Some(found) = matches(&pending[index]) {
                pending.remove(index);
                return found;
            }
        }
        let deadline = Instant::now() + WAIT;
        loop {
            match self.events.recv_deadline(deadline) {
                Ok(event) => match matches(&event) {
                    Some(found) => return found,
                    None => pending.push_back(event),
                },
                Err(_) => panic!("timed out waiting for {what}; events passed over: {pending:#?}"),
            }
        }
    }

    /// Takes, in order, the events `keep` selects, until one that `done` says ends them (taken
    /// too), failing after [`WAIT`]; the others stay for later waits.
    pub fn collect_until(
        &self,
        what: &str,
        mut keep: impl FnMut(&Event) -> bool,
        mut done: impl FnMut(&Event) -> bool,
    ) -> Vec<Event> {
        let mut kept = Vec::new();
        let mut pending = lock(&self.pending);
        let mut index = 0;
        while index < pending.len() {
            if keep(&pending[index]) {
                let event = pending.remove(index).unwrap();
                let last = done(&event);
                kept.push(event);
                if last {
                    return kept;
                }
            } else {
                index += 1;
            }
        }
        let deadline = Instant::now() + WAIT;
        loop {
            match self.events.recv_deadline(deadline) {
                Ok(event) if keep(&event) => {
                    let last = done(&event);
                    kept.push(event);
                    if last {
                        return kept;
                    }
                }
                Ok(event) => pending.push_back(event),
                Err(_) => panic!(
                    "timed out waiting for {what}; taken: {kept:#?}; passed over: {pending:#?}"
                ),
            }
        }
    }

    /// Every event waiting now and every one that arrives within `time` (a bounded look for
    /// something that must not come).
    pub fn events_within(&self, time: Duration) -> Vec<Event> {
        let deadline = Instant::now() + time;
        let mut seen: Vec<Event> = lock(&self.pending).drain(..).collect();
        while let Ok(event) = self.events.recv_deadline(deadline) {
            seen.push(event);
        }
        seen
    }

    /// The next message (an `Event::Item` holding a `Message`) from `peer`, as its line.
    pub fn next_message_from(&self, peer: PeerId) -> String {
        self.wait_for("a message", |event| match event {
            Event::Item {
                peer: from,
                item: Item::Message(message),
            } if *from == peer => Some(message.to_string()),
            _ => None,
        })
    }

    /// Waits for the `Connected` of the peer whose address is `address`.
    pub fn connected(&self, address: SocketAddr) -> PeerId {
        self.wait_for("a connection", |event| match event {
            Event::Connected {
                peer, address: at, ..
            } if *at == address => Some(*peer),
            _ => None,
        })
    }

    /// Waits for the `Disconnected` of `peer`; returns its reason.
    pub fn disconnected(&self, peer: PeerId) -> mmdagent_remote::DisconnectReason {
        self.wait_for("a disconnection", |event| match event {
            Event::Disconnected {
                peer: gone, reason, ..
            } if *gone == peer => Some(reason.clone()),
            _ => None,
        })
    }

    /// How many witness lines the host has heard from `peer`.
    fn heard_from(&self, peer: PeerId) -> u64 {
        lock(&self.heard).next.get(&peer).copied().unwrap_or(0)
    }

    /// Fails the test if the pump saw a witness line out of order or could not answer one.
    pub fn check(&self) {
        let heard = lock(&self.heard);
        assert!(heard.faults.is_empty(), "the host saw: {:?}", heard.faults);
    }

    /// Stops the pump and shuts the remote down (failing after [`WAIT`]); how long the shutdown
    /// itself took.
    pub fn shutdown(mut self) -> Duration {
        self.stop_pump();
        self.check();
        let remote = self.remote.take().expect("running");
        let remote = Arc::try_unwrap(remote).expect("the pump let go of the remote");
        let started = Instant::now();
        super::within(WAIT, "shutdown", move || remote.shutdown()).expect("a clean shutdown");
        started.elapsed()
    }

    fn stop_pump(&mut self) {
        drop(self.stop.take());
        if let Some(pump) = self.pump.take() {
            pump.join().expect("the pump");
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.stop_pump();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn pump(remote: &Remote, events: &Sender<Event>, stopped: &Receiver<()>, heard: &Mutex<Heard>) {
    loop {
        let delivery = crossbeam_channel::select! {
            recv(stopped) -> _ => return,
            recv(remote.inbound()) -> delivery => match delivery {
                Ok(delivery) => delivery,
                Err(_) => return,
            },
        };
        delivery.decode(|received| match received {
            Received::Item {
                peer,
                item: Item::Message(message),
            } if message.name() == "WIT" => {
                let mut record = lock(heard);
                let expected = record.next.get(&peer).copied().unwrap_or(0);
                if message.args().parse::<u64>().ok() != Some(expected) {
                    let fault = format!("{peer}: WIT|{} where {expected} was due", message.args());
                    record.faults.push(fault);
                }
                record.next.insert(peer, expected + 1);
                drop(record);
                let echo = Item::Message(Message::new("ECHO", message.args()));
                if let Err(error) = remote.send_to(peer, &echo) {
                    lock(heard)
                        .faults
                        .push(format!("{peer}: echo not sent: {error}"));
                }
            }
            other => {
                let _ = events.send(other.into_event());
            }
        });
    }
}

/// What a witness has seen so far.
#[derive(Default)]
struct Seen {
    /// `WIT` lines written.
    sent: u64,
    /// `ECHO` lines read, all in order.
    echoes: u64,
    /// `B` lines read, all in order.
    broadcasts: u64,
    /// Other lines read.
    others: Vec<String>,
    round_trips: Vec<Duration>,
    faults: Vec<String>,
    /// How the connection ended, once it did: `None` inside for a clean end of stream.
    ended: Option<Option<String>>,
}

impl Seen {
    /// Takes one line the host sent.
    fn line(&mut self, line: &str) {
        let sequence = |count: &mut u64, faults: &mut Vec<String>, rest: &str| {
            let number = rest.split('|').next().unwrap_or(rest);
            if number.parse::<u64>().ok() != Some(*count) {
                faults.push(format!("{line:?} where number {count} was due"));
            }
            *count += 1;
        };
        if let Some(number) = line.strip_prefix("ECHO|") {
            sequence(&mut self.echoes, &mut self.faults, number);
        } else if let Some(number) = line.strip_prefix("B|") {
            sequence(&mut self.broadcasts, &mut self.faults, number);
        } else {
            self.others.push(line.to_owned());
        }
    }
}

struct Shared {
    seen: Mutex<Seen>,
    changed: Condvar,
    stop: AtomicBool,
}

impl Shared {
    /// Waits (at most [`WAIT`]) until `done` holds; whether it did.
    fn wait_until(&self, mut done: impl FnMut(&Seen) -> bool) -> bool {
        let seen = lock(&self.seen);
        let (seen, _) = self
            .changed
            .wait_timeout_while(seen, WAIT, |seen| !done(seen))
            .unwrap_or_else(PoisonError::into_inner);
        done(&seen)
    }

    fn update(&self, change: impl FnOnce(&mut Seen)) {
        change(&mut lock(&self.seen));
        self.changed.notify_all();
    }
}

/// What a witness reports at the end.
#[derive(Debug)]
pub struct WitnessReport {
    pub rounds: u64,
    pub median_round_trip: Duration,
    pub slowest_round_trip: Duration,
    pub broadcasts: u64,
    pub others: Vec<String>,
}

/// A well-behaved peer that keeps round trips going; see the module's documentation.
pub struct Witness {
    shared: Arc<Shared>,
    peer: PeerId,
    socket: TcpStream,
    threads: Vec<JoinHandle<()>>,
    what: &'static str,
}

impl Witness {
    /// A TCP witness connected to `address`, where `host` serves; it has made its first round
    /// trips when this returns.
    pub fn tcp(host: &Host, address: SocketAddr) -> Witness {
        let socket = TcpStream::connect(address).expect("the witness connects");
        socket.set_read_timeout(Some(WAIT)).unwrap();
        socket.set_write_timeout(Some(WAIT)).unwrap();
        let peer = host.connected(socket.local_addr().unwrap());
        let shared = Arc::new(Shared {
            seen: Mutex::default(),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let reader = std::thread::spawn({
            let shared = Arc::clone(&shared);
            let socket = socket.try_clone().unwrap();
            move || tcp_read(&shared, socket)
        });
        let writer = std::thread::spawn({
            let shared = Arc::clone(&shared);
            let socket = socket.try_clone().unwrap();
            move || tcp_write(&shared, socket)
        });
        let witness = Witness {
            shared,
            peer,
            socket,
            threads: vec![writer, reader],
            what: "TCP witness",
        };
        witness.wait_rounds(MIN_ROUNDS);
        witness
    }

    /// A WebSocket witness connected, as an agent would, to the server at `address`.
    pub fn websocket(host: &Host, address: SocketAddr) -> Witness {
        let socket = TcpStream::connect(address).expect("the witness connects");
        socket.set_read_timeout(Some(WAIT)).unwrap();
        socket.set_write_timeout(Some(WAIT)).unwrap();
        let local = socket.local_addr().unwrap();
        let url = format!("ws://{address}/witness");
        let (websocket, _) =
            tungstenite::client(url.as_str(), socket.try_clone().unwrap()).expect("upgrade");
        let peer = host.connected(local);
        let shared = Arc::new(Shared {
            seen: Mutex::default(),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let thread = std::thread::spawn({
            let shared = Arc::clone(&shared);
            move || websocket_round_trips(&shared, websocket)
        });
        let witness = Witness {
            shared,
            peer,
            socket,
            threads: vec![thread],
            what: "WebSocket witness",
        };
        witness.wait_rounds(MIN_ROUNDS);
        witness
    }

    pub fn peer(&self) -> PeerId {
        self.peer
    }

    /// Waits until `rounds` round trips are done in all, failing after [`WAIT`].
    pub fn wait_rounds(&self, rounds: u64) {
        let done = self
            .shared
            .wait_until(|seen| seen.echoes >= rounds || !seen.faults.is_empty());
        let seen = lock(&self.shared.seen);
        assert!(
            done && seen.faults.is_empty(),
            "{}: {} round trips of {rounds}; faults: {:?}",
            self.what,
            seen.echoes,
            seen.faults
        );
    }

    /// Waits until `count` broadcasts (`B|0` ...) have arrived, failing after [`WAIT`].
    pub fn wait_broadcasts(&self, count: u64) {
        let done = self
            .shared
            .wait_until(|seen| seen.broadcasts >= count || !seen.faults.is_empty());
        let seen = lock(&self.shared.seen);
        assert!(
            done && seen.faults.is_empty(),
            "{}: {} broadcasts of {count}; faults: {:?}",
            self.what,
            seen.broadcasts,
            seen.faults
        );
    }

    /// Round trips done so far.
    pub fn report_rounds(&self) -> u64 {
        lock(&self.shared.seen).echoes
    }

    /// Stops sending and waits for the last round trip; the connection stays open.
    pub fn quiesce(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        // The writer (TCP) or the only thread (WebSocket) ends after its last round trip.
        let first = self.threads.remove(0);
        first.join().expect("the witness's sender");
    }

    /// Stops, and fails the test unless every line the witness sent came back in order and the
    /// host heard each once, in order.
    pub fn finish(mut self, host: &Host) -> WitnessReport {
        if !self.shared.stop.load(Ordering::Acquire) {
            self.quiesce();
        }
        host.check();
        let report = self.report();
        let seen = lock(&self.shared.seen);
        assert!(seen.faults.is_empty(), "{}: {:?}", self.what, seen.faults);
        assert_eq!(seen.echoes, seen.sent, "{}: lines lost", self.what);
        assert_eq!(
            host.heard_from(self.peer),
            seen.sent,
            "{}: the host heard a different count",
            self.what
        );
        assert!(
            seen.ended.is_none(),
            "{}: its connection ended: {:?}",
            self.what,
            seen.ended
        );
        assert!(
            seen.sent >= MIN_ROUNDS,
            "{}: too few round trips",
            self.what
        );
        drop(seen);
        let _ = self.socket.shutdown(Shutdown::Both);
        for thread in self.threads.drain(..) {
            thread.join().expect("the witness's reader");
        }
        eprintln!("{}: {report:?}", self.what);
        report
    }

    /// After the host shut down: the witness (quiesced before) must read `last` and then a clean
    /// end of stream, with every round trip complete.
    pub fn after_shutdown(mut self, last: &str) -> WitnessReport {
        assert!(
            self.shared.stop.load(Ordering::Acquire),
            "quiesce the witness before shutting down"
        );
        let ended = self.shared.wait_until(|seen| seen.ended.is_some());
        assert!(ended, "{}: the connection did not end", self.what);
        let report = self.report();
        let seen = lock(&self.shared.seen);
        assert!(seen.faults.is_empty(), "{}: {:?}", self.what, seen.faults);
        assert_eq!(seen.echoes, seen.sent, "{}: lines lost", self.what);
        assert_eq!(
            seen.others.last().map(String::as_str),
            Some(last),
            "{}: what was queued at shutdown",
            self.what
        );
        assert_eq!(
            seen.ended,
            Some(None),
            "{}: the connection did not end cleanly",
            self.what
        );
        drop(seen);
        for thread in self.threads.drain(..) {
            thread.join().expect("the witness's reader");
        }
        eprintln!("{}: {report:?}", self.what);
        report
    }

    fn report(&self) -> WitnessReport {
        let seen = lock(&self.shared.seen);
        let mut trips = seen.round_trips.clone();
        trips.sort();
        WitnessReport {
            rounds: seen.echoes,
            median_round_trip: trips.get(trips.len() / 2).copied().unwrap_or_default(),
            slowest_round_trip: trips.last().copied().unwrap_or_default(),
            broadcasts: seen.broadcasts,
            others: seen.others.clone(),
        }
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        let _ = self.socket.shutdown(Shutdown::Both);
        // Threads are not joined here: a failing test must not hang on them.
    }
}

fn tcp_write(shared: &Shared, mut socket: TcpStream) {
    let mut number = 0u64;
    while !shared.stop.load(Ordering::Acquire) {
        let started = Instant::now();
        if let Err(error) = socket.write_all(format!("WIT|{number}\n").as_bytes()) {
            shared.update(|seen| seen.faults.push(format!("write failed: {error}")));
            return;
        }
        shared.update(|seen| seen.sent += 1);
        let echoed = shared.wait_until(|seen| {
            seen.echoes > number || seen.ended.is_some() || !seen.faults.is_empty()
        });
        let elapsed = started.elapsed();
        let mut seen = lock(&shared.seen);
        if !echoed || seen.echoes <= number {
            let fault = format!("no ECHO|{number} (connection: {:?})", seen.ended);
            seen.faults.push(fault);
            return;
        }
        seen.round_trips.push(elapsed);
        drop(seen);
        number += 1;
        std::thread::sleep(PACE);
    }
}

fn tcp_read(shared: &Shared, socket: TcpStream) {
    let mut lines = BufReader::new(socket);
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line) {
            Ok(0) => return shared.update(|seen| seen.ended = Some(None)),
            Ok(_) => shared.update(|seen| seen.line(line.trim_end_matches('\n'))),
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return shared.update(|seen| seen.ended = Some(Some(error.to_string()))),
        }
    }
}

fn websocket_round_trips(shared: &Shared, mut websocket: tungstenite::WebSocket<TcpStream>) {
    use tungstenite::Message as Frame;
    let mut number = 0u64;
    while !shared.stop.load(Ordering::Acquire) {
        let started = Instant::now();
        if let Err(error) = websocket.send(Frame::text(format!("WIT|{number}\n"))) {
            shared.update(|seen| seen.faults.push(format!("send failed: {error}")));
            return;
        }
        shared.update(|seen| seen.sent += 1);
        while lock(&shared.seen).echoes <= number {
            match websocket.read() {
                Ok(Frame::Text(text)) => shared.update(|seen| {
                    text.lines().for_each(|line| seen.line(line));
                }),
                Ok(Frame::Binary(bytes)) => shared.update(|seen| {
                    String::from_utf8_lossy(&bytes)
                        .lines()
                        .for_each(|line| seen.line(line));
                }),
                Ok(Frame::Close(frame)) => {
                    return shared.update(|seen| {
                        seen.faults.push(format!("closed: {frame:?}"));
                        seen.ended = Some(Some(format!("Close {frame:?}")));
                    })
                }
                Ok(_) => {}
                Err(error) => {
                    return shared.update(|seen| {
                        seen.faults.push(format!("no ECHO|{number}: {error}"));
                        seen.ended = Some(Some(error.to_string()));
                    })
                }
            }
        }
        shared.update(|seen| seen.round_trips.push(started.elapsed()));
        number += 1;
        std::thread::sleep(PACE);
    }
    // Dropping this handle closes one descriptor of the socket; the witness keeps the other, so the
    // connection stays open until the test closes it.
}

/// Resident memory of this process in bytes (Linux).
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Threads of this process (Linux).
pub fn thread_count() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/task").ok()?.count())
}

/// Open file descriptors of this process (Linux).
pub fn fd_count() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count())
}
