//! The agent as a TCP client: one connector thread that connects, serves the connection, and
//! connects again when it is lost, retrying as the [`RetryPolicy`](crate::RetryPolicy) allows.
//!
//! Every wait here ends at once when the host shuts down: retry pauses wait on the stop signal, and a
//! connection attempt to a host that does not answer is made in short slices so the stop signal is
//! seen between them (the standard library's connect cannot be interrupted).

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::TcpClientConfig;
use crate::host::{Event, HostOptions, Hub, StopSignal, Transport};
use crate::transport::peer;
use crate::Error;

/// The longest a connection attempt blocks before it looks at the stop signal.
const CONNECT_SLICE: Duration = Duration::from_millis(250);

/// Starts the connector thread.
pub(crate) fn start(
    hub: &Arc<Hub>,
    config: &TcpClientConfig,
    max_line_length: usize,
    options: HostOptions,
) -> Result<(), Error> {
    let connector_hub = Arc::clone(hub);
    let config = config.clone();
    hub.spawn("mdr-connect".to_owned(), move || {
        keep_connected(&connector_hub, &config, max_line_length, options);
    })
    .map_err(Error::Spawn)
}

fn keep_connected(
    hub: &Arc<Hub>,
    config: &TcpClientConfig,
    max_line_length: usize,
    options: HostOptions,
) {
    let target = display_target(&config.host, config.port);
    loop {
        let Some(stream) = connect_with_retries(hub, config, &target) else {
            return;
        };
        let connected_at = Instant::now();
        let id = hub.next_peer_id();
        let reason = peer::serve(
            hub,
            id,
            stream,
            Transport::TcpClient,
            max_line_length,
            options,
        );
        if hub.stop.is_stopped() {
            return;
        }
        log::warn!("lost the connection to {target} ({reason}); connecting again");
        // A server that accepts and at once closes must not make this a busy loop.
        if connected_at.elapsed() < config.retry.interval && hub.stop.sleep(config.retry.interval) {
            return;
        }
    }
}

/// Connects, retrying as the policy allows; `None` when it gave up (the host has been told) or the
/// host shut down.
fn connect_with_retries(hub: &Hub, config: &TcpClientConfig, target: &str) -> Option<TcpStream> {
    let mut retries = 0u64;
    loop {
        log::info!("connecting to {target}");
        let failure = match dial(config, &hub.stop) {
            Ok(stream) => return Some(stream),
            Err(failure) => failure,
        };
        if hub.stop.is_stopped() {
            return None;
        }
        retries += 1;
        if !config.retry.allows(retries) {
            log::error!("gave up connecting to {target}: {failure}");
            hub.emit(Event::GaveUp {
                transport: Transport::TcpClient,
                target: target.to_owned(),
                reason: failure,
            });
            return None;
        }
        log::warn!(
            "cannot connect to {target}: {failure}; retry {retries} in {:?}",
            config.retry.interval
        );
        if hub.stop.sleep(config.retry.interval) {
            return None;
        }
    }
}

/// One attempt: every address the host resolves to, IPv4 and IPv6, in the resolver's order.
fn dial(config: &TcpClientConfig, stop: &StopSignal) -> Result<TcpStream, String> {
    let addresses: Vec<SocketAddr> = (config.host.as_str(), config.port)
        .to_socket_addrs()
        .map_err(|error| format!("cannot resolve {}: {error}", config.host))?
        .collect();
    let mut failures = Vec::new();
    for address in addresses {
        match connect_unless_stopped(address, config.connect_timeout, stop) {
            Ok(stream) => return Ok(stream),
            Err(error) => failures.push(format!("{address}: {error}")),
        }
        if stop.is_stopped() {
            break;
        }
    }
    if failures.is_empty() {
        return Err(format!("{} resolves to no address", config.host));
    }
    Err(failures.join("; "))
}

fn connect_unless_stopped(
    address: SocketAddr,
    timeout: Duration,
    stop: &StopSignal,
) -> std::io::Result<TcpStream> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match TcpStream::connect_timeout(
            &address,
            left.min(CONNECT_SLICE).max(Duration::from_millis(1)),
        ) {
            Err(error)
                if error.kind() == std::io::ErrorKind::TimedOut
                    && !left.is_zero()
                    && !stop.is_stopped() =>
            {
                continue
            }
            result => return result,
        }
    }
}

fn display_target(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
