//! What the host and a connection's own threads share about one peer: who it is, its outbox, how
//! to end it, and why it ended.

use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Mutex;

use crate::hub::outbox::Outbox;
use crate::hub::{lock, DisconnectReason, PeerId, Transport};

pub(crate) struct PeerShared {
    pub id: PeerId,
    pub address: SocketAddr,
    pub transport: Transport,
    pub outbox: Outbox,
    /// A handle on the socket to shut it down from another thread: it wakes a blocked read or write.
    /// Released when the session ends, so that a list of peers kept elsewhere holds no socket open.
    socket: Mutex<Option<TcpStream>>,
    /// Why the connection is ending, once something decided it; the first reason wins.
    reason: Mutex<Option<DisconnectReason>>,
}

impl PeerShared {
    pub(crate) fn new(
        id: PeerId,
        address: SocketAddr,
        transport: Transport,
        socket: TcpStream,
        outbox: Outbox,
    ) -> Self {
        PeerShared {
            id,
            address,
            transport,
            outbox,
            socket: Mutex::new(Some(socket)),
            reason: Mutex::new(None),
        }
    }

    /// Ends the connection for `reason` (unless it is already ending for another) by shutting the
    /// socket down, which wakes its reader and writer.
    pub(crate) fn close(&self, reason: DisconnectReason) {
        self.note_reason(reason);
        self.shut(Shutdown::Both);
    }

    /// Stops reading: a blocked read returns end-of-stream, and the reader ends the connection the
    /// ordinary way, letting the writer send what is queued first.
    pub(crate) fn stop_reading(&self) {
        self.shut(Shutdown::Read);
    }

    fn shut(&self, how: Shutdown) {
        if let Some(socket) = &*lock(&self.socket) {
            let _ = socket.shutdown(how);
        }
    }

    /// Closes this handle on the socket: the connection has ended.
    pub(crate) fn release_socket(&self) {
        lock(&self.socket).take();
    }

    pub(crate) fn note_reason(&self, reason: DisconnectReason) {
        lock(&self.reason).get_or_insert(reason);
    }

    pub(crate) fn reason(&self) -> Option<DisconnectReason> {
        lock(&self.reason).clone()
    }
}
