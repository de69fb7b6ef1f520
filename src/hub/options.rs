//! Tuning for the host side of the library.

use std::time::Duration;

/// Tuning for the host side of the library, with defaults that suit an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostOptions {
    /// Bytes that may wait for one peer; a peer that would have more waiting is disconnected as
    /// too slow. Peers of one kind share one outbound log, and this bounds how far behind its end
    /// a peer may lag: the bytes counted are those stored after its position, which include a
    /// 24-byte header per run of messages (one per burst) and the rare records for other peers
    /// (a message sent to one peer alone, a WebSocket pong). Default 4 MiB.
    pub outbound_queue_bytes: usize,
    /// Deliveries that may wait for the host: each is one read from one peer or one connection
    /// event. A TCP read is at most 32 KiB, so at most this many times 32 KiB wait; a WebSocket
    /// read also holds the messages it completed, each up to the connection's largest frame size
    /// (1 MiB by default), so set this lower for many WebSocket peers sending large messages.
    /// While the queue is full, peers' readers wait too, and TCP slows the peers down. Default 256.
    pub event_queue_length: usize,
    /// How long closing a connection waits for its queued messages to be written. Default 1 s.
    pub flush_timeout: Duration,
    /// Where the unit tests make library threads panic on purpose.
    #[cfg(test)]
    pub(crate) faults: crate::hub::fault::Faults,
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions {
            outbound_queue_bytes: 4 << 20,
            event_queue_length: 256,
            flush_timeout: Duration::from_secs(1),
            #[cfg(test)]
            faults: crate::hub::fault::Faults::default(),
        }
    }
}
