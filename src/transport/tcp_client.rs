//! The agent as a TCP client: one connector thread that connects, serves the connection, and
//! connects again when it is lost, retrying as the [`RetryPolicy`](crate::RetryPolicy) allows.
//!
//! Every wait here ends at once when the host shuts down: retry pauses wait on the stop signal, and
//! connection attempts are made as [`dial`] describes.

use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;

use crate::config::TcpClientConfig;
use crate::host::{Event, HostOptions, Hub, Transport};
use crate::transport::dial::{dial, display_target};
use crate::transport::peer;
use crate::Error;

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
        let failure = match dial(&config.host, config.port, config.connect_timeout, &hub.stop) {
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
