//! The host API: start the transports a [`Config`] names and exchange items with every peer through
//! channels, from plain synchronous code.
//!
//! [`Remote`] owns every thread the library starts. The host sends without blocking (each peer has a
//! bounded queue of its own) and receives [`Event`]s from one bounded channel. Dropping the handle, or
//! [`Remote::shutdown`], closes every connection and joins every thread.

mod hub;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvError, RecvTimeoutError, Sender, TryRecvError};

use crate::codec::{encode, encode_line, DecodeError, Item, Message};
use crate::config::Config;
use crate::transport::{listener, tcp_client, tcp_server, websocket_client, websocket_server};
use crate::Error;

pub(crate) use hub::{lock, Hub, Limits, PeerShared, StopSignal, Wire};

/// Identifies one connection for as long as the [`Remote`] runs; a peer that reconnects gets a new id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub(crate) u64);

impl PeerId {
    /// The number behind the id, unique within one [`Remote`].
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

/// A connected peer, as [`Remote::peers`] lists it.
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
            DisconnectReason::DisconnectedByHost => f.write_str("disconnected by the host"),
            DisconnectReason::ShutDown => f.write_str("shut down"),
        }
    }
}

/// Counters since the [`Remote`] started; every message the library drops is counted here (and
/// logged).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Peers connected now.
    pub peers: usize,
    /// Messages kept now for the next peer to connect.
    pub kept_while_disconnected: usize,
    /// Messages the host sent while at least one peer was connected.
    pub sent: u64,
    /// Messages dropped because no peer was connected (and none are kept).
    pub dropped_without_peer: u64,
    /// Kept messages dropped, oldest first, because more than the limit waited for a peer.
    pub dropped_from_backlog: u64,
    /// Peers disconnected because they did not read.
    pub slow_peers_disconnected: u64,
    /// Peers turned away over the peer limit.
    pub peers_refused: u64,
    /// Inbound bytes that could not be decoded as sent.
    pub decode_errors: u64,
}

/// Tuning for the host side of the library, with defaults that suit an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostOptions {
    /// Bytes that may wait in one peer's outbound queue; a peer whose queue would pass this is
    /// disconnected as too slow. Default 4 MiB.
    pub outbound_queue_bytes: usize,
    /// Events that may wait for the host; while the queue is full, peers' readers wait too, and
    /// TCP slows the peers down. Default 1024.
    pub event_queue_length: usize,
    /// How long closing a connection waits for its queued messages to be written. Default 1 s.
    pub flush_timeout: Duration,
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions {
            outbound_queue_bytes: 4 << 20,
            event_queue_length: 1024,
            flush_timeout: Duration::from_secs(1),
        }
    }
}

/// The running transports: send to peers, receive events, shut down.
///
/// ```no_run
/// use mmdagent_remote::{Config, Event, Item, Message, Remote, TcpServerConfig};
///
/// let mut config = Config::default();
/// config.tcp_server = Some(TcpServerConfig::new(50001));
/// let remote = Remote::start(&config)?;
/// for event in remote.events() {
///     if let Event::Item { item: Item::Message(message), .. } = event {
///         println!("received {message}");
///         remote.send(&Item::Message(Message::new("REPLY", message.args())))?;
///     }
/// }
/// # Ok::<(), mmdagent_remote::Error>(())
/// ```
pub struct Remote {
    hub: Arc<Hub>,
    events: Receiver<Event>,
    stop: Option<Sender<()>>,
    tcp_server: Option<listener::Listening>,
    websocket_server: Option<listener::Listening>,
    options: HostOptions,
}

impl Remote {
    /// Starts every transport the configuration names, with default [`HostOptions`].
    ///
    /// A server binds before this returns, so a port in use is an error here; a client connects
    /// in the background and reports through [`Event`]s.
    pub fn start(config: &Config) -> Result<Remote, Error> {
        Remote::start_with(config, HostOptions::default())
    }

    /// Starts every transport the configuration names.
    pub fn start_with(config: &Config, options: HostOptions) -> Result<Remote, Error> {
        let (events_in, events) = crossbeam_channel::bounded(options.event_queue_length.max(1));
        let (stop, stop_signal) = StopSignal::new();
        let limits = Limits {
            outbound_queue_bytes: options.outbound_queue_bytes.max(1),
            keep_while_disconnected: config.keep_while_disconnected,
        };
        let hub = Arc::new(Hub::new(events_in, stop_signal, limits));
        let mut remote = Remote {
            hub,
            events,
            stop: Some(stop),
            tcp_server: None,
            websocket_server: None,
            options,
        };
        if let Some(server) = &config.tcp_server {
            remote.tcp_server = Some(tcp_server::start(
                &remote.hub,
                server,
                config.max_line_length,
                options,
            )?);
        }
        if let Some(client) = &config.tcp_client {
            tcp_client::start(&remote.hub, client, config.max_line_length, options)?;
        }
        if let Some(server) = &config.websocket_server {
            remote.websocket_server = Some(websocket_server::start(
                &remote.hub,
                server,
                config.max_line_length,
                options,
            )?);
        }
        if let Some(client) = &config.websocket_client {
            websocket_client::start(&remote.hub, client, config.max_line_length, options)?;
        }
        Ok(remote)
    }

    /// The address the TCP server listens on, if one runs (useful when it was asked for port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.tcp_server.as_ref().map(listener::Listening::address)
    }

    /// The address the WebSocket server listens on, if one runs.
    pub fn websocket_addr(&self) -> Option<SocketAddr> {
        self.websocket_server
            .as_ref()
            .map(listener::Listening::address)
    }

    /// Sends an item to every connected peer, without waiting; returns how many peers it was
    /// queued for.
    ///
    /// With no peer connected the item is dropped, counted and logged once per outage, as the
    /// original drops it; or kept for the next peer, up to [`Config::keep_while_disconnected`]. A peer
    /// whose queue is full is disconnected rather than waited for. Fails only for an item that
    /// cannot be encoded.
    pub fn send(&self, item: &Item<'_>) -> Result<usize, Error> {
        let wire = self.encode(item)?;
        Ok(self.hub.send_to_all(wire))
    }

    /// Sends a message `name|args` to every connected peer; see [`send`](Self::send).
    pub fn send_message(&self, name: &str, args: &str) -> Result<usize, Error> {
        self.send(&Item::Message(Message::new(name, args)))
    }

    /// Sends one line as it is (a line end is added) to every connected peer, as a person typing to
    /// the agent would; see [`encode_line`](crate::encode_line) for what is refused. Returns how many
    /// peers it was queued for, like [`send`](Self::send).
    pub fn send_line(&self, line: &str) -> Result<usize, Error> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        encode_line(line, &mut bytes)?;
        Ok(self.hub.send_to_all(Wire::from(bytes)))
    }

    /// Sends an item to one peer, without waiting. Fails if that peer is not connected (now), or for
    /// an item that cannot be encoded. As with [`send`](Self::send), a peer whose queue is full is
    /// disconnected as too slow rather than waited for; the item is then dropped, and counted.
    pub fn send_to(&self, peer: PeerId, item: &Item<'_>) -> Result<(), Error> {
        let wire = self.encode(item)?;
        if self.hub.send_to(peer, wire) {
            Ok(())
        } else {
            Err(Error::NoSuchPeer(peer))
        }
    }

    fn encode(&self, item: &Item<'_>) -> Result<Wire, Error> {
        let mut bytes = Vec::new();
        encode(item, &mut bytes)?;
        Ok(Wire::from(bytes))
    }

    /// Closes one peer's connection after writing what is queued for it (for at most
    /// [`HostOptions::flush_timeout`]); a [`Event::Disconnected`] follows. Fails if it is not
    /// connected.
    pub fn disconnect(&self, peer: PeerId) -> Result<(), Error> {
        let found = self
            .hub
            .peers()
            .into_iter()
            .find(|shared| shared.id == peer);
        match found {
            Some(shared) => {
                shared.note_reason(DisconnectReason::DisconnectedByHost);
                shared.stop_reading();
                Ok(())
            }
            None => Err(Error::NoSuchPeer(peer)),
        }
    }

    /// The peers connected now.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.hub
            .peers()
            .iter()
            .map(|shared| PeerInfo {
                id: shared.id,
                address: shared.address,
                transport: shared.transport,
            })
            .collect()
    }

    /// Waits for the next event.
    pub fn recv(&self) -> Result<Event, RecvError> {
        self.events.recv()
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Result<Event, TryRecvError> {
        self.events.try_recv()
    }

    /// Waits for the next event at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Event, RecvTimeoutError> {
        self.events.recv_timeout(timeout)
    }

    /// The event channel itself, to iterate over or to wait on with `crossbeam_channel::select!`
    /// together with the host's own channels.
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    /// Counters of what was sent and dropped so far.
    pub fn stats(&self) -> Stats {
        self.hub.stats()
    }

    /// Closes every connection (writing what is queued for each first, for at most
    /// [`HostOptions::flush_timeout`]), stops every thread and waits for them to end.
    ///
    /// Fails if a library thread panicked, which is a bug worth reporting.
    pub fn shutdown(mut self) -> Result<(), Error> {
        self.close()
    }

    fn close(&mut self) -> Result<(), Error> {
        let Some(stop) = self.stop.take() else {
            return Ok(());
        };
        drop(stop);
        if let Some(server) = &self.tcp_server {
            server.wake(self.options.flush_timeout);
        }
        if let Some(server) = &self.websocket_server {
            server.wake(self.options.flush_timeout);
        }
        for peer in self.hub.peers() {
            peer.note_reason(DisconnectReason::ShutDown);
            peer.stop_reading();
        }
        loop {
            let threads = self.hub.take_threads();
            if threads.is_empty() {
                break;
            }
            for thread in threads {
                self.hub.join(thread);
            }
        }
        let panicked = self.hub.panicked();
        if panicked.is_empty() {
            Ok(())
        } else {
            Err(Error::ThreadPanicked(panicked.join(", ")))
        }
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        if let Err(error) = self.close() {
            log::error!("{error}");
        }
    }
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("local_addr", &self.local_addr())
            .field("stats", &self.stats())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handle_and_its_events_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Remote>();
        shareable::<Event>();
        shareable::<Error>();
    }

    #[test]
    fn disconnect_reasons_read_as_sentences() {
        let slow = DisconnectReason::TooSlow {
            queued_bytes: 10,
            limit: 8,
        };
        assert_eq!(
            slow.to_string(),
            "not reading: 10 bytes queued for it, the limit is 8"
        );
        assert_eq!(PeerId(3).to_string(), "peer #3");
    }
}
