//! The transports: each turns sockets into registered peers of the [`Hub`](crate::host::Hub).
//!
//! One file per transport; the thread pair that serves one established TCP connection is shared by
//! all of them (`peer`). Transports never decide where a message goes; the hub does.

pub(crate) mod dial;
pub(crate) mod peer;
pub(crate) mod tcp_client;
pub(crate) mod tcp_server;
pub(crate) mod tls;
pub(crate) mod websocket_client;
pub(crate) mod websocket_link;
pub(crate) mod websocket_server;
