//! The agent as a WebSocket client: one connector thread that keeps a connection to the server
//! through the [`reconnect`](super::reconnect) loop, as the original does.
//!
//! The upgrade request is the original's: `GET <path>` with the `X-App-Type: MMDAgent` header. A
//! server that answers `429 Too Many Requests` (the channel is taken) is asked again after 0.2 s
//! on `<path>-<n>`, n counting the retries. Connecting, TLS and the upgrade share one timeout, and
//! the host shutting down interrupts every step.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::Request;
use tungstenite::http::{HeaderValue, StatusCode};

use crate::codec::websocket_frame::Role;
use crate::config::WebSocketClientConfig;
use crate::error::Error;
use crate::hub::{Hub, Transport};
use crate::transport::connect::{connect, deadline_after};
use crate::transport::connection::{self, Peer};
use crate::transport::handshake::{upgrade_step, Failed, HeaderOnly, Wire};
use crate::transport::memory_stream::{Buffers, MemoryStream};
use crate::transport::reconnect::{self, Attempt};
use crate::transport::standing_writer::StandingWriter;
#[cfg(feature = "tls")]
use crate::transport::tls::TlsSession;
use crate::transport::tls::{self, TlsConnector};
use crate::transport::websocket_protocol::WebSocketProtocol;

/// The pause before asking for the next channel after a 429, as the original waits.
const TAKEN_CHANNEL_PAUSE: Duration = Duration::from_millis(200);

/// Starts the connector thread; fails at once if the configuration cannot work (a TLS setting that
/// cannot be used, or TLS without the `tls` feature).
pub(crate) fn start(
    hub: &Arc<Hub>,
    config: &WebSocketClientConfig,
    max_line_length: usize,
) -> Result<(), Error> {
    // Before the TLS set-up, which keeps this thread busy: see `standing_writer` for why it matters.
    let standing = StandingWriter::start(hub, "mdr-ws-writer");
    let connector = if config.tls {
        Some(tls::client_connector(config)?)
    } else {
        None
    };
    let config = config.clone();
    reconnect::start(
        hub,
        Transport::WebSocketClient,
        "mdr-ws-connect",
        move |hub| {
            let path = RefCell::new(config.path.clone());
            let target = || url_with_path(&config, &path.borrow());
            reconnect::keep_connected(
                hub,
                Transport::WebSocketClient,
                &config.retry,
                &target,
                |retries| {
                    let outcome = attempt(
                        hub,
                        &config,
                        connector.as_ref(),
                        &path.borrow(),
                        max_line_length,
                        standing.as_ref(),
                    );
                    match outcome {
                        Ok(served) => {
                            *path.borrow_mut() = config.path.clone();
                            served
                        }
                        Err(Failure::ChannelTaken) => {
                            *path.borrow_mut() = format!("{}-{}", config.path, retries + 1);
                            Attempt::Failed {
                                reason: "HTTP 429 Too Many Requests: the channel is taken"
                                    .to_owned(),
                                pause: Some(TAKEN_CHANNEL_PAUSE),
                            }
                        }
                        Err(Failure::Other(reason)) => Attempt::Failed {
                            reason,
                            pause: None,
                        },
                    }
                },
            );
        },
    )
}

/// Why one attempt failed.
enum Failure {
    /// `429 Too Many Requests`: the channel is taken.
    ChannelTaken,
    /// Anything else, in words (an HTTP status is named).
    Other(String),
}

/// Connects, upgrades and serves once; returns when the connection was established and has ended,
/// or why it could not be established.
fn attempt(
    hub: &Arc<Hub>,
    config: &WebSocketClientConfig,
    connector: Option<&TlsConnector>,
    path: &str,
    max_line_length: usize,
    standing: Option<&StandingWriter>,
) -> Result<Attempt, Failure> {
    let deadline = deadline_after(config.connect_timeout);
    let request = upgrade_request(config, path)?;
    let socket = connect(
        &config.host,
        config.port,
        config.connect_timeout,
        hub.stop.receiver(),
    )
    .map_err(|error| Failure::Other(error.to_string()))?;
    let address = socket
        .peer_addr()
        .map(|address| SocketAddr::new(address.ip().to_canonical(), address.port()))
        .map_err(|error| Failure::Other(error.to_string()))?;
    let watched = hub
        .watch(&socket)
        .ok_or_else(|| Failure::Other("shutting down".to_owned()))?;
    let buffers = Arc::new(Mutex::new(Buffers::default()));
    let memory = MemoryStream(Arc::clone(&buffers));
    let mut wire = Wire::new(&socket, Arc::clone(&buffers), deadline);
    let (session, already_read) = match connector {
        #[cfg(feature = "tls")]
        Some(connector) => {
            let started =
                crate::transport::handshake::tls_step(connector.connect(&config.host, memory));
            let session: TlsSession = wire.drive(started).map_err(|failed| match failed {
                Failed::Refused(error) => Failure::Other(format!("TLS handshake failed: {error}")),
                Failed::Wire(reason) => Failure::Other(reason),
            })?;
            let (session, already_read) = upgrade(&mut wire, session, request)?;
            (Some(session), already_read)
        }
        #[cfg(not(feature = "tls"))]
        Some(connector) => match *connector {},
        None => (None, upgrade(&mut wire, memory, request)?.1),
    };
    drop(wire);
    drop(watched);
    let connected_at = Instant::now();
    let protocol = WebSocketProtocol::new(
        Role::Client,
        config.max_frame_size,
        session,
        buffers,
        already_read,
        config.ping,
    );
    let peer = Peer {
        id: hub.next_peer_id(),
        address,
        transport: Transport::WebSocketClient,
        description: url_with_path(config, path),
        place: None,
    };
    let reason = connection::serve(
        hub,
        peer,
        socket,
        Arc::new(protocol),
        max_line_length,
        standing,
    );
    Ok(Attempt::Served {
        connected_at,
        reason,
    })
}

/// The WebSocket upgrade over `stream`; returns the stream and what followed the server's answer.
fn upgrade<S: Read + Write>(
    wire: &mut Wire<'_>,
    stream: S,
    request: Request,
) -> Result<(S, Vec<u8>), Failure> {
    let started = upgrade_step(tungstenite::client::client(
        request,
        HeaderOnly::new(stream),
    ));
    match wire.drive(started) {
        Ok((websocket, _response)) => Ok(websocket.into_inner().into_parts()),
        Err(Failed::Refused(tungstenite::Error::Http(response))) => Err(match response.status() {
            StatusCode::TOO_MANY_REQUESTS => Failure::ChannelTaken,
            status => Failure::Other(format!("the server refused the upgrade: HTTP {status}")),
        }),
        Err(Failed::Refused(error)) => Err(Failure::Other(format!("upgrade failed: {error}"))),
        Err(Failed::Wire(reason)) => Err(Failure::Other(reason)),
    }
}

/// The original's request: the URL's host and port in `Host`, and `X-App-Type: MMDAgent`.
fn upgrade_request(config: &WebSocketClientConfig, path: &str) -> Result<Request, Failure> {
    let url = url_with_path(config, path);
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|error| Failure::Other(format!("cannot make a request for {url}: {error}")))?;
    request
        .headers_mut()
        .insert("X-App-Type", HeaderValue::from_static("MMDAgent"));
    Ok(request)
}

fn url_with_path(config: &WebSocketClientConfig, path: &str) -> String {
    let mut moved = config.clone();
    moved.path = path.to_owned();
    moved.url()
}
