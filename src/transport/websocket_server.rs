//! A WebSocket server for the controller's side: agents connect to it as they would to the user
//! guide's Python servers. One acceptor thread; for each agent, a thread that does the handshake
//! and then owns the connection (with its reader thread, as every WebSocket connection here).
//!
//! It serves one path (and `path-1`, `path-2`..., where agents go when a channel is taken) or any
//! path, and can answer `429 Too Many Requests` for a path that already has an agent, which is how
//! relays make the agent pick another channel. An agent over the peer limit is told
//! `503 Service Unavailable`, with the reason, rather than closed without a word.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};

use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::StatusCode;

use crate::codec::websocket_frame::Role;
use crate::config::WebSocketServerConfig;
use crate::error::Error;
use crate::hub::{lock, Hub, PeerId, StopSignal, Transport};
use crate::transport::admission::{PeerPlaces, Place};
use crate::transport::connect::deadline_after;
use crate::transport::connection::{self, Peer};
use crate::transport::handshake::{upgrade_step, Failed, HeaderOnly, Wire};
use crate::transport::listener::{self, Admission, Listening, PlaceTaken};
use crate::transport::memory_stream::{Buffers, MemoryStream};
#[cfg(feature = "tls")]
use crate::transport::tls::TlsSession;
use crate::transport::tls::{self, TlsAcceptor};
use crate::transport::websocket_protocol::WebSocketProtocol;

/// What every connection of one server shares.
struct Shared {
    config: WebSocketServerConfig,
    acceptor: Option<TlsAcceptor>,
    /// Paths that have an agent now, for `exclusive_paths`.
    taken: Mutex<HashSet<String>>,
    max_line_length: usize,
}

/// Binds the server and starts its acceptor.
pub(crate) fn start(
    hub: &Arc<Hub>,
    config: &WebSocketServerConfig,
    max_line_length: usize,
) -> Result<Listening, Error> {
    let acceptor = config.tls.as_ref().map(tls::server_acceptor).transpose()?;
    let scheme = if acceptor.is_some() { "wss" } else { "ws" };
    let shared = Arc::new(Shared {
        config: config.clone(),
        acceptor,
        taken: Mutex::default(),
        max_line_length,
    });
    let agent_hub = Arc::clone(hub);
    let listening = listener::listen(
        hub,
        SocketAddr::new(config.bind_address, config.port),
        "WebSocket server",
        Transport::WebSocketServer,
        "mdr-ws-accept",
        config.max_peers,
        PlaceTaken::AfterHandshake,
        Arc::new(move |id, socket, address, admission| {
            let Admission::AfterHandshake(places) = admission else {
                unreachable!("a WebSocket server takes places after the handshake")
            };
            let served = handshake_and_serve(&agent_hub, &shared, id, socket, address, &places);
            if let Err(reason) = served {
                log::warn!("WebSocket server: {address} could not connect: {reason}");
            }
        }),
    )?;
    log::info!(
        "WebSocket server listening on {scheme}://{}{}",
        listening.address(),
        config.path.as_deref().unwrap_or("/ (any path)")
    );
    Ok(listening)
}

fn handshake_and_serve(
    hub: &Arc<Hub>,
    shared: &Shared,
    id: PeerId,
    socket: TcpStream,
    address: SocketAddr,
    places: &Arc<PeerPlaces>,
) -> Result<(), String> {
    let Some(watched) = hub.watch(&socket) else {
        return Ok(());
    };
    let deadline = deadline_after(shared.config.handshake_timeout);
    let buffers = Arc::new(Mutex::new(Buffers::default()));
    let memory = MemoryStream(Arc::clone(&buffers));
    let mut wire = Wire::new(&socket, Arc::clone(&buffers), deadline);
    // Whatever happens from here on, a path reserved for this agent and its place within the
    // limit are given back when it ends.
    let mut settled = Settled {
        chosen: None,
        reserved: Reserved { shared, path: None },
        place: None,
        over_limit: false,
    };
    let upgraded = match &shared.acceptor {
        #[cfg(feature = "tls")]
        Some(acceptor) => {
            let started = crate::transport::handshake::tls_step(acceptor.accept(memory));
            let session: TlsSession = wire.drive(started).map_err(|failed| match failed {
                Failed::Refused(error) => format!("TLS handshake failed: {error}"),
                Failed::Wire(reason) => reason,
            })?;
            upgrade(&mut wire, session, shared, places, &hub.stop, &mut settled)
                .map(|(session, already_read)| (Some(session), already_read))
        }
        #[cfg(not(feature = "tls"))]
        Some(acceptor) => match *acceptor {},
        None => upgrade(&mut wire, memory, shared, places, &hub.stop, &mut settled)
            .map(|(_, already_read)| (None, already_read)),
    };
    if settled.over_limit {
        listener::refused(hub, "WebSocket server", address, places.limit());
    }
    let (session, already_read) = upgraded?;
    drop(wire);
    drop(watched);
    let (path, app) = settled.chosen.take().unwrap_or_default();
    let protocol = WebSocketProtocol::new(
        Role::Server,
        shared.config.max_frame_size,
        session,
        buffers,
        already_read,
        shared.config.ping,
    );
    let peer = Peer {
        id,
        address,
        transport: Transport::WebSocketServer,
        description: format!("{address} on {path} (X-App-Type: {app})"),
        place: settled.place.take(),
    };
    connection::serve(
        hub,
        peer,
        socket,
        Arc::new(protocol),
        shared.max_line_length,
        None,
    );
    Ok(())
}

/// What the upgrade settled for one agent.
struct Settled<'s> {
    /// The path and app it asked for.
    chosen: Option<(String, String)>,
    /// A path taken under `exclusive_paths`.
    reserved: Reserved<'s>,
    /// Its place within the peer limit.
    place: Option<Place>,
    /// It was turned away with `503`: the server serves its limit.
    over_limit: bool,
}

/// The WebSocket upgrade over `stream`; what it settles goes to `settled`. An agent takes its
/// place within the limit once its request is read, waiting a short while for one (see
/// [`admission`](super::admission)), or is answered `503 Service Unavailable` with the reason.
/// Returns the stream and what followed the agent's request.
fn upgrade<'s, S: Read + Write>(
    wire: &mut Wire<'_>,
    stream: S,
    shared: &'s Shared,
    places: &Arc<PeerPlaces>,
    stop: &StopSignal,
    settled: &mut Settled<'s>,
) -> Result<(S, Vec<u8>), String> {
    // The signature is tungstenite's `Callback`; its error type is not ours to shrink.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        let path = request.uri().path().to_owned();
        if !serves(&shared.config.path, &path) {
            return Err(refusal(StatusCode::NOT_FOUND, "no such channel"));
        }
        if shared.config.exclusive_paths {
            if !lock(&shared.taken).insert(path.clone()) {
                return Err(refusal(
                    StatusCode::TOO_MANY_REQUESTS,
                    "this channel is taken",
                ));
            }
            settled.reserved.path = Some(path.clone());
        }
        match places.take(stop) {
            Some(place) => settled.place = Some(place),
            None => {
                settled.over_limit = true;
                let reason = format!(
                    "this server already serves its limit of {} agents; try again later",
                    places.limit()
                );
                return Err(refusal(StatusCode::SERVICE_UNAVAILABLE, &reason));
            }
        }
        let app = request
            .headers()
            .get("X-App-Type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("none")
            .to_owned();
        settled.chosen = Some((path, app));
        Ok(response)
    };
    let started = upgrade_step(tungstenite::accept_hdr(HeaderOnly::new(stream), callback));
    match wire.drive(started) {
        Ok(websocket) => Ok(websocket.into_inner().into_parts()),
        Err(Failed::Refused(error)) => Err(format!("upgrade failed: {error}")),
        Err(Failed::Wire(reason)) => Err(reason),
    }
}

/// A path taken by one agent under `exclusive_paths`, given back when dropped.
struct Reserved<'s> {
    shared: &'s Shared,
    path: Option<String>,
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            lock(&self.shared.taken).remove(path);
        }
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
