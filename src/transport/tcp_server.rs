//! The agent as a TCP server: one acceptor thread, and a thread pair per accepted peer.
//!
//! The acceptor enforces the peer limit by closing one connection too many at once (the original
//! leaves it hanging). It blocks in `accept`; shutting down wakes it by connecting to it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::config::TcpServerConfig;
use crate::host::{Event, HostOptions, Hub, Transport};
use crate::transport::peer;
use crate::Error;

/// A running acceptor: where it listens, and how to wake it.
pub(crate) struct Listening {
    address: SocketAddr,
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
                "cannot wake the TCP server on {} to stop it: {error}",
                self.address
            );
        }
    }
}

/// Binds the server and starts its acceptor.
pub(crate) fn start(
    hub: &Arc<Hub>,
    config: &TcpServerConfig,
    max_line_length: usize,
    options: HostOptions,
) -> Result<Listening, Error> {
    let requested = SocketAddr::new(config.bind_address, config.port);
    let listener = TcpListener::bind(requested).map_err(|source| Error::Bind {
        address: requested,
        source,
    })?;
    let address = listener.local_addr().map_err(|source| Error::Bind {
        address: requested,
        source,
    })?;
    log::info!("TCP server listening on {address}");
    let acceptor_hub = Arc::clone(hub);
    let max_peers = config.max_peers;
    hub.spawn("mdr-accept".to_owned(), move || {
        accept_peers(
            &acceptor_hub,
            &listener,
            max_peers,
            max_line_length,
            options,
        );
    })
    .map_err(Error::Spawn)?;
    Ok(Listening { address })
}

fn accept_peers(
    hub: &Arc<Hub>,
    listener: &TcpListener,
    max_peers: usize,
    max_line_length: usize,
    options: HostOptions,
) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if hub.stop.is_stopped() {
            return;
        }
        let stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                // Out of file descriptors, say: wait a little rather than spin on the same error.
                log::warn!("TCP server: accepting a connection failed: {error}");
                if hub.stop.sleep(Duration::from_millis(100)) {
                    return;
                }
                continue;
            }
        };
        if active.load(Ordering::Acquire) >= max_peers {
            refuse(hub, &stream, max_peers);
            continue;
        }
        active.fetch_add(1, Ordering::AcqRel);
        let id = hub.next_peer_id();
        let peer_hub = Arc::clone(hub);
        let peer_active = Arc::clone(&active);
        let spawned = hub.spawn(format!("mdr-r{}", id.get()), move || {
            peer::serve(
                &peer_hub,
                id,
                stream,
                Transport::TcpServer,
                max_line_length,
                options,
            );
            peer_active.fetch_sub(1, Ordering::AcqRel);
        });
        if let Err(error) = spawned {
            active.fetch_sub(1, Ordering::AcqRel);
            log::error!("TCP server: cannot start a thread for a new peer: {error}");
        }
    }
}

fn refuse(hub: &Hub, stream: &TcpStream, max_peers: usize) {
    let _ = stream.shutdown(Shutdown::Both);
    let Ok(address) = stream.peer_addr() else {
        return;
    };
    let address = SocketAddr::new(address.ip().to_canonical(), address.port());
    hub.note_refused();
    log::warn!("TCP server: refused {address}: already serving the limit of {max_peers} peers");
    hub.emit(Event::Refused { address, max_peers });
}
