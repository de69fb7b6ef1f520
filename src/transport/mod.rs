//! The transports: each turns sockets into registered peers of the [`Hub`](crate::hub::Hub).
//!
//! One file per transport (`tcp_server`, `tcp_client`, `websocket_server`, `websocket_client`), on
//! what they share: one [`connection`] shape (a reader and a writer around an I/O-free protocol
//! state), one [`session`] of rules for a connection's life, one [`reconnect`] loop for the
//! clients, one acceptor ([`listener`]) for the servers, and one way to connect ([`connect`]).
//! Transports never decide where a message goes; the hub does.

pub(crate) mod connect;
pub(crate) mod connection;
pub(crate) mod handshake;
pub(crate) mod listener;
pub(crate) mod memory_stream;
pub(crate) mod reconnect;
pub(crate) mod session;
pub(crate) mod tcp_client;
pub(crate) mod tcp_server;
pub(crate) mod tls;
pub(crate) mod websocket_client;
pub(crate) mod websocket_protocol;
pub(crate) mod websocket_server;

use crate::hub::{Event, Hub, Transport};

/// Tells the host when a transport's own thread (an acceptor, a connector) stops by a panic: the
/// transport then accepts or connects no more, and the host should know.
pub(crate) struct TransportGuard<'h> {
    pub hub: &'h Hub,
    pub transport: Transport,
    pub thread: &'static str,
}

impl Drop for TransportGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            log::error!(
                "the {} stopped: its {} thread failed",
                self.transport,
                self.thread
            );
            self.hub.emit(Event::TransportStopped {
                transport: self.transport,
                reason: format!(
                    "its {} thread failed (a bug worth reporting); it works no more",
                    self.thread
                ),
            });
        }
    }
}
