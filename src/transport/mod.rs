//! The transports: each turns sockets into registered peers of the [`Hub`](crate::host::Hub).
//!
//! One file per transport; the thread pair that serves one established TCP connection is shared by
//! all of them (`peer`). Transports never decide where a message goes; the hub does.

pub(crate) mod dial;
pub(crate) mod listener;
pub(crate) mod peer;
pub(crate) mod tcp_client;
pub(crate) mod tcp_server;
pub(crate) mod tls;
pub(crate) mod websocket_client;
pub(crate) mod websocket_link;
pub(crate) mod websocket_server;

use std::net::SocketAddr;

use crate::host::{DisconnectReason, Event, Hub, PeerId, Transport};

/// Logs how a connection ended (a warning unless it ended the ordinary way) and tells the host.
pub(crate) fn report_disconnected(
    hub: &Hub,
    id: PeerId,
    address: SocketAddr,
    transport: Transport,
    reason: &DisconnectReason,
) {
    match reason {
        DisconnectReason::ClosedByPeer
        | DisconnectReason::ShutDown
        | DisconnectReason::DisconnectedByHost => {
            log::info!("{id} {address} disconnected: {reason}")
        }
        _ => log::warn!("{id} {address} disconnected: {reason}"),
    }
    hub.emit(Event::Disconnected {
        peer: id,
        address,
        transport,
        reason: reason.clone(),
    });
}
