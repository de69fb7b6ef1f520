//! The state every transport thread shares with the host: who is connected, where events go, the
//! stop signal, and the counters.
//!
//! This module decides where an outbound message goes (each peer's queue, the backlog, or the drop
//! count) and never touches a socket except to shut one down. Transports register a peer when it
//! connects and unregister it when it is gone.

use std::collections::VecDeque;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{select, Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};

use crate::host::{DisconnectReason, Event, PeerId, Stats, Transport};

/// Encoded bytes of one outbound item, shared by every peer it goes to.
pub(crate) type Wire = Arc<[u8]>;

/// The library's threads wait on this to learn that the host shut down: the sender is never used,
/// only dropped, which wakes every receiver at once.
#[derive(Clone)]
pub(crate) struct StopSignal(Receiver<()>);

impl StopSignal {
    pub(crate) fn new() -> (Sender<()>, StopSignal) {
        let (trigger, signal) = crossbeam_channel::bounded(0);
        (trigger, StopSignal(signal))
    }

    pub(crate) fn is_stopped(&self) -> bool {
        matches!(self.0.try_recv(), Err(TryRecvError::Disconnected))
    }

    /// Sleeps for `duration` unless stopped first; returns whether it was stopped.
    pub(crate) fn sleep(&self, duration: Duration) -> bool {
        matches!(
            self.0.recv_timeout(duration),
            Err(RecvTimeoutError::Disconnected)
        )
    }

    pub(crate) fn receiver(&self) -> &Receiver<()> {
        &self.0
    }
}

/// What the host and the peer's own threads share about one connection.
pub(crate) struct PeerShared {
    pub id: PeerId,
    pub address: SocketAddr,
    pub transport: Transport,
    /// A handle on the socket to shut it down from another thread: it wakes a blocked read or write.
    socket: TcpStream,
    /// Bytes queued for the writer and not yet taken by it.
    pub queued_bytes: AtomicUsize,
    /// Dropped when the connection is to close, for threads that wait on channels rather than on
    /// the socket (a WebSocket reader handing bytes to its owner).
    close_signal: Mutex<Option<Sender<()>>>,
    /// Why the connection is ending, once something decided it; the first reason wins.
    reason: Mutex<Option<DisconnectReason>>,
}

impl PeerShared {
    pub(crate) fn new(
        id: PeerId,
        address: SocketAddr,
        transport: Transport,
        socket: TcpStream,
    ) -> Self {
        PeerShared {
            id,
            address,
            transport,
            socket,
            queued_bytes: AtomicUsize::new(0),
            close_signal: Mutex::new(None),
            reason: Mutex::new(None),
        }
    }

    /// Ends the connection for `reason` (unless it is already ending for another) by shutting the
    /// socket down, which wakes its reader and writer.
    pub(crate) fn close(&self, reason: DisconnectReason) {
        self.note_reason(reason);
        drop(lock(&self.close_signal).take());
        let _ = self.socket.shutdown(Shutdown::Both);
    }

    /// Gives the connection a signal to drop when it is to close.
    pub(crate) fn set_close_signal(&self, signal: Sender<()>) {
        *lock(&self.close_signal) = Some(signal);
    }

    /// Stops reading: a blocked read returns end-of-stream, and the reader ends the connection the
    /// ordinary way, letting the writer send what is queued first.
    pub(crate) fn stop_reading(&self) {
        drop(lock(&self.close_signal).take());
        let _ = self.socket.shutdown(Shutdown::Read);
    }

    pub(crate) fn note_reason(&self, reason: DisconnectReason) {
        lock(&self.reason).get_or_insert(reason);
    }

    pub(crate) fn reason(&self) -> Option<DisconnectReason> {
        lock(&self.reason).clone()
    }
}

struct Registered {
    peer: Arc<PeerShared>,
    queue: Sender<Wire>,
}

#[derive(Default)]
struct Table {
    peers: Vec<Registered>,
    /// Messages kept while no peer is connected, oldest first.
    backlog: VecDeque<Wire>,
    /// Messages dropped since the last peer left, for the one log line per outage.
    dropped_in_outage: u64,
}

/// Limits that shape where outbound messages go.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub outbound_queue_bytes: usize,
    pub keep_while_disconnected: usize,
}

pub(crate) struct Hub {
    table: Mutex<Table>,
    events: Sender<Event>,
    pub stop: StopSignal,
    pub limits: Limits,
    next_peer: AtomicU64,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Names of library threads that panicked, for shutdown to report.
    panicked: Mutex<Vec<String>>,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    dropped_without_peer: AtomicU64,
    dropped_from_backlog: AtomicU64,
    slow_peers: AtomicU64,
    refused_peers: AtomicU64,
    decode_errors: AtomicU64,
}

impl Hub {
    pub(crate) fn new(events: Sender<Event>, stop: StopSignal, limits: Limits) -> Self {
        Hub {
            table: Mutex::default(),
            events,
            stop,
            limits,
            next_peer: AtomicU64::new(1),
            threads: Mutex::default(),
            panicked: Mutex::default(),
            counters: Counters::default(),
        }
    }

    pub(crate) fn next_peer_id(&self) -> PeerId {
        PeerId(self.next_peer.fetch_add(1, Ordering::Relaxed))
    }

    /// Hands an event to the host, waiting while its queue is full (which slows the peers down
    /// through TCP flow control); returns `false` once the host has shut down.
    pub(crate) fn emit(&self, event: Event) -> bool {
        if let Event::DecodeError { .. } = event {
            self.note_decode_error();
        }
        // Even while shutting down, an event is kept when there is room, so a host that cloned the
        // receiver sees how its connections ended.
        match self.events.try_send(event) {
            Ok(()) => !self.stop.is_stopped(),
            Err(TrySendError::Disconnected(_)) => false,
            Err(TrySendError::Full(event)) => select! {
                send(self.events, event) -> sent => sent.is_ok(),
                recv(self.stop.receiver()) -> _ => false,
            },
        }
    }

    /// Starts a thread the host will join at shutdown. Finished threads are joined here, so a
    /// long-running server does not collect a handle per connection it ever had.
    pub(crate) fn spawn(
        &self,
        name: String,
        body: impl FnOnce() + Send + 'static,
    ) -> io::Result<()> {
        let handle = thread::Builder::new().name(name).spawn(body)?;
        let finished: Vec<JoinHandle<()>> = {
            let mut threads = lock(&self.threads);
            let (finished, running) = std::mem::take(&mut *threads)
                .into_iter()
                .partition(|thread| thread.is_finished());
            *threads = running;
            threads.push(handle);
            finished
        };
        for thread in finished {
            self.join(thread);
        }
        Ok(())
    }

    /// Joins a library thread, taking note if it panicked.
    pub(crate) fn join(&self, thread: JoinHandle<()>) {
        let name = thread.thread().name().unwrap_or("unnamed").to_owned();
        if thread.join().is_err() {
            log::error!("library thread {name} panicked; please report this as a bug");
            lock(&self.panicked).push(name);
        }
    }

    /// Names of the library threads that panicked so far.
    pub(crate) fn panicked(&self) -> Vec<String> {
        lock(&self.panicked).clone()
    }

    /// Takes every thread handle started so far, to join them.
    pub(crate) fn take_threads(&self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut *lock(&self.threads))
    }

    /// Adds a connected peer. Messages kept while no one was connected go to it first, in order. A
    /// peer that registers after the host began shutting down is told to stop at once.
    pub(crate) fn register(&self, peer: Arc<PeerShared>) -> Receiver<Wire> {
        let (queue, outbox) = crossbeam_channel::unbounded();
        let mut table = lock(&self.table);
        if table.dropped_in_outage > 0 {
            log::warn!(
                "dropped {} outbound messages while no peer was connected",
                table.dropped_in_outage
            );
            table.dropped_in_outage = 0;
        }
        for wire in table.backlog.drain(..) {
            peer.queued_bytes.fetch_add(wire.len(), Ordering::Relaxed);
            let _ = queue.send(wire);
        }
        table.peers.push(Registered {
            peer: Arc::clone(&peer),
            queue,
        });
        drop(table);
        // The host may have shut down while this peer was connecting; shutting down stops only the
        // peers registered when it looked, and it looked after raising the stop signal.
        if self.stop.is_stopped() {
            peer.note_reason(DisconnectReason::ShutDown);
            peer.stop_reading();
        }
        outbox
    }

    /// Removes a peer; its writer sees the end of its queue once it has sent what is in it.
    pub(crate) fn unregister(&self, id: PeerId) {
        lock(&self.table)
            .peers
            .retain(|registered| registered.peer.id != id);
    }

    /// The peers connected now.
    pub(crate) fn peers(&self) -> Vec<Arc<PeerShared>> {
        lock(&self.table)
            .peers
            .iter()
            .map(|registered| Arc::clone(&registered.peer))
            .collect()
    }

    /// Queues `wire` for every peer, or for the backlog when none is connected. Returns how many
    /// peers it was queued for.
    pub(crate) fn send_to_all(&self, wire: Wire) -> usize {
        let mut table = lock(&self.table);
        if table.peers.is_empty() {
            self.keep_or_drop(&mut table, wire);
            return 0;
        }
        let mut queued = 0;
        for registered in &table.peers {
            if self.enqueue(registered, Arc::clone(&wire)) {
                queued += 1;
            }
        }
        self.counters.sent.fetch_add(1, Ordering::Relaxed);
        queued
    }

    /// Queues `wire` for one peer; `false` when no such peer is connected.
    pub(crate) fn send_to(&self, id: PeerId, wire: Wire) -> bool {
        let table = lock(&self.table);
        match table
            .peers
            .iter()
            .find(|registered| registered.peer.id == id)
        {
            Some(registered) => {
                self.enqueue(registered, wire);
                self.counters.sent.fetch_add(1, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Queues for one peer unless its queue would pass the limit, in which case the peer is too slow
    /// for this connection and is disconnected; the host and the other peers go on unhindered.
    fn enqueue(&self, registered: &Registered, wire: Wire) -> bool {
        let peer = &registered.peer;
        let queued = peer.queued_bytes.load(Ordering::Relaxed);
        if queued + wire.len() > self.limits.outbound_queue_bytes {
            if peer.reason().is_none() {
                self.counters.slow_peers.fetch_add(1, Ordering::Relaxed);
                log::warn!(
                    "{} {}: disconnecting, it is not reading: {queued} bytes are queued for it, the limit is {}",
                    peer.id,
                    peer.address,
                    self.limits.outbound_queue_bytes
                );
            }
            peer.close(DisconnectReason::TooSlow {
                queued_bytes: queued,
                limit: self.limits.outbound_queue_bytes,
            });
            return false;
        }
        peer.queued_bytes.fetch_add(wire.len(), Ordering::Relaxed);
        registered.queue.send(wire).is_ok()
    }

    fn keep_or_drop(&self, table: &mut Table, wire: Wire) {
        let keep = self.limits.keep_while_disconnected;
        if keep > 0 {
            if table.backlog.len() == keep {
                table.backlog.pop_front();
                let dropped = self
                    .counters
                    .dropped_from_backlog
                    .fetch_add(1, Ordering::Relaxed)
                    + 1;
                if dropped == 1 || dropped.is_power_of_two() {
                    log::warn!("no peer connected and {keep} messages kept: dropped the oldest ({dropped} so far)");
                }
            }
            table.backlog.push_back(wire);
            return;
        }
        self.counters
            .dropped_without_peer
            .fetch_add(1, Ordering::Relaxed);
        if table.dropped_in_outage == 0 {
            log::warn!("no peer connected: dropping outbound messages until one connects");
        }
        table.dropped_in_outage += 1;
    }

    /// Where events for the host go, for a thread that must wait on other channels too.
    pub(crate) fn events(&self) -> &Sender<Event> {
        &self.events
    }

    pub(crate) fn note_decode_error(&self) {
        self.counters.decode_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn note_refused(&self) {
        self.counters.refused_peers.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> Stats {
        let table = lock(&self.table);
        Stats {
            peers: table.peers.len(),
            kept_while_disconnected: table.backlog.len(),
            sent: self.counters.sent.load(Ordering::Relaxed),
            dropped_without_peer: self.counters.dropped_without_peer.load(Ordering::Relaxed),
            dropped_from_backlog: self.counters.dropped_from_backlog.load(Ordering::Relaxed),
            slow_peers_disconnected: self.counters.slow_peers.load(Ordering::Relaxed),
            peers_refused: self.counters.refused_peers.load(Ordering::Relaxed),
            decode_errors: self.counters.decode_errors.load(Ordering::Relaxed),
        }
    }
}

/// Locks a mutex, going on with the data if a thread panicked while holding it: every structure
/// here stays consistent between statements, so a panic elsewhere must not take the host down too.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
