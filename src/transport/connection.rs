//! One established connection, whatever its transport: the calling thread reads, a writer thread
//! writes, and the protocol state between the socket and the line stream sits between them.
//!
//! Only the writer ever blocks on a slow peer, so what the peer sends keeps being read whatever it
//! does with what it is sent. The writer sleeps until its outbox stops being empty, then takes
//! everything queued at once and writes it with one call. The protocol state ([`Protocol`]) does no
//! I/O: TCP's passes bytes through; WebSocket's frames and unframes them, and encrypts them for
//! wss. It is never locked across a blocking call.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::hub::fault::{self, FaultPoint};
use crate::hub::{DisconnectReason, Doorbell, Framing, Hub, Outbox, PeerId, PeerShared, Transport};
use crate::transport::admission::Place;
use crate::transport::session::{Session, Writer};
use crate::transport::standing_writer::{StandingWriter, WriteLoop};

/// Bytes asked for in one read while the peer sends in bulk.
const LARGEST_READ: usize = 32 * 1024;
/// Bytes asked for in one read while the peer is quiet or interactive: an idle connection keeps no
/// more than this for reading.
const SMALLEST_READ: usize = 2 * 1024;

/// What lies between the socket and the line stream, shared by a connection's reader and writer.
pub(crate) trait Protocol: Send + Sync + 'static {
    /// How the host lays messages out in this connection's outbox.
    fn framing(&self) -> Framing;

    /// Turns bytes read from the socket into line-stream bytes for the host, appended to `lines`.
    /// Replies the protocol owes the peer (a pong, a Close) go to `outbox`. An `Err` ends the
    /// connection for that reason.
    fn receive(
        &self,
        raw: &[u8],
        lines: &mut Vec<u8>,
        outbox: &Outbox,
    ) -> Result<(), DisconnectReason>;

    /// Why the connection ended when the socket reached its end.
    fn ended(&self) -> DisconnectReason {
        DisconnectReason::ClosedByPeer
    }

    /// Turns what the writer took from the outbox into the bytes to write: `taken` itself, or
    /// `scratch` filled from it.
    fn send<'a>(
        &self,
        taken: &'a [u8],
        scratch: &'a mut Vec<u8>,
    ) -> Result<&'a [u8], DisconnectReason>;

    /// The last bytes to write when the host closes the connection in an orderly way (a WebSocket
    /// Close frame), appended to `out` as they go on the wire.
    fn goodbye(&self, out: &mut Vec<u8>);

    /// When the idle writer should wake for the protocol's own timer (WebSocket pings); `None`,
    /// the default: only when there is something to send, so an idle connection costs nothing.
    fn timer(&self) -> Option<Instant> {
        None
    }

    /// The timer ran out: queue what it owes the peer (a Ping) to `outbox`, or give the reason
    /// the link is dead.
    fn timer_expired(&self, _outbox: &Outbox) -> Result<(), DisconnectReason> {
        Ok(())
    }

    /// How long one write may block without progress before the connection ends; `None`: for
    /// ever (a peer that does not read is then dropped at its outbox bound).
    fn write_timeout(&self) -> Option<Duration> {
        None
    }
}

/// TCP: the line stream is the byte stream.
pub(crate) struct Plain;

impl Protocol for Plain {
    fn framing(&self) -> Framing {
        Framing::Lines
    }

    fn receive(&self, raw: &[u8], lines: &mut Vec<u8>, _: &Outbox) -> Result<(), DisconnectReason> {
        lines.extend_from_slice(raw);
        Ok(())
    }

    fn send<'a>(&self, taken: &'a [u8], _: &'a mut Vec<u8>) -> Result<&'a [u8], DisconnectReason> {
        Ok(taken)
    }

    fn goodbye(&self, _: &mut Vec<u8>) {}
}

/// Who the peer is, as the session announces it.
pub(crate) struct Peer {
    pub id: PeerId,
    pub address: SocketAddr,
    pub transport: Transport,
    pub description: String,
    /// A server's place within its peer limit, given back as soon as the peer stops sending:
    /// what is still written to it afterwards does not keep the next peer out.
    pub place: Option<Place>,
}

/// Serves `socket` until the connection ends: registers the peer, starts its writer (on the
/// client's `standing` writer thread when there is one), reads on the calling thread, and ends
/// the session. Returns why it ended.
pub(crate) fn serve<P: Protocol>(
    hub: &Arc<Hub>,
    peer: Peer,
    socket: TcpStream,
    protocol: Arc<P>,
    max_line_length: usize,
    standing: Option<&StandingWriter>,
) -> DisconnectReason {
    let Peer {
        id,
        address,
        transport,
        description,
        place,
    } = peer;
    // One message must not wait for the next to fill a segment: the protocol is interactive.
    let _ = socket.set_nodelay(true);
    let _ = socket.set_write_timeout(protocol.write_timeout());
    let (closer, writer_socket) = match (socket.try_clone(), socket.try_clone()) {
        (Ok(closer), Ok(writer_socket)) => (closer, writer_socket),
        (Err(error), _) | (_, Err(error)) => {
            log::error!("{id} {address}: cannot share the socket between threads: {error}");
            return DisconnectReason::ReadFailed(error.to_string());
        }
    };
    let (outbox, doorbell) = hub.outbox(protocol.framing());
    let shared = Arc::new(PeerShared::new(id, address, transport, closer, outbox));
    let mut session = Session::open(hub, Arc::clone(&shared), max_line_length, description);
    let writer = start_writer(
        hub,
        &shared,
        writer_socket,
        doorbell,
        Arc::clone(&protocol),
        standing,
    );
    match writer {
        Ok((writer, ended)) => session.adopt_writer(writer, ended),
        Err(error) => {
            session.reading_ended(DisconnectReason::WriteFailed(format!(
                "cannot start the writer thread: {error}"
            )));
            drop(session);
            return shared.reason().unwrap_or(DisconnectReason::ClosedByPeer);
        }
    }
    fault::check(&hub.options, FaultPoint::Reader);
    let reason = read(&mut session, socket, &*protocol);
    drop(place);
    session.reading_ended(reason);
    drop(session);
    shared.reason().unwrap_or(DisconnectReason::ClosedByPeer)
}

/// Reads and hands what arrives to the host until the connection or the host ends; returns the
/// reader's view of why. The protocol is asked first with nothing read, for what it may already
/// hold from the handshake.
fn read<P: Protocol>(
    session: &mut Session<'_>,
    mut socket: TcpStream,
    protocol: &P,
) -> DisconnectReason {
    let mut buffer = ReadBuffer::new();
    let mut read = 0;
    loop {
        let mut lines = Vec::with_capacity(read);
        let received = protocol.receive(buffer.filled(read), &mut lines, &session.shared.outbox);
        // What arrived before the protocol ended the connection still reaches the host.
        if !lines.is_empty() && !session.deliver(lines) {
            return DisconnectReason::ShutDown;
        }
        if let Err(reason) = received {
            return reason;
        }
        read = loop {
            match socket.read(buffer.space(read)) {
                Ok(0) => return protocol.ended(),
                Ok(read) => break read,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => return DisconnectReason::ReadFailed(error.to_string()),
            }
        };
    }
}

/// The reader's buffer: it grows while reads fill it (a peer sending in bulk) and shrinks back once
/// reads stay small, so that bulk costs few system calls and an idle peer little memory.
struct ReadBuffer {
    bytes: Vec<u8>,
    small_reads: u32,
}

impl ReadBuffer {
    fn new() -> Self {
        ReadBuffer {
            bytes: vec![0; SMALLEST_READ],
            small_reads: 0,
        }
    }

    fn filled(&self, read: usize) -> &[u8] {
        &self.bytes[..read]
    }

    /// Where the next read goes, sized after the last one (`last` bytes).
    fn space(&mut self, last: usize) -> &mut [u8] {
        let size = self.bytes.len();
        if last == size && size < LARGEST_READ {
            self.bytes = vec![0; size * 2];
            self.small_reads = 0;
        } else if last < size / 16 && size > SMALLEST_READ {
            self.small_reads += 1;
            if self.small_reads == 64 {
                self.bytes = vec![0; SMALLEST_READ];
                self.small_reads = 0;
            }
        } else {
            self.small_reads = 0;
        }
        &mut self.bytes
    }
}

/// Starts the writer of a connection, on `standing` if it is given and alive, else on a thread of
/// its own; returns the writer and a channel that disconnects when its loop ends.
fn start_writer<P: Protocol>(
    hub: &Arc<Hub>,
    shared: &Arc<PeerShared>,
    socket: TcpStream,
    doorbell: Doorbell,
    protocol: Arc<P>,
    standing: Option<&StandingWriter>,
) -> std::io::Result<(Writer, Receiver<()>)> {
    let (alive, ended) = crossbeam_channel::bounded::<()>(0);
    let thread_shared = Arc::clone(shared);
    let hub = Arc::clone(hub);
    let write_loop: WriteLoop = Box::new(move || {
        let _alive = alive;
        let shared = thread_shared;
        let guard = WriterGuard(&shared);
        fault::check(&hub.options, FaultPoint::Writer);
        write(&hub, &shared, socket, &doorbell, &*protocol);
        drop(guard);
    });
    let write_loop = match standing {
        Some(standing) => match standing.lend(write_loop) {
            Ok(()) => return Ok((Writer::Lent, ended)),
            Err(given_back) => given_back,
        },
        None => write_loop,
    };
    let writer = thread::Builder::new()
        .name(format!("mdr-w{}", shared.id.get()))
        .spawn(write_loop)?;
    Ok((Writer::Own(writer), ended))
}

/// Ends the connection if the writer stops by a panic, which wakes the reader and so the session.
struct WriterGuard<'s>(&'s PeerShared);

impl Drop for WriterGuard<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.close(DisconnectReason::WriteFailed(
                "the writer failed (a bug worth reporting)".to_owned(),
            ));
        }
    }
}

/// Writes what the host queues until the outbox closes (after sending what is left, and the
/// protocol's goodbye) or a write fails.
fn write<P: Protocol>(
    hub: &Hub,
    shared: &PeerShared,
    mut socket: TcpStream,
    doorbell: &Doorbell,
    protocol: &P,
) {
    let mut taken = Vec::new();
    let mut scratch = Vec::new();
    let mut written = 0;
    loop {
        let batch = shared.outbox.take(&mut taken);
        if taken.is_empty() && !batch.woken {
            if !batch.closed {
                if let Err(reason) = wait_for_work(doorbell, written, protocol, &shared.outbox) {
                    shared.close(reason);
                    return;
                }
                continue;
            }
            if matches!(
                shared.reason(),
                Some(DisconnectReason::ShutDown | DisconnectReason::DisconnectedByHost)
            ) {
                scratch.clear();
                protocol.goodbye(&mut scratch);
                let _ = socket.write_all(&scratch);
            }
            return;
        }
        let sent = protocol.send(&taken, &mut scratch).and_then(|bytes| {
            socket
                .write_all(bytes)
                .map_err(|error| DisconnectReason::WriteFailed(error.to_string()))
        });
        if let Err(reason) = sent {
            hub.note_discarded(batch.messages);
            shared.close(reason);
            return;
        }
        written = batch.messages;
        taken.clear();
    }
}

/// Waits until the doorbell rings or the protocol's timer runs out, and then lets the protocol
/// act on its timer; an `Err` ends the connection. `written`: the messages of the last write,
/// which tell the doorbell how to wait.
fn wait_for_work<P: Protocol>(
    doorbell: &Doorbell,
    written: u64,
    protocol: &P,
    outbox: &Outbox,
) -> Result<(), DisconnectReason> {
    let Some(due) = protocol.timer() else {
        doorbell.wait(written);
        return Ok(());
    };
    if Instant::now() < due && doorbell.wait_deadline(due, written) {
        return Ok(());
    }
    protocol.timer_expired(outbox)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_buffer_grows_with_bulk_and_shrinks_when_reads_stay_small() {
        let mut buffer = ReadBuffer::new();
        let mut last = buffer.space(0).len();
        assert_eq!(last, SMALLEST_READ);
        while last < LARGEST_READ {
            let grown = buffer.space(last).len();
            assert_eq!(grown, last * 2);
            last = grown;
        }
        assert_eq!(buffer.space(LARGEST_READ).len(), LARGEST_READ, "no larger");
        for _ in 0..63 {
            assert_eq!(buffer.space(17).len(), LARGEST_READ);
        }
        assert_eq!(buffer.space(17).len(), SMALLEST_READ);
    }
}
