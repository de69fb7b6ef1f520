//! The agent as a TCP server: the acceptor of [`listener`](super::listener), and for each accepted
//! peer a [`connection`](super::connection) with nothing between the socket and the line stream.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::TcpServerConfig;
use crate::error::Error;
use crate::hub::{Hub, Transport};
use crate::transport::connection::{self, Peer, Plain};
use crate::transport::listener::{self, Admission, Listening, PlaceTaken};

/// Binds the server and starts its acceptor.
pub(crate) fn start(
    hub: &Arc<Hub>,
    config: &TcpServerConfig,
    max_line_length: usize,
) -> Result<Listening, Error> {
    let peer_hub = Arc::clone(hub);
    let plain = Arc::new(Plain);
    let listening = listener::listen(
        hub,
        SocketAddr::new(config.bind_address, config.port),
        "TCP server",
        Transport::TcpServer,
        "mdr-accept",
        config.max_peers,
        PlaceTaken::OnAccept,
        Arc::new(move |id, socket, address, admission| {
            let Admission::Admitted(place) = admission else {
                unreachable!("a TCP server takes places when it accepts")
            };
            let peer = Peer {
                id,
                address,
                transport: Transport::TcpServer,
                description: format!("from {address}"),
                place: Some(place),
            };
            connection::serve(
                &peer_hub,
                peer,
                socket,
                Arc::clone(&plain),
                max_line_length,
                None,
            );
        }),
    )?;
    log::info!("TCP server listening on {}", listening.address());
    Ok(listening)
}
