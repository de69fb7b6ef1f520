//! The agent as a TCP server: the acceptor of [`listener`](super::listener), and for each accepted
//! peer the thread pair of [`peer`](super::peer).

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::TcpServerConfig;
use crate::host::{HostOptions, Hub, Transport};
use crate::transport::listener::{self, Listening};
use crate::transport::peer;
use crate::Error;

/// Binds the server and starts its acceptor.
pub(crate) fn start(
    hub: &Arc<Hub>,
    config: &TcpServerConfig,
    max_line_length: usize,
    options: HostOptions,
) -> Result<Listening, Error> {
    let peer_hub = Arc::clone(hub);
    let listening = listener::listen(
        hub,
        SocketAddr::new(config.bind_address, config.port),
        "TCP server",
        "mdr-accept",
        config.max_peers,
        Arc::new(move |id, socket, _address| {
            peer::serve(
                &peer_hub,
                id,
                socket,
                Transport::TcpServer,
                max_line_length,
                options,
            );
        }),
    )?;
    log::info!("TCP server listening on {}", listening.address());
    Ok(listening)
}
