//! The transports: each turns sockets into registered peers of the [`Hub`](crate::hub::Hub).
//!
//! One file per transport (`tcp_server`, `tcp_client`, `websocket_server`, `websocket_client`), on
//! what they share: one [`connection`] shape (a reader and a writer around an I/O-free protocol
//! state), one [`session`] of rules for a connection's life, one [`reconnect`] loop for the
//! clients, one acceptor ([`listener`]) for the servers, and one way to connect ([`connect`]).
//! Transports never decide where a message goes; the hub does.

pub(crate) mod admission;
pub(crate) mod backoff;
pub(crate) mod connect;
pub(crate) mod connection;
pub(crate) mod handshake;
pub(crate) mod listener;
pub(crate) mod memory_stream;
pub(crate) mod ping;
pub(crate) mod reconnect;
pub(crate) mod session;
pub(crate) mod standing_writer;
pub(crate) mod tcp_client;
pub(crate) mod tcp_server;
pub(crate) mod tls;
pub(crate) mod websocket_client;
pub(crate) mod websocket_protocol;
pub(crate) mod websocket_server;

use std::sync::Arc;

use crate::error::Error;
use crate::hub::{Event, Hub, Transport};

/// Starts a transport's own thread (`role`: its acceptor or its connector), named `name`, to run
/// `body`; should the thread fail, the host is told that the transport stopped.
pub(crate) fn spawn_transport_thread(
    hub: &Arc<Hub>,
    transport: Transport,
    role: &'static str,
    name: &str,
    body: impl FnOnce(&Arc<Hub>) + Send + 'static,
) -> Result<(), Error> {
    let thread_hub = Arc::clone(hub);
    hub.threads
        .spawn(name.to_owned(), move || {
            let _guard = TransportGuard {
                hub: &thread_hub,
                transport,
                thread: role,
            };
            body(&thread_hub);
        })
        .map_err(Error::Spawn)
}

/// Tells the host when a transport's own thread (an acceptor, a connector) stops by a panic: the
/// transport then accepts or connects no more, and the host should know.
struct TransportGuard<'h> {
    hub: &'h Hub,
    transport: Transport,
    thread: &'static str,
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
