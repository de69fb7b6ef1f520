//! What every server transport shares: binding, the acceptor thread with its peer limit, and waking
//! it to stop.
//!
//! The acceptor closes a connection over the limit at once (the original leaves it hanging), or
//! hands it to the transport's refusal (the WebSocket server answers it with an HTTP status) on a
//! thread of its own, a few at a time; it starts a thread for each other one. What those threads
//! do is the transport's business. It blocks
//! in `accept`; shutting down wakes it by connecting to it, as tiny-http does.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::hub::fault::{self, FaultPoint};
use crate::hub::{Event, Hub, PeerId, Transport};
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
pub(crate) type ServeConnection = dyn Fn(PeerId, TcpStream, SocketAddr) + Send + Sync;

/// How a server turns away a connection over its peer limit, on a thread of its own.
pub(crate) type RefuseConnection = dyn Fn(TcpStream, SocketAddr) + Send + Sync;

/// The most refusals under way at once; past it, a connection over the limit is closed at once,
/// so peers knocking in a loop cannot make the server start threads without end.
const MOST_REFUSALS: usize = 8;

/// Binds `requested` and starts an acceptor thread named `thread_name` that hands each connection
/// within `max_peers` to `serve`, on a thread named after the connection's id, and each one over
/// it to `refuse` if given.
#[allow(clippy::too_many_arguments)] // each is one fact about the server; a struct would only rename them
pub(crate) fn listen(
    hub: &Arc<Hub>,
    requested: SocketAddr,
    what: &'static str,
    transport: Transport,
    thread_name: &str,
    max_peers: usize,
    serve: Arc<ServeConnection>,
    refuse: Option<Arc<RefuseConnection>>,
) -> Result<Listening, Error> {
    let bind_error = |source| Error::Bind {
        address: requested,
        source,
    };
    let listener = TcpListener::bind(requested).map_err(bind_error)?;
    let address = listener.local_addr().map_err(bind_error)?;
    spawn_transport_thread(hub, transport, "acceptor", thread_name, move |hub| {
        accept(hub, &listener, what, max_peers, &serve, refuse.as_ref())
    })?;
    Ok(Listening { address, what })
}

fn accept(
    hub: &Arc<Hub>,
    listener: &TcpListener,
    what: &str,
    max_peers: usize,
    serve: &Arc<ServeConnection>,
    refuse: Option<&Arc<RefuseConnection>>,
) {
    let active = Arc::new(AtomicUsize::new(0));
    let refusing = Arc::new(AtomicUsize::new(0));
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
        if active.load(Ordering::Acquire) >= max_peers {
            hub.note_refused();
            log::warn!("{what}: refused {address}: already serving the limit of {max_peers} peers");
            match refuse {
                Some(refuse) if refusing.load(Ordering::Acquire) < MOST_REFUSALS => {
                    let slot = Slot::take(&refusing);
                    let refuse = Arc::clone(refuse);
                    let spawned = hub.threads.spawn("mdr-refuse".to_owned(), move || {
                        let _slot = slot;
                        refuse(socket, address);
                    });
                    if let Err(error) = spawned {
                        log::error!("{what}: cannot start a thread to refuse a peer: {error}");
                    }
                }
                _ => {
                    let _ = socket.shutdown(Shutdown::Both);
                }
            }
            hub.emit(Event::Refused { address, max_peers });
            continue;
        }
        fault::check(&hub.options, FaultPoint::Acceptor);
        let slot = Slot::take(&active);
        let id = hub.next_peer_id();
        let peer_serve = Arc::clone(serve);
        let spawned = hub.threads.spawn(format!("mdr-r{}", id.get()), move || {
            let _slot = slot;
            peer_serve(id, socket, address);
        });
        if let Err(error) = spawned {
            log::error!("{what}: cannot start a thread for a new peer: {error}");
        }
    }
}

/// One peer's place within the limit, given back when dropped, however its thread ends.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(active: &Arc<AtomicUsize>) -> Slot {
        active.fetch_add(1, Ordering::AcqRel);
        Slot(Arc::clone(active))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
