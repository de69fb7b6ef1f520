//! The agent as a TCP client: one connector thread that keeps a connection to the server through
//! the [`reconnect`](super::reconnect) loop, each connection served as a
//! [`connection`](super::connection) with nothing between the socket and the line stream.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::config::TcpClientConfig;
use crate::error::Error;
use crate::hub::{Hub, Transport};
use crate::transport::connect::{connect, display_target};
use crate::transport::connection::{self, Peer, Plain};
use crate::transport::reconnect::{self, Attempt};
use crate::transport::standing_writer::StandingWriter;

/// Starts the connector thread.
pub(crate) fn start(
    hub: &Arc<Hub>,
    config: &TcpClientConfig,
    max_line_length: usize,
) -> Result<(), Error> {
    let config = config.clone();
    let standing = StandingWriter::start(hub, "mdr-writer");
    reconnect::start(hub, Transport::TcpClient, "mdr-connect", move |hub| {
        let target = display_target(&config.host, config.port);
        let plain = Arc::new(Plain);
        reconnect::keep_connected(
            hub,
            Transport::TcpClient,
            &config.retry,
            &|| target.clone(),
            |_| {
                let connected = connect(
                    &config.host,
                    config.port,
                    config.connect_timeout,
                    hub.stop.receiver(),
                );
                let socket = match connected {
                    Ok(socket) => socket,
                    Err(error) => {
                        return Attempt::Failed {
                            reason: error.to_string(),
                            pause: None,
                        }
                    }
                };
                let connected_at = Instant::now();
                let address = match socket.peer_addr() {
                    Ok(address) => SocketAddr::new(address.ip().to_canonical(), address.port()),
                    Err(error) => {
                        return Attempt::Failed {
                            reason: format!("the connection has no peer address: {error}"),
                            pause: None,
                        }
                    }
                };
                let peer = Peer {
                    id: hub.next_peer_id(),
                    address,
                    transport: Transport::TcpClient,
                    description: format!("to {target}"),
                    place: None,
                };
                let reason = connection::serve(
                    hub,
                    peer,
                    socket,
                    Arc::clone(&plain),
                    max_line_length,
                    standing.as_ref(),
                );
                Attempt::Served {
                    connected_at,
                    reason,
                }
            },
        );
    })
}
