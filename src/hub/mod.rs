//! The runtime core every transport stands on: who is connected, where inbound deliveries go, the
//! stop signal, the counters and the library's threads.
//!
//! This layer decides where an outbound message goes (the outbound log its peers read from, the
//! backlog kept while no peer is connected, or a drop counted by cause) and never touches a socket except to shut one
//! down. Transports register a peer when it connects and unregister it when it is gone; the host
//! API above the transports sends and receives through it. It knows nothing of either.

mod doorbell;
mod event;
pub(crate) mod fault;
mod inbound;
mod options;
pub(crate) mod outbox;
mod peer;
mod stats;
mod stop;
mod threads;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crossbeam_channel::{select, Sender, TrySendError};

pub(crate) use crate::codec::websocket_frame::Payload;

pub use event::{DisconnectReason, Event, PeerId, PeerInfo, Transport};
pub use inbound::{Inbound, Received};
pub use options::HostOptions;
pub use stats::{DropCause, Stats};

pub(crate) use doorbell::Doorbell;
pub(crate) use inbound::PeerStream;
use outbox::{Broadcast, OutboundLog};
pub(crate) use outbox::{Framing, Outbox, Pushed};
pub(crate) use peer::PeerShared;
pub(crate) use stats::Counters;
pub(crate) use stop::StopSignal;
pub(crate) use threads::ThreadSet;

/// The connected peers, the messages kept while none is, and the drops since the last one left.
#[derive(Default)]
struct Table {
    /// Made anew whenever a peer comes or goes, so that senders can keep it (see
    /// [`Hub::with_peers`]); `Hub::generation` counts the changes.
    peers: PeerList,
    /// Messages kept while no peer is connected, oldest first, each as its wire bytes.
    backlog: VecDeque<(Payload, Vec<u8>)>,
    /// Messages dropped since the last peer left, for the one log line per outage.
    dropped_in_outage: u64,
}

/// The connected peers, as a sender sees them.
type PeerList = Arc<[Arc<PeerShared>]>;

/// The peer list a thread last sent to, for one hub.
struct KeptList {
    hub: u64,
    generation: u64,
    peers: PeerList,
}

/// What became of a message for one peer.
pub(crate) enum SentTo {
    Queued,
    Dropped(DropCause),
    NoSuchPeer,
}

/// What one [`Remote`](crate::Remote)'s threads share.
pub(crate) struct Hub {
    table: Mutex<Table>,
    inbound: Sender<Inbound>,
    pub stop: StopSignal,
    pub options: HostOptions,
    keep_while_disconnected: usize,
    next_peer: AtomicU64,
    pub threads: ThreadSet,
    pub counters: Arc<Counters>,
    /// The outbound logs, one per [`Framing`], in [`Framing::ALL`]'s order.
    logs: [Arc<OutboundLog>; 3],
    /// The logs the registered peers read from, one bit each; changed only under the table's
    /// lock, read without it by every send.
    logs_in_use: AtomicU8,
    /// Tells every hub apart, for the peer lists senders keep.
    id: u64,
    /// How many times the peer list changed; changed only under the table's lock.
    generation: AtomicU64,
    /// Sockets in a handshake, not yet a registered peer's, which shutting down must wake.
    handshaking: Mutex<Vec<(u64, TcpStream)>>,
    next_watch: AtomicU64,
}

/// A socket in a handshake, watched until dropped: shutting down shuts it down, which wakes a
/// thread blocked reading it.
pub(crate) struct Watched<'h> {
    hub: &'h Hub,
    key: u64,
}

impl Drop for Watched<'_> {
    fn drop(&mut self) {
        lock(&self.hub.handshaking).retain(|(key, _)| *key != self.key);
    }
}

thread_local! {
    /// Where a message sent to several peers is encoded once before it is copied to each.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// The peer list this thread last sent to, so a send need not take the table's lock while
    /// no peer comes or goes.
    static KEPT_LIST: RefCell<Option<KeptList>> = const { RefCell::new(None) };
}

/// Numbers the hubs.
static HUBS: AtomicU64 = AtomicU64::new(0);

impl Hub {
    pub(crate) fn new(
        inbound: Sender<Inbound>,
        stop: StopSignal,
        options: HostOptions,
        keep_while_disconnected: usize,
    ) -> Self {
        Hub {
            table: Mutex::default(),
            inbound,
            stop,
            options,
            keep_while_disconnected,
            next_peer: AtomicU64::new(1),
            threads: ThreadSet::default(),
            counters: Arc::default(),
            logs: Framing::ALL
                .map(|framing| OutboundLog::new(options.outbound_queue_bytes, framing)),
            logs_in_use: AtomicU8::new(0),
            handshaking: Mutex::default(),
            next_watch: AtomicU64::new(0),
            id: HUBS.fetch_add(1, Ordering::Relaxed),
            generation: AtomicU64::new(0),
        }
    }

    /// Watches a socket through its handshake; `None` if the host has already shut down (or the
    /// socket cannot be shared), in which case the handshake should not start.
    pub(crate) fn watch(&self, socket: &TcpStream) -> Option<Watched<'_>> {
        let key = self.next_watch.fetch_add(1, Ordering::Relaxed);
        lock(&self.handshaking).push((key, socket.try_clone().ok()?));
        let watched = Watched { hub: self, key };
        // Shutting down wakes the sockets watched when it looks, after raising the stop signal.
        (!self.stop.is_stopped()).then_some(watched)
    }

    /// Wakes every thread blocked in a handshake (the host is shutting down).
    pub(crate) fn wake_handshakes(&self) {
        for (_, socket) in lock(&self.handshaking).iter() {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
    }

    pub(crate) fn next_peer_id(&self) -> PeerId {
        PeerId(self.next_peer.fetch_add(1, Ordering::Relaxed))
    }

    /// Hands a delivery to the host, waiting while its queue is full (which slows the peers down
    /// through TCP flow control); returns `false` once the host has shut down.
    pub(crate) fn deliver(&self, inbound: Inbound) -> bool {
        // Even while shutting down, a delivery is kept when there is room, so a host that cloned
        // the receiver sees how its connections ended.
        match self.inbound.try_send(inbound) {
            Ok(()) => !self.stop.is_stopped(),
            Err(TrySendError::Disconnected(_)) => false,
            Err(TrySendError::Full(inbound)) => select! {
                send(self.inbound, inbound) -> sent => sent.is_ok(),
                recv(self.stop.receiver()) -> _ => false,
            },
        }
    }

    /// Hands one event to the host; see [`deliver`](Self::deliver).
    pub(crate) fn emit(&self, event: Event) -> bool {
        self.deliver(Inbound::event(event))
    }

    /// The reader's end of a new peer's inbound stream.
    pub(crate) fn peer_stream(&self, id: PeerId, max_line_length: usize) -> PeerStream {
        PeerStream::new(id, max_line_length, Arc::clone(&self.counters))
    }

    /// A new, empty outbox for a peer, and the doorbell its writer waits on. It takes broadcasts
    /// once the peer is registered.
    pub(crate) fn outbox(&self, framing: Framing) -> (Outbox, Doorbell) {
        self.logs[framing.index()].reader()
    }

    /// Adds a connected peer. Messages kept while no one was connected go to it first, in order. A
    /// peer that registers after the host began shutting down is told to stop at once.
    pub(crate) fn register(&self, peer: &Arc<PeerShared>) {
        let mut table = lock(&self.table);
        if table.dropped_in_outage > 0 {
            log::warn!(
                "dropped {} outbound messages while no peer was connected",
                table.dropped_in_outage
            );
            table.dropped_in_outage = 0;
        }
        let kept = std::mem::take(&mut table.backlog);
        peer.outbox
            .register(kept.iter().map(|(payload, wire)| (*payload, &wire[..])));
        table.peers = table.peers.iter().chain([peer]).cloned().collect();
        self.logs_in_use
            .store(logs_of(&table.peers), Ordering::Release);
        self.generation.fetch_add(1, Ordering::Release);
        drop(table);
        // The host may have shut down while this peer was connecting; shutting down stops only the
        // peers registered when it looked, and it looked after raising the stop signal.
        if self.stop.is_stopped() {
            peer.note_reason(DisconnectReason::ShutDown);
            peer.stop_reading();
        }
    }

    /// Removes a peer; its outbox is closed next (see [`close_outbox`](Self::close_outbox)).
    pub(crate) fn unregister(&self, id: PeerId) {
        let mut table = lock(&self.table);
        table.peers = table
            .peers
            .iter()
            .filter(|peer| peer.id != id)
            .cloned()
            .collect();
        self.logs_in_use
            .store(logs_of(&table.peers), Ordering::Release);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Closes a leaving peer's outbox, so that nothing more is queued for it.
    pub(crate) fn close_outbox(&self, peer: &PeerShared) {
        peer.outbox.close();
    }

    /// Runs `send` with the peers connected now. The list this thread kept from its last send
    /// serves while no peer has come or gone since, which one atomic load tells; otherwise it is
    /// fetched anew under the table's lock. A peer that is just leaving may still be in it: its
    /// outbox then refuses, and the refusal is counted.
    #[inline]
    fn with_peers<R>(&self, send: impl FnOnce(&[Arc<PeerShared>]) -> R) -> R {
        KEPT_LIST.with(|kept| {
            let mut kept = kept.borrow_mut();
            let generation = self.generation.load(Ordering::Acquire);
            let fresh = matches!(&*kept, Some(list) if list.hub == self.id && list.generation == generation);
            if !fresh {
                let table = lock(&self.table);
                *kept = Some(KeptList {
                    hub: self.id,
                    generation: self.generation.load(Ordering::Acquire),
                    peers: Arc::clone(&table.peers),
                });
            }
            send(&kept.as_ref().expect("kept above").peers)
        })
    }

    /// The peers connected now.
    pub(crate) fn peers(&self) -> Vec<Arc<PeerShared>> {
        lock(&self.table).peers.to_vec()
    }

    /// Queues the message `encode` writes for every peer, or for the backlog when none is
    /// connected. Returns how many peers it was queued for. Peers reading one log (the usual
    /// case: every peer of one kind) get it encoded straight into that log, once; peers reading
    /// several logs get copies of one encoding, one per log.
    #[inline]
    pub(crate) fn send_to_all<E>(
        &self,
        payload: Payload,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<usize, E> {
        // The log is found without the peer list: one load says which logs peers read.
        let logs = self.logs_in_use.load(Ordering::Acquire);
        let queued = if logs.count_ones() == 1 {
            // Counted as sent in the log, under the lock this takes anyway: an atomic counter
            // here would wait for the bytes just written to leave this core's buffers.
            let log = &self.logs[logs.trailing_zeros() as usize];
            match log.broadcast(payload, true, encode)? {
                Broadcast::Queued {
                    peers: queued,
                    refused,
                } => {
                    if refused {
                        self.refuse(&self.peers(), log);
                    }
                    Ok(queued)
                }
                Broadcast::NoReader(encode) => Err(encode),
            }
        } else {
            Err(encode)
        };
        match queued {
            Ok(queued) => Ok(queued),
            // No peer or several kinds, as this thread saw it: `encode` comes back unused.
            Err(encode) => SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                scratch.clear();
                encode(&mut scratch)?;
                let queued = self.send_encoded(payload, &scratch);
                if scratch.capacity() > 64 * 1024 {
                    *scratch = Vec::new();
                }
                Ok(queued)
            }),
        }
    }

    /// Queues an encoded message for every peer, once per log they read; with no peer
    /// connected, keeps it for the next peer or drops it and counts the drop. Returns how many
    /// peers it was queued for.
    fn send_encoded(&self, payload: Payload, wire: &[u8]) -> usize {
        let peers = {
            let mut table = lock(&self.table);
            if table.peers.is_empty() {
                self.keep_or_drop(&mut table, payload, wire.to_vec());
                return 0;
            }
            Arc::clone(&table.peers)
        };
        let mut queued = 0;
        let mut refused_any = false;
        for (index, log) in self.logs.iter().enumerate() {
            if logs_of(&peers) & (1 << index) == 0 {
                continue;
            }
            let copy = |bytes: &mut Vec<u8>| {
                bytes.extend_from_slice(wire);
                Ok::<(), std::convert::Infallible>(())
            };
            let Ok(broadcast) = log.broadcast(payload, false, copy);
            if let Broadcast::Queued { peers: to, refused } = broadcast {
                queued += to;
                if refused {
                    refused_any = true;
                    self.refuse(&peers, log);
                }
            }
        }
        if queued > 0 {
            Counters::add(&self.counters.sent, 1);
        } else if !refused_any {
            // Every peer left in the meantime.
            self.keep_or_drop(&mut lock(&self.table), payload, wire.to_vec());
        }
        queued
    }

    /// Counts and disconnects the peers a broadcast refused, being too far behind.
    fn refuse(&self, peers: &[Arc<PeerShared>], log: &Arc<OutboundLog>) {
        for (key, queued_bytes) in log.take_refused() {
            let reads = |peer: &&Arc<PeerShared>| {
                Arc::ptr_eq(peer.outbox.log(), log) && peer.outbox.key() == key
            };
            let found = peers.iter().find(reads).cloned();
            // A peer registered since this thread's list was made is in the table.
            let found = found.or_else(|| lock(&self.table).peers.iter().find(reads).cloned());
            match found {
                Some(peer) => {
                    self.account(&peer, Pushed::Full { queued_bytes });
                }
                None => {
                    Counters::add(&self.counters.dropped_peer_too_slow, 1);
                }
            }
        }
    }

    /// Queues the message `encode` writes for one peer.
    pub(crate) fn send_to<E>(
        &self,
        id: PeerId,
        payload: Payload,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<SentTo, E> {
        self.with_peers(|peers| {
            let Some(peer) = peers.iter().find(|peer| peer.id == id) else {
                return Ok(SentTo::NoSuchPeer);
            };
            let pushed = peer.outbox.push_with(payload, true, encode)?;
            self.account(peer, pushed);
            Ok(match pushed {
                Pushed::Queued => SentTo::Queued,
                Pushed::Full { .. } => SentTo::Dropped(DropCause::PeerTooSlow),
                Pushed::Closed => SentTo::Dropped(DropCause::PeerLeaving),
            })
        })
    }

    /// Counts a push that was refused; a full outbox means the peer is too slow for this
    /// connection, and it is disconnected so that the host and the other peers go on unhindered.
    /// Returns whether the message was queued.
    fn account(&self, peer: &PeerShared, pushed: Pushed) -> bool {
        match pushed {
            Pushed::Queued => true,
            Pushed::Full { queued_bytes } => {
                Counters::add(&self.counters.dropped_peer_too_slow, 1);
                let limit = self.options.outbound_queue_bytes;
                if peer.reason().is_none() {
                    Counters::add(&self.counters.slow_peers, 1);
                    log::warn!(
                        "{} {}: disconnecting, it is not reading: {queued_bytes} bytes are queued for it, the limit is {limit}",
                        peer.id,
                        peer.address,
                    );
                }
                peer.close(DisconnectReason::TooSlow {
                    queued_bytes,
                    limit,
                });
                false
            }
            Pushed::Closed => {
                // Counted among the drops at disconnect: the peer is leaving and its writer has
                // stopped taking messages.
                Counters::add(&self.counters.dropped_at_disconnect, 1);
                false
            }
        }
    }

    fn keep_or_drop(&self, table: &mut Table, payload: Payload, wire: Vec<u8>) {
        let keep = self.keep_while_disconnected;
        if keep > 0 {
            if table.backlog.len() == keep {
                table.backlog.pop_front();
                let dropped = Counters::add(&self.counters.dropped_from_backlog, 1);
                if dropped == 1 || dropped.is_power_of_two() {
                    log::warn!("no peer connected and {keep} messages kept: dropped the oldest ({dropped} so far)");
                }
            }
            table.backlog.push_back((payload, wire));
            return;
        }
        Counters::add(&self.counters.dropped_without_peer, 1);
        if table.dropped_in_outage == 0 {
            log::warn!("no peer connected: dropping outbound messages until one connects");
        }
        table.dropped_in_outage += 1;
    }

    pub(crate) fn note_refused(&self) {
        Counters::add(&self.counters.refused_peers, 1);
    }

    /// Counts messages that were queued for a peer but never written.
    pub(crate) fn note_discarded(&self, messages: u64) {
        if messages > 0 {
            Counters::add(&self.counters.dropped_at_disconnect, messages);
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        let table = lock(&self.table);
        let mut stats = self
            .counters
            .snapshot(table.peers.len(), table.backlog.len());
        drop(table);
        stats.sent += self.logs.iter().map(|log| log.sent()).sum::<u64>();
        stats
    }
}

/// The logs `peers` read from, one bit per [`Framing::index`].
fn logs_of(peers: &[Arc<PeerShared>]) -> u8 {
    peers.iter().fold(0, |logs, peer| {
        logs | 1 << peer.outbox.log().framing().index()
    })
}

/// Locks a mutex, going on with the data if a thread panicked while holding it: every structure
/// here stays consistent between statements, so a panic elsewhere must not take the host down too.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
