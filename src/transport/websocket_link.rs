//! One WebSocket connection on blocking sockets, read and written at once without polling.
//!
//! A tungstenite `WebSocket` (and a TLS stream under it) cannot be read and written from two
//! threads, and a TLS stream cannot be cloned. So a reader thread does blocking reads on a clone of
//! the raw socket and forwards the bytes over a channel, and one owner thread holds the WebSocket
//! over a [`Link`]: reads serve the forwarded bytes (`WouldBlock` when none are buffered), writes go
//! straight to the raw socket. The owner waits on incoming bytes, the host's outbound queue and the
//! stop signal at once, so a message the host sends leaves at once and an idle connection sleeps.
//!
//! Client and server differ only in how the connection is made; from the handshake on, this module
//! serves both.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use crossbeam_channel::{select, Receiver, Select, Sender};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

use crate::codec::{DecodeError, Item, LineDecoder};
use crate::host::{
    DisconnectReason, Event, HostOptions, Hub, PeerId, PeerShared, StopSignal, Transport, Wire,
};

/// Bytes asked for in one read of the raw socket.
const READ_SIZE: usize = 32 * 1024;
/// Reads the reader thread may have forwarded before the owner takes them; beyond this it waits,
/// and TCP slows the peer down.
const FORWARDED_READS: usize = 16;
/// Outbound messages written before one flush, so a burst costs few system calls.
const FRAMES_PER_FLUSH: usize = 256;

/// The byte stream under TLS and WebSocket: reads come from the reader thread, writes go to the
/// socket.
pub(crate) struct Link {
    socket: TcpStream,
    buffered: Vec<u8>,
    position: usize,
    ended: bool,
}

impl Link {
    pub(crate) fn new(socket: TcpStream) -> Self {
        Link {
            socket,
            buffered: Vec::new(),
            position: 0,
            ended: false,
        }
    }

    /// Adds bytes the reader thread forwarded.
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        if self.position == self.buffered.len() {
            self.buffered.clear();
            self.position = 0;
        }
        self.buffered.extend_from_slice(bytes);
    }

    /// The socket has no more to read: reads return end-of-stream once the buffer is empty.
    pub(crate) fn end(&mut self) {
        self.ended = true;
    }
}

impl Read for Link {
    fn read(&mut self, into: &mut [u8]) -> io::Result<usize> {
        let available = &self.buffered[self.position..];
        if available.is_empty() {
            return if self.ended {
                Ok(0)
            } else {
                Err(ErrorKind::WouldBlock.into())
            };
        }
        let count = available.len().min(into.len());
        into[..count].copy_from_slice(&available[..count]);
        self.position += count;
        Ok(count)
    }
}

impl Write for Link {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.socket.write(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.socket.flush()
    }
}

/// A stream with a [`Link`] at its bottom, to feed it: the link itself, or TLS over it.
pub(crate) trait OverLink: Read + Write {
    fn link(&mut self) -> &mut Link;
}

impl OverLink for Link {
    fn link(&mut self) -> &mut Link {
        self
    }
}

#[cfg(feature = "tls")]
impl OverLink for native_tls::TlsStream<Link> {
    fn link(&mut self) -> &mut Link {
        self.get_mut()
    }
}

/// The reader thread of one connection. Dropping it closes the socket and joins the thread, on
/// every path out of a connection, handshake failures included.
///
/// Every wait of the thread can be ended: a blocked read by shutting the socket down, a blocked
/// hand-over to an owner that is busy (stuck writing to a peer that does not read, say) by the stop
/// signal or by the connection's close signal.
pub(crate) struct Reader {
    chunks: Option<Receiver<Vec<u8>>>,
    owner_alive: Option<Sender<()>>,
    close_signal: Option<Sender<()>>,
    socket: TcpStream,
    thread: Option<JoinHandle<()>>,
}

impl Reader {
    /// Starts reading `socket` on a thread of its own.
    pub(crate) fn start(
        socket: &TcpStream,
        name: String,
        options: HostOptions,
        stop: &StopSignal,
    ) -> io::Result<Reader> {
        let (forward, chunks) = crossbeam_channel::bounded(FORWARDED_READS);
        let (owner_alive, owner_gone) = crossbeam_channel::bounded::<()>(0);
        let (close_signal, closing) = crossbeam_channel::bounded::<()>(0);
        let mut reading = socket.try_clone()?;
        let stop = stop.clone();
        let thread = thread::Builder::new().name(name).spawn(move || {
            let mut buffer = vec![0; READ_SIZE];
            loop {
                let read = match reading.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(read) => read,
                    Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                let handed_over = select! {
                    send(forward, buffer[..read].to_vec()) -> sent => sent.is_ok(),
                    recv(closing) -> _ => false,
                    recv(stop.receiver()) -> _ => false,
                };
                if !handed_over {
                    break;
                }
            }
            drop(forward);
            // The owner now writes what is still queued and closes; if it is stuck writing to a
            // peer that does not read, shutting the socket down after the flush timeout wakes it.
            let _ = owner_gone.recv_timeout(options.flush_timeout);
            let _ = reading.shutdown(Shutdown::Both);
        })?;
        Ok(Reader {
            chunks: Some(chunks),
            owner_alive: Some(owner_alive),
            close_signal: Some(close_signal),
            socket: socket.try_clone()?,
            thread: Some(thread),
        })
    }

    /// The forwarded reads; disconnected once the socket has no more.
    pub(crate) fn chunks(&self) -> &Receiver<Vec<u8>> {
        self.chunks.as_ref().expect("present until dropped")
    }

    /// The sender whose dropping tells the thread the connection is closing.
    fn take_close_signal(&mut self) -> Option<Sender<()>> {
        self.close_signal.take()
    }

    /// Waits for the next read until `deadline`, unless the host stops first. `Ok(None)` is the end
    /// of the stream.
    pub(crate) fn next_before(
        &self,
        deadline: Instant,
        stop: &Receiver<()>,
    ) -> Result<Option<Vec<u8>>, String> {
        select! {
            recv(self.chunks()) -> chunk => Ok(chunk.ok()),
            recv(stop) -> _ => Err("shutting down".to_owned()),
            default(deadline.saturating_duration_since(Instant::now())) => {
                Err("timed out waiting for the far side's answer".to_owned())
            }
        }
    }

    /// Waits for the next bytes until `deadline` and gives them to `link`; the end of the stream
    /// ends the link. For handshakes, which must wait for the far side's answer.
    pub(crate) fn feed(
        &self,
        link: &mut Link,
        deadline: Instant,
        stop: &Receiver<()>,
    ) -> Result<(), String> {
        match self.next_before(deadline, stop)? {
            Some(bytes) => link.feed(&bytes),
            None => link.end(),
        }
        Ok(())
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        drop(self.chunks.take());
        drop(self.owner_alive.take());
        drop(self.close_signal.take());
        let _ = self.socket.shutdown(Shutdown::Both);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Tungstenite's limits for a connection, from the largest frame and message accepted.
pub(crate) fn websocket_config(max_frame_size: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_frame_size(Some(max_frame_size))
        .max_message_size(Some(max_frame_size.max(1 << 16)))
}

/// What a finished handshake hands over to [`serve`].
pub(crate) struct Established<S: OverLink> {
    pub websocket: WebSocket<S>,
    pub reader: Reader,
    pub socket: TcpStream,
    pub address: SocketAddr,
}

/// Serves an established WebSocket until it ends; returns why it ended.
pub(crate) fn serve<S: OverLink>(
    hub: &Hub,
    id: PeerId,
    connection: Established<S>,
    transport: Transport,
    max_line_length: usize,
    description: &str,
) -> DisconnectReason {
    let Established {
        websocket,
        mut reader,
        socket,
        address,
    } = connection;
    let shared = Arc::new(PeerShared::new(id, address, transport, socket));
    if let Some(signal) = reader.take_close_signal() {
        shared.set_close_signal(signal);
    }
    let outbox = hub.register(Arc::clone(&shared));
    log::info!("{id} connected: {description} ({transport})");
    hub.emit(Event::Connected {
        peer: id,
        address,
        transport,
    });

    let mut owner = Owner {
        hub,
        id,
        websocket,
        outbox,
        shared,
        decoder: LineDecoder::with_max_line_length(max_line_length),
        decode_errors: 0,
    };
    let ended_by = owner.run(&reader);
    owner.shared.note_reason(ended_by);
    hub.unregister(id);
    let reason = owner
        .shared
        .reason()
        .unwrap_or(DisconnectReason::ClosedByPeer);
    if matches!(
        reason,
        DisconnectReason::ShutDown | DisconnectReason::DisconnectedByHost
    ) {
        // Send what the host queued before it closed, then say goodbye as the protocol asks. Should
        // the peer not read, the reader thread ends these writes after the flush timeout.
        let _ = owner.write(None, usize::MAX);
        let _ = owner.websocket.close(None);
        let _ = owner.websocket.flush();
    }
    drop(reader);
    crate::transport::report_disconnected(hub, id, address, transport, &reason);
    reason
}

/// The thread that owns one WebSocket: it reads, writes and hands items to the host.
struct Owner<'h, S: OverLink> {
    hub: &'h Hub,
    id: PeerId,
    websocket: WebSocket<S>,
    outbox: Receiver<Wire>,
    shared: Arc<PeerShared>,
    decoder: LineDecoder,
    decode_errors: u64,
}

impl<S: OverLink> Owner<'_, S> {
    /// Serves until the connection ends; returns why.
    fn run(&mut self, reader: &Reader) -> DisconnectReason {
        // Frames that came in the same read as the handshake's answer are already buffered.
        if let Some(reason) = self.read_frames() {
            return reason;
        }
        loop {
            if let Some(reason) = self.shared.reason() {
                return reason;
            }
            select! {
                recv(reader.chunks()) -> chunk => {
                    match chunk {
                        Ok(bytes) => self.websocket.get_mut().link().feed(&bytes),
                        // The end of the stream after the host asked to close is the host's own
                        // doing; telling tungstenite would make it refuse the goodbye frames.
                        Err(_) => match self.shared.reason() {
                            Some(reason) => return reason,
                            None => self.websocket.get_mut().link().end(),
                        },
                    }
                    if let Some(reason) = self.read_frames() {
                        return reason;
                    }
                }
                recv(self.outbox) -> wire => {
                    let Ok(wire) = wire else { return DisconnectReason::ShutDown };
                    if let Err(reason) = self.write(Some(wire), FRAMES_PER_FLUSH) {
                        return reason;
                    }
                }
                recv(self.hub.stop.receiver()) -> _ => return DisconnectReason::ShutDown,
            }
            // Whichever way this turn went, what the host queued meanwhile goes out now, so a flood
            // from the peer cannot hold its replies back until its queue overflows.
            let queued = self.outbox.len();
            if queued > 0 {
                if let Err(reason) = self.write(None, queued) {
                    return reason;
                }
            }
        }
    }

    /// Reads every complete frame the link holds, decoding text and binary frames alike into one
    /// stream of lines, and hands the items to the host. Returns why the connection ends, if it does.
    fn read_frames(&mut self) -> Option<DisconnectReason> {
        loop {
            let payload = match self.websocket.read() {
                Ok(Message::Text(text)) => text.as_bytes().to_vec(),
                Ok(Message::Binary(bytes)) => bytes.to_vec(),
                Ok(Message::Close(frame)) => {
                    if let Some(frame) = frame {
                        log::info!(
                            "{}: the far side closes: {} {}",
                            self.id,
                            frame.code,
                            frame.reason
                        );
                    }
                    // Tungstenite has queued the reply; send it and end here rather than wait for
                    // the far side to drop the connection, which the protocol allows.
                    let _ = self.websocket.flush();
                    return self.finish().or(Some(DisconnectReason::ClosedByPeer));
                }
                Ok(_) => continue,
                Err(tungstenite::Error::Io(error)) if error.kind() == ErrorKind::WouldBlock => {
                    // Pongs to the pings just read are queued; send them.
                    let _ = self.websocket.flush();
                    return None;
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return self.finish().or(Some(DisconnectReason::ClosedByPeer));
                }
                Err(tungstenite::Error::Capacity(error)) => {
                    return Some(DisconnectReason::ReadFailed(format!(
                        "frame too large: {error}"
                    )))
                }
                Err(error) => return Some(DisconnectReason::ReadFailed(error.to_string())),
            };
            let mut events = Vec::new();
            let id = self.id;
            self.decoder
                .decode(&payload, |item| events.push(to_event(id, item)));
            for event in events {
                if !self.deliver(event) {
                    return Some(DisconnectReason::ShutDown);
                }
            }
        }
    }

    /// Delivers what the decoder still holds at the end of the stream; `Some` if the host is gone.
    fn finish(&mut self) -> Option<DisconnectReason> {
        let mut events = Vec::new();
        let id = self.id;
        self.decoder.finish(|item| events.push(to_event(id, item)));
        for event in events {
            if !self.deliver(event) {
                return Some(DisconnectReason::ShutDown);
            }
        }
        None
    }

    /// Hands an event to the host. While the host's queue is full, frames the host sends keep going
    /// out (and with them the pongs tungstenite owes), so a slow host does not make the peer look
    /// slow. Returns `false` once the host has shut down or the connection broke.
    fn deliver(&mut self, event: Event) -> bool {
        if let Event::DecodeError { error, .. } = &event {
            self.decode_errors += 1;
            self.hub.note_decode_error();
            // The host gets every error; the log the first and then every power of two.
            if self.decode_errors.is_power_of_two() {
                log::warn!(
                    "{}: {error} ({} decode errors from this peer so far)",
                    self.id,
                    self.decode_errors
                );
            }
        }
        let events = self.hub.events().clone();
        let outbox = self.outbox.clone();
        let stop = self.hub.stop.receiver().clone();
        let mut event = Some(event);
        loop {
            let mut select = Select::new();
            let to_host = select.send(&events);
            let from_host = select.recv(&outbox);
            select.recv(&stop);
            let operation = select.select();
            match operation.index() {
                index if index == to_host => {
                    return operation
                        .send(&events, event.take().expect("sent once"))
                        .is_ok();
                }
                index if index == from_host => match operation.recv(&outbox) {
                    Ok(wire) => {
                        if let Err(reason) = self.write(Some(wire), FRAMES_PER_FLUSH) {
                            self.shared.note_reason(reason);
                            return false;
                        }
                    }
                    Err(_) => return false,
                },
                _ => {
                    let _ = operation.recv(&stop);
                    return false;
                }
            }
        }
    }

    /// Writes `first` and up to `most` messages in all from the queue, one frame per message as the
    /// original sends them, flushing after every batch.
    fn write(&mut self, first: Option<Wire>, most: usize) -> Result<(), DisconnectReason> {
        let mut next = first.or_else(|| self.outbox.try_recv().ok());
        let mut written = 0;
        while let Some(wire) = next {
            self.shared
                .queued_bytes
                .fetch_sub(wire.len(), Ordering::Relaxed);
            let message = match std::str::from_utf8(&wire) {
                Ok(text) => Message::text(text),
                Err(_) => Message::binary(wire.to_vec()),
            };
            self.websocket
                .write(message)
                .map_err(|error| DisconnectReason::WriteFailed(error.to_string()))?;
            written += 1;
            if written % FRAMES_PER_FLUSH == 0 {
                self.flush()?;
            }
            next = if written < most {
                self.outbox.try_recv().ok()
            } else {
                None
            };
        }
        self.flush()
    }

    fn flush(&mut self) -> Result<(), DisconnectReason> {
        self.websocket
            .flush()
            .map_err(|error| DisconnectReason::WriteFailed(error.to_string()))
    }
}

fn to_event(peer: PeerId, item: Result<Item<'_>, DecodeError>) -> Event {
    match item {
        Ok(item) => Event::Item {
            peer,
            item: item.into_owned(),
        },
        Err(error) => Event::DecodeError { peer, error },
    }
}
