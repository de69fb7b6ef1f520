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
use crate::hub::{lock, Hub, PeerId, Transport};
use crate::transport::connect::deadline_after;
use crate::transport::connection::{self, Peer};
use crate::transport::handshake::{upgrade_step, Failed, HeaderOnly, Wire};
use crate::transport::listener::{self, Listening};
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
    let refusing_hub = Arc::clone(hub);
    let refusing = Arc::clone(&shared);
    let listening = listener::listen(
        hub,
        SocketAddr::new(config.bind_address, config.port),
        "WebSocket server",
        Transport::WebSocketServer,
        "mdr-ws-accept",
        config.max_peers,
        Arc::new(move |id, socket, address| {
            if let Err(reason) = handshake_and_serve(&agent_hub, &shared, id, socket, address) {
                log::warn!("WebSocket server: {address} could not connect: {reason}");
            }
        }),
        Some(Arc::new(move |socket, address| {
            refuse_over_limit(&refusing_hub, &refusing, socket, address);
        })),
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
) -> Result<(), String> {
    let Some(watched) = hub.watch(&socket) else {
        return Ok(());
    };
    let deadline = deadline_after(shared.config.handshake_timeout);
    let buffers = Arc::new(Mutex::new(Buffers::default()));
    let memory = MemoryStream(Arc::clone(&buffers));
    let mut wire = Wire::new(&socket, Arc::clone(&buffers), deadline);
    let mut chosen = None;
    // Whatever happens from here on, a path reserved for this agent is given back when it ends.
    let mut reserved = Reserved { shared, path: None };
    let upgraded = match &shared.acceptor {
        #[cfg(feature = "tls")]
        Some(acceptor) => {
            let started = crate::transport::handshake::tls_step(acceptor.accept(memory));
            let session: TlsSession = wire.drive(started).map_err(|failed| match failed {
                Failed::Refused(error) => format!("TLS handshake failed: {error}"),
                Failed::Wire(reason) => reason,
            })?;
            upgrade(&mut wire, session, shared, &mut chosen, &mut reserved)
                .map(|(session, already_read)| (Some(session), already_read))
        }
        #[cfg(not(feature = "tls"))]
        Some(acceptor) => match *acceptor {},
        None => upgrade(&mut wire, memory, shared, &mut chosen, &mut reserved)
            .map(|(_, already_read)| (None, already_read)),
    };
    let (session, already_read) = upgraded?;
    drop(wire);
    drop(watched);
    let (path, app) = chosen.unwrap_or_default();
    let protocol = WebSocketProtocol::new(
        Role::Server,
        shared.config.max_frame_size,
        session,
        buffers,
        already_read,
    );
    let peer = Peer {
        id,
        address,
        transport: Transport::WebSocketServer,
        description: format!("{address} on {path} (X-App-Type: {app})"),
    };
    connection::serve(
        hub,
        peer,
        socket,
        Arc::new(protocol),
        shared.max_line_length,
    );
    Ok(())
}

/// Answers an agent over the peer limit with `503 Service Unavailable` and the reason, over TLS
/// when the server serves wss, within the handshake timeout; then closes.
fn refuse_over_limit(hub: &Arc<Hub>, shared: &Shared, socket: TcpStream, address: SocketAddr) {
    let Some(_watched) = hub.watch(&socket) else {
        return;
    };
    let deadline = deadline_after(shared.config.handshake_timeout);
    let buffers = Arc::new(Mutex::new(Buffers::default()));
    let memory = MemoryStream(Arc::clone(&buffers));
    let mut wire = Wire::new(&socket, Arc::clone(&buffers), deadline);
    let reason = format!(
        "this server already serves its limit of {} agents; try again later",
        shared.config.max_peers
    );
    // The signature is tungstenite's `Callback`; its error type is not ours to shrink.
    #[allow(clippy::result_large_err)]
    let refuse = |_: &Request, _: Response| -> Result<Response, ErrorResponse> {
        Err(refusal(StatusCode::SERVICE_UNAVAILABLE, &reason))
    };
    let answered = match &shared.acceptor {
        #[cfg(feature = "tls")]
        Some(acceptor) => {
            match wire.drive(crate::transport::handshake::tls_step(
                acceptor.accept(memory),
            )) {
                Ok(session) => wire
                    .drive(upgrade_step(tungstenite::accept_hdr(
                        HeaderOnly::new(session),
                        refuse,
                    )))
                    .map(drop),
                Err(_) => Ok(()),
            }
        }
        #[cfg(not(feature = "tls"))]
        Some(acceptor) => match *acceptor {},
        None => wire
            .drive(upgrade_step(tungstenite::accept_hdr(
                HeaderOnly::new(memory),
                refuse,
            )))
            .map(drop),
    };
    if let Err(Failed::Wire(why)) = answered {
        log::debug!("WebSocket server: {address} was not told it is refused: {why}");
    }
}

/// The WebSocket upgrade over `stream`: which path and app the agent asked for go to `chosen`, a
/// path taken under `exclusive_paths` to `reserved`. Returns the stream and what followed the
/// agent's request.
fn upgrade<S: Read + Write>(
    wire: &mut Wire<'_>,
    stream: S,
    shared: &Shared,
    chosen: &mut Option<(String, String)>,
    reserved: &mut Reserved<'_>,
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
            reserved.path = Some(path.clone());
        }
        let app = request
            .headers()
            .get("X-App-Type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("none")
            .to_owned();
        *chosen = Some((path, app));
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
