//! A WebSocket server for the controller's side: agents connect to it as they would to the user
//! guide's Python servers. One acceptor thread; for each agent, a thread that does the handshake
//! and then owns the connection (with its reader thread, as every WebSocket connection here).
//!
//! It serves one path (and `path-1`, `path-2`..., where agents go when a channel is taken) or any
//! path, and can answer `429 Too Many Requests` for a path that already has an agent, which is how
//! relays make the agent pick another channel.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::StatusCode;
use tungstenite::HandshakeError;

use crate::config::WebSocketServerConfig;
use crate::host::{lock, Event, HostOptions, Hub, PeerId, Transport};
use crate::transport::dial::deadline_after;
use crate::transport::tls::{self, TlsAcceptor};
use crate::transport::websocket_link::{self, Established, Link, OverLink, Reader};
use crate::Error;

/// A running WebSocket acceptor: where it listens, and how to wake it.
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
                "cannot wake the WebSocket server on {} to stop it: {error}",
                self.address
            );
        }
    }
}

/// What every connection of one server shares.
struct Shared {
    config: WebSocketServerConfig,
    acceptor: Option<TlsAcceptor>,
    /// Paths that have an agent now, for `exclusive_paths`.
    taken: Mutex<HashSet<String>>,
    active: AtomicUsize,
    max_line_length: usize,
    options: HostOptions,
}

/// Binds the server and starts its acceptor.
pub(crate) fn start(
    hub: &Arc<Hub>,
    config: &WebSocketServerConfig,
    max_line_length: usize,
    options: HostOptions,
) -> Result<Listening, Error> {
    let acceptor = config.tls.as_ref().map(tls::server_acceptor).transpose()?;
    let requested = SocketAddr::new(config.bind_address, config.port);
    let bind_error = |source| Error::Bind {
        address: requested,
        source,
    };
    let listener = TcpListener::bind(requested).map_err(bind_error)?;
    let address = listener.local_addr().map_err(bind_error)?;
    let scheme = if acceptor.is_some() { "wss" } else { "ws" };
    log::info!(
        "WebSocket server listening on {scheme}://{address}{}",
        config.path.as_deref().unwrap_or("/ (any path)")
    );
    let shared = Arc::new(Shared {
        config: config.clone(),
        acceptor,
        taken: Mutex::default(),
        active: AtomicUsize::new(0),
        max_line_length,
        options,
    });
    let acceptor_hub = Arc::clone(hub);
    hub.spawn("mdr-ws-accept".to_owned(), move || {
        accept_agents(&acceptor_hub, &listener, &shared)
    })
    .map_err(Error::Spawn)?;
    Ok(Listening { address })
}

fn accept_agents(hub: &Arc<Hub>, listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if hub.stop.is_stopped() {
            return;
        }
        let socket = match stream {
            Ok(socket) => socket,
            Err(error) => {
                log::warn!("WebSocket server: accepting a connection failed: {error}");
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
        if shared.active.load(Ordering::Acquire) >= shared.config.max_peers {
            let _ = socket.shutdown(Shutdown::Both);
            hub.note_refused();
            log::warn!(
                "WebSocket server: refused {address}: already serving the limit of {} agents",
                shared.config.max_peers
            );
            hub.emit(Event::Refused {
                address,
                max_peers: shared.config.max_peers,
            });
            continue;
        }
        shared.active.fetch_add(1, Ordering::AcqRel);
        let id = hub.next_peer_id();
        let (agent_hub, agent_shared) = (Arc::clone(hub), Arc::clone(shared));
        let spawned = hub.spawn(format!("mdr-ws{}", id.get()), move || {
            if let Err(reason) = handshake_and_serve(&agent_hub, &agent_shared, id, socket, address)
            {
                log::warn!("WebSocket server: {address} could not connect: {reason}");
            }
            agent_shared.active.fetch_sub(1, Ordering::AcqRel);
        });
        if let Err(error) = spawned {
            shared.active.fetch_sub(1, Ordering::AcqRel);
            log::error!("WebSocket server: cannot start a thread for a new agent: {error}");
        }
    }
}

fn handshake_and_serve(
    hub: &Hub,
    shared: &Shared,
    id: PeerId,
    socket: TcpStream,
    address: SocketAddr,
) -> Result<(), String> {
    let _ = socket.set_nodelay(true);
    let deadline = deadline_after(shared.config.handshake_timeout);
    let reader = Reader::start(
        &socket,
        format!("mdr-r{}", id.get()),
        shared.options,
        &hub.stop,
    )
    .map_err(|error| error.to_string())?;
    let link = Link::new(socket.try_clone().map_err(|error| error.to_string())?);
    match &shared.acceptor {
        #[cfg(feature = "tls")]
        Some(acceptor) => {
            let stream = tls::accept(acceptor, link, &reader, deadline, hub.stop.receiver())?;
            upgrade_and_serve(hub, shared, id, stream, reader, socket, address, deadline)
        }
        #[cfg(not(feature = "tls"))]
        Some(acceptor) => match *acceptor {},
        None => upgrade_and_serve(hub, shared, id, link, reader, socket, address, deadline),
    }
}

#[allow(clippy::too_many_arguments)] // one call site each; a struct would only rename them
fn upgrade_and_serve<S: OverLink>(
    hub: &Hub,
    shared: &Shared,
    id: PeerId,
    stream: S,
    reader: Reader,
    socket: TcpStream,
    address: SocketAddr,
    deadline: Instant,
) -> Result<(), String> {
    let mut chosen: Option<(String, String)> = None;
    // The signature is tungstenite's `Callback`; its error type is not ours to shrink.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        let path = request.uri().path().to_owned();
        if !serves(&shared.config.path, &path) {
            return Err(refusal(StatusCode::NOT_FOUND, "no such channel"));
        }
        if shared.config.exclusive_paths && !lock(&shared.taken).insert(path.clone()) {
            return Err(refusal(
                StatusCode::TOO_MANY_REQUESTS,
                "this channel is taken",
            ));
        }
        let app = request
            .headers()
            .get("X-App-Type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("none")
            .to_owned();
        chosen = Some((path, app));
        Ok(response)
    };
    let websocket_config = websocket_link::websocket_config(shared.config.max_frame_size);
    let mut handshake =
        tungstenite::accept_hdr_with_config(stream, callback, Some(websocket_config));
    let outcome = loop {
        match handshake {
            Ok(websocket) => break Ok(websocket),
            Err(HandshakeError::Interrupted(mut midway)) => {
                if let Err(error) = reader.feed(
                    midway.get_mut().get_mut().link(),
                    deadline,
                    hub.stop.receiver(),
                ) {
                    break Err(error);
                }
                handshake = midway.handshake();
            }
            Err(HandshakeError::Failure(error)) => break Err(format!("upgrade failed: {error}")),
        }
    };
    let (path, app) = chosen.unwrap_or_default();
    // Whatever happens from here on, a path reserved for this agent is given back when it ends.
    let _reserved = shared.config.exclusive_paths.then(|| Reserved {
        shared,
        path: path.clone(),
    });
    let websocket = outcome?;
    let description = format!("{address} on {path} (X-App-Type: {app})");
    let connection = Established {
        websocket,
        reader,
        socket,
        address,
    };
    websocket_link::serve(
        hub,
        id,
        connection,
        Transport::WebSocketServer,
        shared.max_line_length,
        &description,
    );
    Ok(())
}

/// A path taken by one agent under `exclusive_paths`, given back when dropped.
struct Reserved<'s> {
    shared: &'s Shared,
    path: String,
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        lock(&self.shared.taken).remove(&self.path);
    }
}

/// Whether a server for `served` (None: any) serves a request for `path`: the path itself, or the
/// path with `-n` after it.
fn serves(served: &Option<String>, path: &str) -> bool {
    let Some(served) = served else { return true };
    match path.strip_prefix(served.as_str()) {
        Some("") => true,
        Some(rest) => rest.strip_prefix('-').is_some_and(|number| {
            !number.is_empty() && number.bytes().all(|byte| byte.is_ascii_digit())
        }),
        None => false,
    }
}

fn refusal(status: StatusCode, why: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(why.to_owned()));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::serves;

    #[test]
    fn a_server_serves_its_path_and_the_numbered_channels_after_it() {
        let chat = Some("/chat".to_owned());
        assert!(serves(&chat, "/chat"));
        assert!(serves(&chat, "/chat-1"));
        assert!(serves(&chat, "/chat-12"));
        assert!(!serves(&chat, "/chat-"));
        assert!(!serves(&chat, "/chatty"));
        assert!(!serves(&chat, "/chat-x"));
        assert!(!serves(&chat, "/other"));
        assert!(serves(&None, "/anything"));
    }
}
