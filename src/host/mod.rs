//! The host API: start the transports a [`Config`] names and exchange items with every peer from
//! plain synchronous code.
//!
//! [`Remote`] owns every thread the library starts. The host sends without blocking: each message
//! is encoded once, straight into the outbound log its peers' writers read from. It receives [`Event`]s one at a time
//! ([`Remote::recv`]), or whole reads at once with items borrowed from the bytes as they arrived
//! ([`Remote::inbound`] and [`Inbound::decode`]). Dropping the handle, or [`Remote::shutdown`],
//! closes every connection and joins every thread.

#[cfg(test)]
mod fault_tests;
mod receive;

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::codec::{encode, encode_line, encode_message_parts, Item};
use crate::config::Config;
use crate::error::Error;
use crate::hub::{
    lock, DisconnectReason, Event, HostOptions, Hub, Inbound, Payload, PeerId, PeerInfo, SentTo,
    Stats, StopSignal,
};
use crate::transport::listener::Listening;
use crate::transport::{tcp_client, tcp_server, websocket_client, websocket_server};

pub use receive::{Events, RecvError, RecvTimeoutError, TryRecvError};

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
    inbound: Receiver<Inbound>,
    /// Events decoded from a delivery and not yet handed out by `recv`, and whether a thread is
    /// receiving the next delivery now.
    receiving: Mutex<Receiving>,
    /// Rung when a receiving thread is done, for the threads that waited for it.
    received: Condvar,
    stop: Option<Sender<()>>,
    tcp_server: Option<Listening>,
    websocket_server: Option<Listening>,
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
        let (inbound_in, inbound) = crossbeam_channel::bounded(options.event_queue_length.max(1));
        let (stop, stop_signal) = StopSignal::new();
        let hub = Arc::new(Hub::new(
            inbound_in,
            stop_signal,
            options,
            config.keep_while_disconnected,
        ));
        let mut remote = Remote {
            hub,
            inbound,
            receiving: Mutex::default(),
            received: Condvar::new(),
            stop: Some(stop),
            tcp_server: None,
            websocket_server: None,
        };
        let max_line_length = config.max_line_length;
        if let Some(server) = &config.tcp_server {
            remote.tcp_server = Some(tcp_server::start(&remote.hub, server, max_line_length)?);
        }
        if let Some(client) = &config.tcp_client {
            tcp_client::start(&remote.hub, client, max_line_length)?;
        }
        if let Some(server) = &config.websocket_server {
            remote.websocket_server = Some(websocket_server::start(
                &remote.hub,
                server,
                max_line_length,
            )?);
        }
        if let Some(client) = &config.websocket_client {
            websocket_client::start(&remote.hub, client, max_line_length)?;
        }
        Ok(remote)
    }

    /// The address the TCP server listens on, if one runs (useful when it was asked for port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.tcp_server.as_ref().map(Listening::address)
    }

    /// The address the WebSocket server listens on, if one runs.
    pub fn websocket_addr(&self) -> Option<SocketAddr> {
        self.websocket_server.as_ref().map(Listening::address)
    }

    /// Sends an item to every connected peer, without waiting; returns how many peers it was
    /// queued for.
    ///
    /// The item is encoded once, straight into the outbound log the peers read from, however many
    /// they are. With no peer connected it is dropped, counted and logged once per outage, as the
    /// original drops it; or kept for the next peer, up to [`Config::keep_while_disconnected`]. A
    /// peer that lags more than [`HostOptions::outbound_queue_bytes`] behind is disconnected
    /// rather than waited for, and the copy it missed is counted. Fails only for an
    /// item that cannot be encoded.
    pub fn send(&self, item: &Item<'_>) -> Result<usize, Error> {
        // Called from two places in `send_to_all`, the encoder would be left out of line, and a
        // call there costs a tenth of a send.
        Ok(self.hub.send_to_all(
            payload_of(item),
            #[inline(always)]
            |out| encode(item, out),
        )?)
    }

    /// Sends a message `name|args` to every connected peer; see [`send`](Self::send).
    pub fn send_message(&self, name: &str, args: &str) -> Result<usize, Error> {
        Ok(self
            .hub
            .send_to_all(Payload::Text, |out| encode_message_parts(name, args, out))?)
    }

    /// Sends one line as it is (a line end is added) to every connected peer, as a person typing to
    /// the agent would; see [`encode_line`](crate::encode_line) for what is refused. Returns how many
    /// peers it was queued for, like [`send`](Self::send).
    pub fn send_line(&self, line: &str) -> Result<usize, Error> {
        Ok(self
            .hub
            .send_to_all(Payload::Text, |out| encode_line(line, out))?)
    }

    /// Sends an item to one peer, without waiting. Fails if that peer is not connected (now), for
    /// an item that cannot be encoded, and with [`Error::Dropped`] when the item was not queued:
    /// the peer's outbox is full (it is then disconnected as too slow) or it is leaving.
    pub fn send_to(&self, peer: PeerId, item: &Item<'_>) -> Result<(), Error> {
        match self
            .hub
            .send_to(peer, payload_of(item), |out| encode(item, out))?
        {
            SentTo::Queued => Ok(()),
            SentTo::Dropped(cause) => Err(Error::Dropped { peer, cause }),
            SentTo::NoSuchPeer => Err(Error::NoSuchPeer(peer)),
        }
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

    /// Waits for the next event. Fails once the library has shut down and every event was taken.
    pub fn recv(&self) -> Result<Event, RecvError> {
        self.next_event(Wait::Forever).map_err(|_| RecvError)
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Result<Event, TryRecvError> {
        self.next_event(Wait::Not).map_err(|error| match error {
            RecvTimeoutError::Timeout => TryRecvError::Empty,
            RecvTimeoutError::Disconnected => TryRecvError::Disconnected,
        })
    }

    /// Waits for the next event at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Event, RecvTimeoutError> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.next_event(Wait::Until(deadline)),
            None => self.next_event(Wait::Forever),
        }
    }

    /// A pending event, or the events of the next delivery. One thread at a time receives and
    /// decodes, so events come out in the order they went in; the others wait for it (each until
    /// its own deadline) and take what it decoded.
    fn next_event(&self, wait: Wait) -> Result<Event, RecvTimeoutError> {
        let mut state = lock(&self.receiving);
        loop {
            if let Some(event) = state.pending.pop_front() {
                return Ok(event);
            }
            if !state.busy {
                state.busy = true;
                let mut decoded = std::mem::take(&mut state.spare);
                drop(state);
                let busy = Busy(self);
                let received = wait.receive(&self.inbound).map(|delivery| {
                    delivery.decode(|received| decoded.push_back(received.into_event()))
                });
                lock(&self.receiving).add(decoded);
                drop(busy);
                received?;
                state = lock(&self.receiving);
                continue;
            }
            state = match wait {
                Wait::Not => return Err(RecvTimeoutError::Timeout),
                Wait::Forever => {
                    state.waiting += 1;
                    let mut state = self
                        .received
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                    state.waiting -= 1;
                    state
                }
                Wait::Until(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(RecvTimeoutError::Timeout);
                    }
                    state.waiting += 1;
                    let mut state = self
                        .received
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                    state.waiting -= 1;
                    state
                }
            };
        }
    }

    /// Every event, as [`recv`](Self::recv) gives them, until the library shuts down.
    pub fn events(&self) -> Events<'_> {
        Events::new(self)
    }

    /// The deliveries themselves: each the bytes of one read from one peer, or one connection
    /// event, in order. Take them here to get a read's items without an allocation per item
    /// ([`Inbound::decode`]), or to wait on them together with the host's own channels with
    /// `crossbeam_channel::select!`. Use either this or [`recv`](Self::recv) and its kin on one
    /// `Remote`: events `recv` has decoded and not yet handed out are not seen here.
    pub fn inbound(&self) -> &Receiver<Inbound> {
        &self.inbound
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

    /// Shuts down as [`shutdown`](Self::shutdown) does, then returns the counters as they stand
    /// once every thread has ended: what could not be written before the connections closed is
    /// in [`Stats::dropped_at_disconnect`], and messages still kept for a peer that never came in
    /// [`Stats::kept_while_disconnected`]. A program that must not lose what it sent checks them.
    ///
    /// ```
    /// use mmdagent_remote::{Config, Remote};
    ///
    /// let mut config = Config::default();
    /// config.keep_while_disconnected = 10;
    /// let remote = Remote::start(&config)?;
    /// remote.send_line("MESSAGE|for nobody")?; // kept: no peer is connected
    /// let stats = remote.shutdown_with_stats()?;
    /// assert_eq!((stats.sent, stats.kept_while_disconnected), (0, 1));
    /// # Ok::<(), mmdagent_remote::Error>(())
    /// ```
    pub fn shutdown_with_stats(mut self) -> Result<Stats, Error> {
        self.close()?;
        Ok(self.stats())
    }

    fn close(&mut self) -> Result<(), Error> {
        let Some(stop) = self.stop.take() else {
            return Ok(());
        };
        drop(stop);
        let flush_timeout = self.hub.options.flush_timeout;
        if let Some(server) = &self.tcp_server {
            server.wake(flush_timeout);
        }
        if let Some(server) = &self.websocket_server {
            server.wake(flush_timeout);
        }
        self.hub.wake_handshakes();
        for peer in self.hub.peers() {
            peer.note_reason(DisconnectReason::ShutDown);
            peer.stop_reading();
        }
        self.hub.threads.join_all();
        let panicked = self.hub.threads.panicked();
        if panicked.is_empty() {
            Ok(())
        } else {
            Err(Error::ThreadPanicked(panicked.join(", ")))
        }
    }
}

/// A queue of events larger than this is not kept for the next turn: one burst must not hold
/// its memory for good.
const LARGEST_SPARE_QUEUE: usize = 64;

#[derive(Default)]
struct Receiving {
    pending: VecDeque<Event>,
    /// An empty queue for the next turn to decode into, so that a turn allocates none.
    spare: VecDeque<Event>,
    /// A thread is receiving the next delivery now.
    busy: bool,
    /// Threads waiting on `received` for the busy one: with none, ending a turn makes no system
    /// call.
    waiting: usize,
}

impl Receiving {
    /// Adds the events a turn decoded to those pending, keeping an empty queue for the next.
    fn add(&mut self, mut decoded: VecDeque<Event>) {
        if self.pending.is_empty() {
            std::mem::swap(&mut self.pending, &mut decoded);
        } else {
            self.pending.append(&mut decoded);
        }
        if decoded.capacity() <= LARGEST_SPARE_QUEUE {
            self.spare = decoded;
        }
    }
}

/// How long `next_event` may wait.
#[derive(Clone, Copy)]
enum Wait {
    Forever,
    Until(Instant),
    Not,
}

impl Wait {
    /// The next delivery from `inbound`, waiting as this says.
    fn receive(self, inbound: &Receiver<Inbound>) -> Result<Inbound, RecvTimeoutError> {
        use crossbeam_channel::{RecvTimeoutError as Timed, TryRecvError as Tried};
        match self {
            Wait::Forever => inbound.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Wait::Until(deadline) => inbound
                .recv_deadline(deadline)
                .map_err(|error| match error {
                    Timed::Timeout => RecvTimeoutError::Timeout,
                    Timed::Disconnected => RecvTimeoutError::Disconnected,
                }),
            Wait::Not => inbound.try_recv().map_err(|error| match error {
                Tried::Empty => RecvTimeoutError::Timeout,
                Tried::Disconnected => RecvTimeoutError::Disconnected,
            }),
        }
    }
}

/// A thread's turn at receiving: it ends when this is dropped, however the thread leaves, and the
/// threads that waited for it are woken to take what it decoded.
struct Busy<'r>(&'r Remote);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        let mut state = lock(&self.0.receiving);
        state.busy = false;
        let waiting = state.waiting > 0;
        drop(state);
        if waiting {
            self.0.received.notify_all();
        }
    }
}

/// What an item's wire form is known to be: everything but audio is text.
fn payload_of(item: &Item<'_>) -> Payload {
    match item {
        Item::AudioChunk(_) => Payload::Unknown,
        _ => Payload::Text,
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
        fn sendable<T: Send>() {}
        shareable::<Remote>();
        shareable::<Event>();
        shareable::<Error>();
        sendable::<Inbound>();
    }

    #[test]
    fn a_turn_adds_its_events_in_order_and_keeps_a_small_queue_for_the_next() {
        let refused = |max_peers| Event::Refused {
            address: "127.0.0.1:1".parse().unwrap(),
            max_peers,
        };
        let numbers = |queue: &VecDeque<Event>| -> Vec<usize> {
            let number = |event: &Event| match event {
                Event::Refused { max_peers, .. } => *max_peers,
                other => panic!("{other:?}"),
            };
            queue.iter().map(number).collect()
        };
        // As `next_event` takes its turns: decode into the spare queue, then add.
        let turn = |receiving: &mut Receiving, events: &mut dyn Iterator<Item = Event>| {
            let mut decoded = std::mem::take(&mut receiving.spare);
            decoded.extend(events);
            receiving.add(decoded);
        };
        let mut receiving = Receiving::default();
        turn(&mut receiving, &mut [1, 2].into_iter().map(refused));
        turn(&mut receiving, &mut [3].into_iter().map(refused));
        assert_eq!(numbers(&receiving.pending), [1, 2, 3]);
        receiving.pending.clear();
        turn(&mut receiving, &mut [4].into_iter().map(refused));
        assert!(receiving.spare.capacity() > 0, "a queue is kept");
        receiving.pending.clear();
        turn(&mut receiving, &mut (0..=LARGEST_SPARE_QUEUE).map(refused));
        receiving.pending.clear();
        turn(&mut receiving, &mut [5].into_iter().map(refused));
        assert_eq!(numbers(&receiving.pending), [5]);
        assert_eq!(receiving.spare.capacity(), 0, "a burst's queue is let go");
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
