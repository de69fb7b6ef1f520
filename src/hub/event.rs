//! What the library tells the host about connections, and the names it gives them.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::codec::{DecodeError, Item};

/// Identifies one connection for as long as the [`Remote`](crate::Remote) runs; a peer that reconnects gets a new id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub(crate) u64);

impl PeerId {
    /// The number behind the id, unique within one [`Remote`](crate::Remote).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer #{}", self.0)
    }
}

/// Which transport a connection belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// Accepted by the TCP server.
    TcpServer,
    /// Made by the TCP client.
    TcpClient,
    /// Made by the WebSocket client.
    WebSocketClient,
    /// Accepted by the WebSocket server.
    WebSocketServer,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::TcpServer => "TCP server",
            Transport::TcpClient => "TCP client",
            Transport::WebSocketClient => "WebSocket client",
            Transport::WebSocketServer => "WebSocket server",
        })
    }
}

/// What the transports tell the host.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A peer connected. The command-line tool writes this as `REMOTE_EVENT_CONNECTED|<ip>`.
    Connected {
        /// The new connection.
        peer: PeerId,
        /// The peer's address.
        address: SocketAddr,
        /// Which transport it came through.
        transport: Transport,
    },
    /// A peer sent an item.
    Item {
        /// Who sent it.
        peer: PeerId,
        /// What it sent.
        item: Item<'static>,
    },
    /// A peer sent bytes that could not be decoded as sent; see [`DecodeError`] for what was kept.
    DecodeError {
        /// Who sent them.
        peer: PeerId,
        /// What was wrong.
        error: DecodeError,
    },
    /// A connection ended. The command-line tool writes this as `REMOTE_EVENT_DISCONNECTED|<ip>`.
    Disconnected {
        /// The connection that ended.
        peer: PeerId,
        /// The peer's address.
        address: SocketAddr,
        /// Which transport it came through.
        transport: Transport,
        /// Why it ended.
        reason: DisconnectReason,
    },
    /// A peer was turned away because the server already serves its limit of peers.
    Refused {
        /// The address of the turned-away peer.
        address: SocketAddr,
        /// The limit that was reached.
        max_peers: usize,
    },
    /// A transport stopped working because one of its own threads (a server's acceptor, a client's
    /// connector) failed unexpectedly; it accepts or connects no more. A bug worth reporting.
    TransportStopped {
        /// Which transport stopped.
        transport: Transport,
        /// What happened, in words.
        reason: String,
    },
    /// A client stopped trying to connect: its retries ran out.
    GaveUp {
        /// Which transport gave up.
        transport: Transport,
        /// Where it was trying to connect.
        target: String,
        /// The last failure, in words.
        reason: String,
    },
}

impl Event {
    /// The peer the event is about, if it is about one.
    pub fn peer(&self) -> Option<PeerId> {
        match self {
            Event::Connected { peer, .. }
            | Event::Item { peer, .. }
            | Event::DecodeError { peer, .. }
            | Event::Disconnected { peer, .. } => Some(*peer),
            Event::Refused { .. } | Event::TransportStopped { .. } | Event::GaveUp { .. } => None,
        }
    }
}

/// A connected peer, as [`Remote::peers`](crate::Remote::peers) lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerInfo {
    /// Its id.
    pub id: PeerId,
    /// Its address.
    pub address: SocketAddr,
    /// The transport it is connected through.
    pub transport: Transport,
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The peer closed the connection.
    ClosedByPeer,
    /// Reading from the peer failed.
    ReadFailed(String),
    /// Writing to the peer failed.
    WriteFailed(String),
    /// The peer did not read what was sent to it until its queue reached the limit.
    TooSlow {
        /// Bytes queued for it when it was disconnected.
        queued_bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The link was found dead: nothing arrived within the deadline after a WebSocket Ping (see
    /// [`PingPolicy`](crate::PingPolicy)).
    PingTimeout {
        /// How long nothing had arrived when the link was declared dead.
        silent_for: Duration,
    },
    /// The host asked for this peer to be disconnected.
    DisconnectedByHost,
    /// The host shut the library down.
    ShutDown,
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::ClosedByPeer => f.write_str("closed by the peer"),
            DisconnectReason::ReadFailed(why) => write!(f, "reading failed: {why}"),
            DisconnectReason::WriteFailed(why) => write!(f, "writing failed: {why}"),
            DisconnectReason::TooSlow {
                queued_bytes,
                limit,
            } => write!(
                f,
                "not reading: {queued_bytes} bytes queued for it, the limit is {limit}"
            ),
            DisconnectReason::PingTimeout { silent_for } => write!(
                f,
                "no answer to a ping: nothing received for {:.1} s",
                silent_for.as_secs_f64()
            ),
            DisconnectReason::DisconnectedByHost => f.write_str("disconnected by the host"),
            DisconnectReason::ShutDown => f.write_str("shut down"),
        }
    }
}
