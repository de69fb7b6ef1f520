//! The rules of one connection's life, written once for every transport: register the peer and
//! announce it, hand its reads to the host, and when it ends, however it ends, unregister it, let
//! its writer send what is queued, join the writer, count what was not written, and report why.
//!
//! The ending runs from [`Session`]'s `Drop`, so a panic in the reader cannot skip it: the peer
//! never stays registered, counted against the peer limit, or unreported.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Receiver;

use crate::hub::{DisconnectReason, Event, Hub, PeerShared, PeerStream};

/// Where a connection's writer runs.
pub(crate) enum Writer {
    /// On a thread of its own, which the session joins.
    Own(JoinHandle<()>),
    /// On a client's standing writer thread, which outlives the connection.
    Lent,
}

/// One registered connection, from its announcement to its report.
pub(crate) struct Session<'h> {
    hub: &'h Hub,
    pub shared: Arc<PeerShared>,
    stream: PeerStream,
    writer: Option<(Writer, Receiver<()>)>,
    /// Why reading ended, once it did.
    read_ended: Option<DisconnectReason>,
    description: String,
}

impl<'h> Session<'h> {
    /// Registers the peer and tells the host it connected.
    pub(crate) fn open(
        hub: &'h Hub,
        shared: Arc<PeerShared>,
        max_line_length: usize,
        description: String,
    ) -> Session<'h> {
        let stream = hub.peer_stream(shared.id, max_line_length);
        hub.register(&shared);
        log::info!(
            "{} connected: {description} ({})",
            shared.id,
            shared.transport
        );
        hub.emit(Event::Connected {
            peer: shared.id,
            address: shared.address,
            transport: shared.transport,
        });
        Session {
            hub,
            shared,
            stream,
            writer: None,
            read_ended: None,
            description,
        }
    }

    /// Takes charge of the writer: the session waits for its loop to end, and joins its thread if
    /// the thread is the connection's own. `ended` is disconnected when the loop ends.
    pub(crate) fn adopt_writer(&mut self, writer: Writer, ended: Receiver<()>) {
        self.writer = Some((writer, ended));
    }

    /// Hands the bytes of one read to the host; `false` once the host has shut down.
    pub(crate) fn deliver(&mut self, bytes: Vec<u8>) -> bool {
        self.hub.deliver(self.stream.read(bytes))
    }

    /// Notes why reading ended; the session ends when dropped.
    pub(crate) fn reading_ended(&mut self, reason: DisconnectReason) {
        self.read_ended = Some(reason);
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let shared = &self.shared;
        let read_reason = self.read_ended.take().unwrap_or_else(|| {
            DisconnectReason::ReadFailed(if std::thread::panicking() {
                "the reader failed (a bug worth reporting)".to_owned()
            } else {
                "reading stopped".to_owned()
            })
        });
        self.hub.unregister(shared.id);
        // The writer sends what is still queued, then sees the end of its outbox; one blocked on a
        // peer that does not read is woken by shutting the socket down once the flush timeout has
        // passed (a socket write timeout would not reach a write that is already blocked).
        self.hub.close_outbox(shared);
        if let Some((_, ended)) = &self.writer {
            let _ = ended.recv_timeout(self.hub.options.flush_timeout);
        }
        shared.close(read_reason);
        match self.writer.take() {
            Some((Writer::Own(thread), _)) => self.hub.threads.join(thread),
            // A loop that panicked is noted when the standing thread is joined, at shutdown.
            Some((Writer::Lent, ended)) => while ended.recv().is_ok() {},
            None => {}
        }
        self.hub.note_discarded(shared.outbox.discard());
        shared.release_socket();
        let reason = shared.reason().unwrap_or(DisconnectReason::ClosedByPeer);
        let (id, address, transport) = (shared.id, shared.address, shared.transport);
        match reason {
            DisconnectReason::ClosedByPeer
            | DisconnectReason::ShutDown
            | DisconnectReason::DisconnectedByHost => {
                log::info!("{id} {} disconnected: {reason}", self.description)
            }
            _ => log::warn!("{id} {} disconnected: {reason}", self.description),
        }
        let end = self.stream.end(Event::Disconnected {
            peer: id,
            address,
            transport,
            reason,
        });
        self.hub.deliver(end);
    }
}
