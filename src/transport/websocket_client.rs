//! The agent as a WebSocket client: one connector thread that connects, upgrades, serves the
//! connection and connects again when it is lost, as the original does.
//!
//! The upgrade request is the original's: `GET <path>` with the `X-App-Type: MMDAgent` header. A
//! failed attempt is retried as the [`RetryPolicy`](crate::RetryPolicy) allows; a server that
//! answers `429 Too Many Requests` (the channel is taken) is asked again after 0.2 s on
//! `<path>-<n>`, n counting the retries. Connecting, TLS and the upgrade share one timeout, and the
//! host shutting down interrupts every step.

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::Request;
use tungstenite::http::{HeaderValue, StatusCode};
use tungstenite::HandshakeError;

use crate::config::WebSocketClientConfig;
use crate::host::{Event, HostOptions, Hub, PeerId, Transport};
use crate::transport::dial::{deadline_after, dial};
use crate::transport::tls::{self, TlsConnector};
use crate::transport::websocket_link::{self, Established, Link, OverLink, Reader};
use crate::Error;

/// The pause before asking for the next channel after a 429, as the original waits.
const TAKEN_CHANNEL_PAUSE: Duration = Duration::from_millis(200);

/// Starts the connector thread; fails at once if the configuration cannot work (a TLS setting that
/// cannot be used, or TLS without the `tls` feature).
pub(crate) fn start(
    hub: &Arc<Hub>,
    config: &WebSocketClientConfig,
    max_line_length: usize,
    options: HostOptions,
) -> Result<(), Error> {
    let connector = if config.tls {
        Some(tls::client_connector(config)?)
    } else {
        None
    };
    let connector_hub = Arc::clone(hub);
    let config = config.clone();
    hub.spawn("mdr-ws-connect".to_owned(), move || {
        keep_connected(
            &connector_hub,
            &config,
            connector.as_ref(),
            max_line_length,
            options,
        );
    })
    .map_err(Error::Spawn)
}

/// Why one attempt failed.
enum Failure {
    /// `429 Too Many Requests`: the channel is taken.
    ChannelTaken,
    /// Anything else, in words (an HTTP status is named).
    Other(String),
}

fn keep_connected(
    hub: &Arc<Hub>,
    config: &WebSocketClientConfig,
    connector: Option<&TlsConnector>,
    max_line_length: usize,
    options: HostOptions,
) {
    loop {
        let mut retries = 0u64;
        let mut path = config.path.clone();
        let connected_at = loop {
            let url = url_with_path(config, &path);
            log::info!("connecting to {url}");
            let failure = match attempt(hub, config, connector, &path, max_line_length, options) {
                Ok(connected_at) => break connected_at,
                Err(failure) => failure,
            };
            if hub.stop.is_stopped() {
                return;
            }
            retries += 1;
            let (reason, pause) = match failure {
                Failure::ChannelTaken => {
                    path = format!("{}-{retries}", config.path);
                    (
                        "HTTP 429 Too Many Requests: the channel is taken".to_owned(),
                        TAKEN_CHANNEL_PAUSE,
                    )
                }
                Failure::Other(reason) => (reason, config.retry.interval),
            };
            if !config.retry.allows(retries) {
                log::error!("gave up connecting to {url}: {reason}");
                hub.emit(Event::GaveUp {
                    transport: Transport::WebSocketClient,
                    target: url,
                    reason,
                });
                return;
            }
            log::warn!("cannot connect to {url}: {reason}; retry {retries} in {pause:?}");
            if hub.stop.sleep(pause) {
                return;
            }
        };
        if hub.stop.is_stopped() {
            return;
        }
        log::warn!("lost the connection to {}; connecting again", config.url());
        // A server that accepts and at once closes must not make this a busy loop.
        if connected_at.elapsed() < config.retry.interval && hub.stop.sleep(config.retry.interval) {
            return;
        }
    }
}

/// Connects, upgrades and serves once; returns when the connection was established and has ended
/// (with the time it was established), or why it could not be established.
fn attempt(
    hub: &Arc<Hub>,
    config: &WebSocketClientConfig,
    connector: Option<&TlsConnector>,
    path: &str,
    max_line_length: usize,
    options: HostOptions,
) -> Result<Instant, Failure> {
    let deadline = deadline_after(config.connect_timeout);
    let socket = dial(&config.host, config.port, config.connect_timeout, &hub.stop)
        .map_err(Failure::Other)?;
    let _ = socket.set_nodelay(true);
    let address = socket
        .peer_addr()
        .map_err(|error| Failure::Other(error.to_string()))?;
    let id = hub.next_peer_id();
    let reader = Reader::start(&socket, format!("mdr-in{}", id.get()), options, &hub.stop)
        .map_err(|error| Failure::Other(error.to_string()))?;
    let link = Link::new(
        socket
            .try_clone()
            .map_err(|error| Failure::Other(error.to_string()))?,
    );
    let connecting = Connecting {
        hub,
        config,
        id,
        request: upgrade_request(config, path)?,
        url: url_with_path(config, path),
        reader,
        socket,
        address,
        deadline,
        max_line_length,
    };
    match connector {
        #[cfg(feature = "tls")]
        Some(connector) => {
            let stream = tls::connect(
                connector,
                &config.host,
                link,
                &connecting.reader,
                deadline,
                hub.stop.receiver(),
            )
            .map_err(Failure::Other)?;
            connecting.upgrade_and_serve(stream)
        }
        #[cfg(not(feature = "tls"))]
        Some(connector) => match *connector {},
        None => connecting.upgrade_and_serve(link),
    }
}

/// One attempt with its socket connected, before the upgrade.
struct Connecting<'a> {
    hub: &'a Hub,
    config: &'a WebSocketClientConfig,
    id: PeerId,
    request: Request,
    url: String,
    reader: Reader,
    socket: TcpStream,
    address: SocketAddr,
    deadline: Instant,
    max_line_length: usize,
}

impl Connecting<'_> {
    /// Upgrades over `stream` (plain, or TLS) and serves the connection until it ends.
    fn upgrade_and_serve<S: OverLink>(self, stream: S) -> Result<Instant, Failure> {
        let websocket = upgrade(
            stream,
            self.request,
            self.config,
            &self.reader,
            self.deadline,
            self.hub,
        )?;
        let connected_at = Instant::now();
        let connection = Established {
            websocket,
            reader: self.reader,
            socket: self.socket,
            address: self.address,
        };
        websocket_link::serve(
            self.hub,
            self.id,
            connection,
            Transport::WebSocketClient,
            self.max_line_length,
            &self.url,
        );
        Ok(connected_at)
    }
}

/// The WebSocket upgrade over `stream`, resumed each time more of the server's answer arrives.
fn upgrade<S: OverLink>(
    stream: S,
    request: Request,
    config: &WebSocketClientConfig,
    reader: &Reader,
    deadline: Instant,
    hub: &Hub,
) -> Result<tungstenite::WebSocket<S>, Failure> {
    let websocket_config = websocket_link::websocket_config(config.max_frame_size);
    let mut handshake =
        tungstenite::client::client_with_config(request, stream, Some(websocket_config));
    loop {
        match handshake {
            Ok((websocket, _response)) => return Ok(websocket),
            Err(HandshakeError::Interrupted(mut midway)) => {
                reader
                    .feed(
                        midway.get_mut().get_mut().link(),
                        deadline,
                        hub.stop.receiver(),
                    )
                    .map_err(Failure::Other)?;
                handshake = midway.handshake();
            }
            Err(HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                return Err(match response.status() {
                    StatusCode::TOO_MANY_REQUESTS => Failure::ChannelTaken,
                    status => {
                        Failure::Other(format!("the server refused the upgrade: HTTP {status}"))
                    }
                })
            }
            Err(HandshakeError::Failure(error)) => {
                return Err(Failure::Other(format!("upgrade failed: {error}")))
            }
        }
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
