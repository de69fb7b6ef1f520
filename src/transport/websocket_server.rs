//! A WebSocket server for the controller's side: agents connect to it as they would to the user
//! guide's Python servers. One acceptor thread; for each agent, a thread that does the handshake
//! and then owns the connection (with its reader thread, as every WebSocket connection here).
//!
//! It serves one path (and `path-1`, `path-2`..., where agents go when a channel is taken) or any
//! path, and can answer `429 Too Many Requests` for a path that already has an agent, which is how
//! relays make the agent pick another channel.

use std::collections::HashSet;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::StatusCode;
use tungstenite::HandshakeError;

use crate::config::WebSocketServerConfig;
use crate::host::{lock, HostOptions, Hub, PeerId, Transport};
use crate::transport::dial::deadline_after;
use crate::transport::listener::{self, Listening};
use crate::transport::tls::{self, TlsAcceptor};
use crate::transport::websocket_link::{self, Established, Link, OverLink, Reader};
use crate::Error;

/// What every connection of one server shares.
struct Shared {
    config: WebSocketServerConfig,
    acceptor: Option<TlsAcceptor>,
    /// Paths that have an agent now, for `exclusive_paths`.
    taken: Mutex<HashSet<String>>,
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
    let scheme = if acceptor.is_some() { "wss" } else { "ws" };
    let shared = Arc::new(Shared {
        config: config.clone(),
        acceptor,
        taken: Mutex::default(),
        max_line_length,
        options,
    });
    let agent_hub = Arc::clone(hub);
    let listening = listener::listen(
        hub,
        SocketAddr::new(config.bind_address, config.port),
        "WebSocket server",
        "mdr-ws-accept",
        config.max_peers,
        Arc::new(move |id, socket, address| {
            if let Err(reason) = handshake_and_serve(&agent_hub, &shared, id, socket, address) {
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
        format!("mdr-in{}", id.get()),
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
