//! The protocol state of an established WebSocket connection, ws or wss, client or server: the
//! frames, and TLS under them. It does no I/O, so a connection's reader and writer share it, each
//! locking its part only while it turns bytes into other bytes.
//!
//! Inbound, the reader hands it what the socket gave; it decrypts, unframes, and hands back the
//! payloads of text and binary messages alike as one stream of lines, as the original reads them.
//! A ping is answered, a Close is answered with the same code, and a frame that breaks the rules
//! is answered with the Close code RFC 6455 asks for (1002, 1007, 1009), each through the outbox
//! so that it leaves in order with the host's messages. Outbound, the host has already framed each
//! message in the outbox; this state only encrypts for wss. With a [`PingPolicy`], it also tells
//! the writer when to send a Ping and when the link is dead (see [`ping`](super::ping)).

use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::codec::websocket_frame::{
    encode_close, encode_frame, FrameDecoder, Incoming, MaskKeys, OpCode, Role, Violation,
};
use crate::config::PingPolicy;
use crate::hub::{lock, DisconnectReason, Framing, Outbox};
use crate::transport::connection::Protocol;
use crate::transport::memory_stream::Buffers;
use crate::transport::ping::{Liveness, Verdict};
use crate::transport::tls::TlsSession;

/// The Close code for an orderly end (RFC 6455 7.4.1).
const NORMAL_CLOSURE: u16 = 1000;

pub(crate) struct WebSocketProtocol {
    role: Role,
    frames: Mutex<FrameDecoder>,
    /// TLS for wss, over `buffers`.
    tls: Option<Mutex<TlsSession>>,
    buffers: Arc<Mutex<Buffers>>,
    /// Plain bytes that came with the upgrade's answer, read before anything else.
    already_read: Mutex<Vec<u8>>,
    /// Keys for the Close a client sends when the host ends the connection.
    mask_keys: Mutex<MaskKeys>,
    close_sent: AtomicBool,
    /// Whether the link is alive, when pings are on.
    liveness: Option<Liveness>,
}

impl WebSocketProtocol {
    /// `buffers` hold what the handshake read and did not consume; `tls` runs over them.
    /// `already_read` holds plain bytes that followed the upgrade's header.
    pub(crate) fn new(
        role: Role,
        max_frame_size: usize,
        tls: Option<TlsSession>,
        buffers: Arc<Mutex<Buffers>>,
        mut already_read: Vec<u8>,
        ping: Option<PingPolicy>,
    ) -> Self {
        if tls.is_none() {
            // Without TLS, what the handshake read past the upgrade's answer is plain frames.
            already_read.extend(lock(&buffers).take_unread());
        }
        WebSocketProtocol {
            role,
            frames: Mutex::new(FrameDecoder::new(role, max_frame_size)),
            tls: tls.map(Mutex::new),
            buffers,
            already_read: Mutex::new(already_read),
            mask_keys: Mutex::new(MaskKeys::new()),
            close_sent: AtomicBool::new(false),
            liveness: ping.map(|policy| Liveness::new(policy, Instant::now())),
        }
    }

    fn masked(&self) -> bool {
        self.role == Role::Client
    }

    /// Decrypts what `raw` completes; TLS records that reading produced are the writer's to send.
    fn decrypt(
        &self,
        tls: &Mutex<TlsSession>,
        raw: &[u8],
        plain: &mut Vec<u8>,
        outbox: &Outbox,
    ) -> Result<(), DisconnectReason> {
        let mut tls = lock(tls);
        lock(&self.buffers).feed(raw);
        let mut chunk = [0; 16 * 1024];
        let read = loop {
            match tls.read(&mut chunk) {
                Ok(0) => break Ok(()),
                Ok(read) => plain.extend_from_slice(&chunk[..read]),
                Err(error) if error.kind() == ErrorKind::WouldBlock => break Ok(()),
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => break Err(DisconnectReason::ReadFailed(format!("TLS: {error}"))),
            }
        };
        drop(tls);
        if lock(&self.buffers).has_outgoing() {
            outbox.wake();
        }
        read
    }

    /// Queues a Close frame unless one was sent already, and closes the outbox with it: RFC 6455
    /// 5.5.1 allows no data frame after a Close.
    fn queue_close(&self, outbox: &Outbox, code: Option<u16>, reason: &str) {
        if self.close_sent.swap(true, Ordering::AcqRel) {
            return;
        }
        outbox.push_last(|mask, out| match code {
            Some(code) => encode_close(code, reason, mask, out),
            None => encode_frame(OpCode::Close, &[], mask, out),
        });
    }
}

impl Protocol for WebSocketProtocol {
    fn framing(&self) -> Framing {
        Framing::WebSocket {
            masked: self.masked(),
        }
    }

    fn receive(
        &self,
        raw: &[u8],
        lines: &mut Vec<u8>,
        outbox: &Outbox,
    ) -> Result<(), DisconnectReason> {
        if let (Some(liveness), false) = (&self.liveness, raw.is_empty()) {
            liveness.received(Instant::now());
        }
        let mut plain = std::mem::take(&mut *lock(&self.already_read));
        let decrypted = match &self.tls {
            Some(tls) => self.decrypt(tls, raw, &mut plain, outbox),
            None => {
                plain.extend_from_slice(raw);
                Ok(())
            }
        };
        let mut closed = None;
        let unframed = lock(&self.frames).feed(&plain, |incoming| match incoming {
            Incoming::Text(text) => lines.extend_from_slice(text.as_bytes()),
            Incoming::Binary(bytes) => lines.extend_from_slice(bytes),
            Incoming::Ping(payload) => {
                outbox.push_raw(|mask, out| encode_frame(OpCode::Pong, payload, mask, out));
            }
            Incoming::Pong(_) => {}
            Incoming::Close { code, reason } => closed = Some((code, reason.to_owned())),
        });
        if let Err(violation) = unframed {
            let code = violation.close_code();
            self.queue_close(outbox, Some(code), &violation.to_string());
            let kind = match violation {
                Violation::TooBig { .. } => "frame too large",
                Violation::InvalidUtf8 => "text that is not UTF-8",
                Violation::Protocol(_) => "protocol violation",
            };
            return Err(DisconnectReason::ReadFailed(format!(
                "{kind}: {violation} (closed with code {code})"
            )));
        }
        if let Some((code, reason)) = closed {
            log::info!(
                "the far side closes: {} {reason}",
                code.map_or_else(|| "(no code)".to_owned(), |code| code.to_string())
            );
            // Echo the code, as RFC 6455 5.5.1 has it; a Close without a code gets one without.
            self.queue_close(outbox, code, "");
            return Err(DisconnectReason::ClosedByPeer);
        }
        decrypted
    }

    fn ended(&self) -> DisconnectReason {
        // A Close from the far side ends the connection before its socket ends.
        DisconnectReason::ReadFailed(
            "the connection ended without a closing handshake (1006)".to_owned(),
        )
    }

    fn send<'a>(
        &self,
        taken: &'a [u8],
        scratch: &'a mut Vec<u8>,
    ) -> Result<&'a [u8], DisconnectReason> {
        let Some(tls) = &self.tls else {
            return Ok(taken);
        };
        let mut tls = lock(tls);
        if !taken.is_empty() {
            tls.write_all(taken)
                .map_err(|error| DisconnectReason::WriteFailed(format!("TLS: {error}")))?;
        }
        scratch.clear();
        lock(&self.buffers).take_outgoing(scratch);
        Ok(scratch)
    }

    fn timer(&self) -> Option<Instant> {
        self.liveness.as_ref().map(Liveness::due)
    }

    fn timer_expired(&self, outbox: &Outbox) -> Result<(), DisconnectReason> {
        let Some(liveness) = &self.liveness else {
            return Ok(());
        };
        match liveness.check(Instant::now()) {
            Verdict::WaitUntil(_) => Ok(()),
            Verdict::Ping => {
                if !self.close_sent.load(Ordering::Acquire) {
                    outbox.push_raw(|mask, out| encode_frame(OpCode::Ping, &[], mask, out));
                }
                Ok(())
            }
            Verdict::Dead { silent_for } => {
                log::warn!("the link is dead: nothing received for {silent_for:?}, closing");
                Err(DisconnectReason::PingTimeout { silent_for })
            }
        }
    }

    fn write_timeout(&self) -> Option<Duration> {
        self.liveness.as_ref().map(Liveness::write_timeout)
    }

    fn goodbye(&self, out: &mut Vec<u8>) {
        if self.close_sent.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut frame = Vec::new();
        let mask = self.masked().then(|| lock(&self.mask_keys).next());
        encode_close(NORMAL_CLOSURE, "", mask, &mut frame);
        match &self.tls {
            None => out.extend_from_slice(&frame),
            Some(tls) => {
                let mut tls = lock(tls);
                let _ = tls.write_all(&frame);
                let _ = tls.shutdown();
                lock(&self.buffers).take_outgoing(out);
            }
        }
    }
}
