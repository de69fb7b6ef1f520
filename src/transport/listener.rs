//! What every server transport shares: binding, the acceptor thread with its peer limit, and waking
//! it to stop.
//!
//! The acceptor starts a thread for each connection; what that thread does is the transport's
//! business. A server without a handshake (TCP) takes the connection's place within the peer
//! limit when it accepts it, and closes one over the limit at once (the original leaves it
//! hanging) once a short grace has passed (see [`admission`](super::admission)); a server with a
//! handshake (WebSocket) lets the connection take its place once the handshake is done, and
//! bounds the handshakes under way instead. It blocks in `accept`; shutting down wakes it by
//! connecting to it, as tiny-http does.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::hub::fault::{self, FaultPoint};
use crate::hub::{Event, Hub, PeerId, Transport};
use crate::transport::admission::{PeerPlaces, Place};
use crate::transport::spawn_transport_thread;

/// A running acceptor: where it listens, and how to wake it.
pub(crate) struct Listening {
    address: SocketAddr,
    what: &'static str,
}

impl Listening {
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    /// Wakes the acceptor from `accept` by connecting to it; it then sees the stop signal.
    pub(crate) fn wake(&self, timeout: Duration) {
        let ip = match self.address.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        if let Err(error) =
            TcpStream::connect_timeout(&SocketAddr::new(ip, self.address.port()), timeout)
        {
            log::error!(
                "cannot wake the {} on {} to stop it: {error}",
                self.what,
                self.address
            );
        }
    }
}

/// What a server does with one accepted connection, on a thread of its own.
pub(crate) type ServeConnection = dyn Fn(PeerId, TcpStream, SocketAddr, Admission) + Send + Sync;

/// Where an accepted connection stands with the server's peer limit.
pub(crate) enum Admission {
    /// It holds its place already (a server with no handshake takes it when it accepts).
    Admitted(Place),
    /// It takes a place from these once its handshake is done, so that a connection that never
    /// finishes its handshake holds none.
    AfterHandshake(Arc<PeerPlaces>),
}

/// When a server's connections take their place within the limit.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlaceTaken {
    /// When accepted: the connection is served at once.
    OnAccept,
    /// After a handshake, each connection in it counting only against the bound of handshakes
    /// under way ([`most_handshakes`]).
    AfterHandshake,
}

/// The most connections in their handshake at once: past it, a new connection is closed at once,
/// so that sockets that never finish a handshake can hold threads and memory only so far. Never
/// fewer than 64, and never fewer than the peer limit.
pub(crate) fn most_handshakes(max_peers: usize) -> usize {
    max_peers.max(64)
}

/// Binds `requested` and starts an acceptor thread named `thread_name` that hands each connection
/// to `serve`, on a thread named after the connection's id, within `max_peers` (see
/// [`PlaceTaken`]).
#[allow(clippy::too_many_arguments)] // each is one fact about the server; a struct would only rename them
pub(crate) fn listen(
    hub: &Arc<Hub>,
    requested: SocketAddr,
    what: &'static str,
    transport: Transport,
    thread_name: &str,
    max_peers: usize,
    place_taken: PlaceTaken,
    serve: Arc<ServeConnection>,
) -> Result<Listening, Error> {
    let bind_error = |source| Error::Bind {
        address: requested,
        source,
    };
    let listener = TcpListener::bind(requested).map_err(bind_error)?;
    let address = listener.local_addr().map_err(bind_error)?;
    let places = PeerPlaces::new(max_peers);
    spawn_transport_thread(hub, transport, "acceptor", thread_name, move |hub| {
        accept(hub, &listener, what, &places, place_taken, &serve)
    })?;
    Ok(Listening { address, what })
}

fn accept(
    hub: &Arc<Hub>,
    listener: &TcpListener,
    what: &str,
    places: &Arc<PeerPlaces>,
    place_taken: PlaceTaken,
    serve: &Arc<ServeConnection>,
) {
    let handshakes = PeerPlaces::new(most_handshakes(places.limit()));
    for socket in listener.incoming() {
        if hub.stop.is_stopped() {
            return;
        }
        let socket = match socket {
            Ok(socket) => socket,
            Err(error) => {
                // Out of file descriptors, say: wait a little rather than spin on the same error.
                log::warn!("{what}: accepting a connection failed: {error}");
                if hub.stop.sleep(Duration::from_millis(100)) {
                    return;
                }
                continue;
            }
        };
        let Ok(address) = socket.peer_addr() else {
            continue;
        };
        let address = SocketAddr::new(address.ip().to_canonical(), address.port());
        let (admission, in_handshake) = match place_taken {
            PlaceTaken::OnAccept => match places.take(&hub.stop) {
                Some(place) => (Admission::Admitted(place), None),
                None if hub.stop.is_stopped() => return,
                None => {
                    let _ = socket.shutdown(Shutdown::Both);
                    refused(hub, what, address, places.limit());
                    continue;
                }
            },
            PlaceTaken::AfterHandshake => match handshakes.try_take() {
                Some(in_handshake) => (
                    Admission::AfterHandshake(Arc::clone(places)),
                    Some(in_handshake),
                ),
                None => {
                    let _ = socket.shutdown(Shutdown::Both);
                    log::warn!(
                        "{what}: closed {address} at once: {} connections are in their handshake",
                        handshakes.limit()
                    );
                    hub.note_refused();
                    continue;
                }
            },
        };
        fault::check(&hub.options, FaultPoint::Acceptor);
        let id = hub.next_peer_id();
        let peer_serve = Arc::clone(serve);
        let spawned = hub.threads.spawn(format!("mdr-r{}", id.get()), move || {
            let _in_handshake = in_handshake;
            peer_serve(id, socket, address, admission);
        });
        if let Err(error) = spawned {
            log::error!("{what}: cannot start a thread for a new peer: {error}");
        }
    }
}

/// Counts, logs and reports a peer turned away at the limit.
pub(crate) fn refused(hub: &Hub, what: &str, address: SocketAddr, max_peers: usize) {
    hub.note_refused();
    log::warn!("{what}: refused {address}: already serving the limit of {max_peers} peers");
    hub.emit(Event::Refused { address, max_peers });
}
