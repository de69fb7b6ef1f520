//! Serving one established TCP connection: the calling thread reads and decodes, a writer thread
//! sends what the host queues, coalescing whatever has piled up into one write.
//!
//! The reader owns the connection's life: it registers the peer, and when reading ends (the peer
//! closed, an error, or the host shutting down) it unregisters it, lets the writer send what is still
//! queued (for at most the flush timeout), closes the socket and reports why.

use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;

use crossbeam_channel::Receiver;

use crate::codec::{DecodeError, Item, LineDecoder};
use crate::host::{DisconnectReason, Event, HostOptions, Hub, PeerId, PeerShared, Transport, Wire};

/// Bytes asked for in one read.
const READ_SIZE: usize = 32 * 1024;
/// The writer gathers queued messages up to about this many bytes into one write.
const COALESCE_BYTES: usize = 64 * 1024;

/// Serves `stream` until the connection ends; returns why it ended.
pub(crate) fn serve(
    hub: &Arc<Hub>,
    id: PeerId,
    mut stream: TcpStream,
    transport: Transport,
    max_line_length: usize,
    options: HostOptions,
) -> DisconnectReason {
    let address = match stream.peer_addr() {
        Ok(address) => SocketAddr::new(address.ip().to_canonical(), address.port()),
        Err(error) => {
            return DisconnectReason::ReadFailed(format!(
                "the connection has no peer address: {error}"
            ))
        }
    };
    // One message must not wait for the next to fill a segment: the protocol is interactive.
    let _ = stream.set_nodelay(true);
    let (closer, writer_stream) = match (stream.try_clone(), stream.try_clone()) {
        (Ok(closer), Ok(writer_stream)) => (closer, writer_stream),
        (Err(error), _) | (_, Err(error)) => {
            log::error!("{id} {address}: cannot share the socket between threads: {error}");
            return DisconnectReason::ReadFailed(error.to_string());
        }
    };
    let shared = Arc::new(PeerShared::new(id, address, transport, closer));
    let outbox = hub.register(Arc::clone(&shared));
    log::info!("{id} connected from {address} ({transport})");
    hub.emit(Event::Connected {
        peer: id,
        address,
        transport,
    });

    let writer_shared = Arc::clone(&shared);
    // Dropped when the writer ends: lets the reader wait for it with a deadline.
    let (writer_alive, writer_ended) = crossbeam_channel::bounded::<()>(0);
    let writer = thread::Builder::new()
        .name(format!("mdr-w{}", id.get()))
        .spawn(move || {
            write_queued(writer_stream, &outbox, &writer_shared);
            drop(writer_alive);
        });
    let read_reason = match writer {
        Ok(_) => read_items(hub, &mut stream, id, max_line_length),
        Err(ref error) => {
            DisconnectReason::WriteFailed(format!("cannot start the writer thread: {error}"))
        }
    };

    // The writer sends what is still queued, then sees the end of its queue; one blocked on a peer
    // that does not read is woken by shutting the socket down once the flush timeout has passed (a
    // socket write timeout would not reach a write that is already blocked).
    hub.unregister(id);
    let _ = writer_ended.recv_timeout(options.flush_timeout);
    shared.close(read_reason);
    if let Ok(writer) = writer {
        hub.join(writer);
    }
    let reason = shared.reason().unwrap_or(DisconnectReason::ClosedByPeer);
    crate::transport::report_disconnected(hub, id, address, transport, &reason);
    reason
}

/// Reads and decodes until the connection or the host ends; returns the reader's view of why.
fn read_items(
    hub: &Hub,
    stream: &mut TcpStream,
    id: PeerId,
    max_line_length: usize,
) -> DisconnectReason {
    let mut decoder = LineDecoder::with_max_line_length(max_line_length);
    let mut buffer = vec![0; READ_SIZE];
    let mut decode_errors = 0u64;
    let host_listening = Cell::new(true);
    let mut deliver = |item: Result<Item<'_>, DecodeError>| {
        if !host_listening.get() {
            return;
        }
        let event = match item {
            Ok(item) => Event::Item {
                peer: id,
                item: item.into_owned(),
            },
            Err(error) => {
                decode_errors += 1;
                // Every error reaches the host; the log shows the first and then every power of two,
                // so a peer sending garbage cannot flood it.
                if decode_errors.is_power_of_two() {
                    log::warn!(
                        "{id}: {error} ({decode_errors} decode errors from this peer so far)"
                    );
                }
                Event::DecodeError { peer: id, error }
            }
        };
        host_listening.set(hub.emit(event));
    };
    loop {
        let read = match stream.read(&mut buffer) {
            Ok(0) => {
                decoder.finish(&mut deliver);
                return DisconnectReason::ClosedByPeer;
            }
            Ok(read) => read,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return DisconnectReason::ReadFailed(error.to_string()),
        };
        decoder.decode(&buffer[..read], &mut deliver);
        if !host_listening.get() {
            return DisconnectReason::ShutDown;
        }
    }
}

/// Writes what the host queues until the peer is unregistered (after sending what is left) or a
/// write fails.
fn write_queued(mut stream: TcpStream, outbox: &Receiver<Wire>, shared: &PeerShared) {
    let mut batch = Vec::with_capacity(COALESCE_BYTES);
    let take = |wire: Wire, batch: &mut Vec<u8>| {
        shared.queued_bytes.fetch_sub(wire.len(), Ordering::Relaxed);
        batch.extend_from_slice(&wire);
    };
    while let Ok(first) = outbox.recv() {
        take(first, &mut batch);
        while batch.len() < COALESCE_BYTES {
            match outbox.try_recv() {
                Ok(wire) => take(wire, &mut batch),
                Err(_) => break,
            }
        }
        if let Err(error) = stream.write_all(&batch) {
            shared.close(DisconnectReason::WriteFailed(error.to_string()));
            return;
        }
        batch.clear();
    }
}
