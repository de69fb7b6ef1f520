//! TLS for the design written by hand (`handoff`), as the crate runs it: the session works over
//! buffers in memory once the handshake is done, so the reader and the writer thread each lock it
//! only while they decrypt or encrypt, never across a read or a write of the socket.

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;

use native_tls::{TlsConnector, TlsStream};

use super::handoff::Layer;

/// What TLS runs over: the socket itself during the handshake, then two buffers that the
/// connection's threads fill from and empty into the socket.
#[derive(Debug)]
pub struct Wire {
    /// The socket, until the handshake is done.
    socket: Option<TcpStream>,
    incoming: Vec<u8>,
    consumed: usize,
    outgoing: Vec<u8>,
}

impl Read for Wire {
    fn read(&mut self, into: &mut [u8]) -> io::Result<usize> {
        if let Some(socket) = &mut self.socket {
            return socket.read(into);
        }
        let available = &self.incoming[self.consumed..];
        if available.is_empty() {
            return Err(ErrorKind::WouldBlock.into());
        }
        let count = available.len().min(into.len());
        into[..count].copy_from_slice(&available[..count]);
        self.consumed += count;
        Ok(count)
    }
}

impl Write for Wire {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match &mut self.socket {
            Some(socket) => socket.write(bytes),
            None => {
                self.outgoing.extend_from_slice(bytes);
                Ok(bytes.len())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.socket {
            Some(socket) => socket.flush(),
            None => Ok(()),
        }
    }
}

/// A TLS session shared by the connection's two threads.
pub struct Tls(Mutex<TlsStream<Wire>>);

impl Tls {
    /// Makes the TLS handshake as a client over `socket` (a handle of its own), leaving the
    /// session on the socket so that the WebSocket upgrade can run over it next (`stream`).
    pub fn connect(connector: &TlsConnector, socket: TcpStream) -> Self {
        let wire = Wire {
            socket: Some(socket),
            incoming: Vec::new(),
            consumed: 0,
            outgoing: Vec::new(),
        };
        let session = connector
            .connect("127.0.0.1", wire)
            .unwrap_or_else(|error| panic!("the TLS handshake failed: {error}"));
        Tls(Mutex::new(session))
    }

    /// The session as a blocking stream over the socket, for the upgrade.
    pub fn stream(&mut self) -> &mut TlsStream<Wire> {
        self.0.get_mut().expect("lock")
    }

    /// Moves the session off the socket onto the buffers, once nothing more is read blocking.
    pub fn over_buffers(mut self) -> Self {
        let wire = self.stream().get_mut();
        assert!(wire.socket.take().is_some(), "still on the socket");
        self
    }
}

impl Layer for Tls {
    fn seal<'a>(&self, plain: &'a [u8], scratch: &'a mut Vec<u8>) -> &'a [u8] {
        let mut session = self.0.lock().expect("lock");
        session.write_all(plain).expect("TLS encrypts");
        scratch.clear();
        std::mem::swap(scratch, &mut session.get_mut().outgoing);
        scratch
    }

    fn open(&self, wire: &[u8], plain: &mut Vec<u8>) {
        let mut session = self.0.lock().expect("lock");
        let buffers = session.get_mut();
        if buffers.consumed == buffers.incoming.len() {
            buffers.incoming.clear();
            buffers.consumed = 0;
        }
        buffers.incoming.extend_from_slice(wire);
        let mut chunk = [0; 4096];
        loop {
            match session.read(&mut chunk) {
                Ok(0) => return,
                Ok(read) => plain.extend_from_slice(&chunk[..read]),
                Err(error) if error.kind() == ErrorKind::WouldBlock => return,
                Err(error) => panic!("TLS cannot decrypt: {error}"),
            }
        }
    }
}
