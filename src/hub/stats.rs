//! Counters of what was sent and dropped, kept with atomics so that every thread can count without a
//! lock, and read by the host as one [`Stats`] value.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters since the [`Remote`](crate::Remote) started. Every message the library does not deliver
/// is counted here, by cause, and logged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Peers connected now.
    pub peers: usize,
    /// Messages kept now for the next peer to connect.
    pub kept_while_disconnected: usize,
    /// Messages queued for at least one peer.
    pub sent: u64,
    /// Messages dropped because no peer was connected (and none are kept).
    pub dropped_without_peer: u64,
    /// Kept messages dropped, oldest first, because more than the limit waited for a peer.
    pub dropped_from_backlog: u64,
    /// Copies of messages not queued for a peer because its queue was full; the peer is
    /// disconnected as too slow. One per peer and message.
    pub dropped_peer_too_slow: u64,
    /// Copies of messages a peer did not get because it was leaving: queued but not written
    /// before it left (it closed, failed, or did not read within the flush timeout), or refused
    /// because its connection had begun to close. One per peer and message; a write that failed
    /// part-way counts all the messages it held.
    pub dropped_at_disconnect: u64,
    /// Peers disconnected because they did not read.
    pub slow_peers_disconnected: u64,
    /// Peers turned away over the peer limit.
    pub peers_refused: u64,
    /// Inbound bytes that could not be decoded as sent.
    pub decode_errors: u64,
}

/// Why a message did not reach a peer's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropCause {
    /// No peer was connected.
    NoPeer,
    /// The peer's queue was full: it is not reading, and is disconnected.
    PeerTooSlow,
    /// The peer is leaving and takes no more messages.
    PeerLeaving,
}

impl fmt::Display for DropCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DropCause::NoPeer => "no peer is connected",
            DropCause::PeerTooSlow => "the peer is not reading and its queue is full",
            DropCause::PeerLeaving => "the peer is disconnecting",
        })
    }
}

/// The counters behind [`Stats`], shared by every thread of one [`Remote`](crate::Remote).
#[derive(Default)]
pub(crate) struct Counters {
    pub sent: AtomicU64,
    pub dropped_without_peer: AtomicU64,
    pub dropped_from_backlog: AtomicU64,
    pub dropped_peer_too_slow: AtomicU64,
    pub dropped_at_disconnect: AtomicU64,
    pub slow_peers: AtomicU64,
    pub refused_peers: AtomicU64,
    pub decode_errors: AtomicU64,
}

impl Counters {
    /// Adds `count` to `counter`; returns the new total.
    pub(crate) fn add(counter: &AtomicU64, count: u64) -> u64 {
        counter.fetch_add(count, Ordering::Relaxed) + count
    }

    /// The counters as the host sees them; `peers` and `kept` come from the peer table.
    pub(crate) fn snapshot(&self, peers: usize, kept: usize) -> Stats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Stats {
            peers,
            kept_while_disconnected: kept,
            sent: read(&self.sent),
            dropped_without_peer: read(&self.dropped_without_peer),
            dropped_from_backlog: read(&self.dropped_from_backlog),
            dropped_peer_too_slow: read(&self.dropped_peer_too_slow),
            dropped_at_disconnect: read(&self.dropped_at_disconnect),
            slow_peers_disconnected: read(&self.slow_peers),
            peers_refused: read(&self.refused_peers),
            decode_errors: read(&self.decode_errors),
        }
    }
}
