//! One peer's outbound queue: a byte buffer the host encodes into and the peer's writer empties.
//!
//! The host appends encoded messages under a short lock; the writer swaps the whole buffer out at
//! once and writes it with one call, so a burst of messages costs one wake-up and one system call,
//! and no message is an object of its own. The writer is woken (through a one-slot channel it can
//! wait on together with others) only when it is waiting and the buffer stops being empty. The
//! buffer is bounded in bytes: a push that would pass the bound is refused, and the caller decides
//! what that means for the peer.

use std::sync::{Mutex, MutexGuard};

use crossbeam_channel::{Receiver, Sender};

use crate::codec::websocket_frame::{encode_data_frame_with, MaskKeys, Payload};
use crate::hub::lock;

/// How messages are laid out in the buffer, which the writer reads back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// The wire bytes as they are, one after another (TCP).
    Lines,
    /// Each message as one WebSocket data frame, masked when this end is the client.
    WebSocket {
        /// Whether frames are masked (a client's are, a server's are not).
        masked: bool,
    },
}

/// What became of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    Queued,
    /// Refused: the buffer would pass its bound; this many bytes wait in it.
    Full {
        queued_bytes: usize,
    },
    /// Refused: the connection is closing and takes no more.
    Closed,
}

/// What the writer took out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Taken {
    /// Messages in the bytes taken.
    pub messages: u64,
    /// Nothing more will come: the connection is closing.
    pub closed: bool,
    /// The writer was asked to look at its protocol state even if nothing was queued.
    pub woken: bool,
}

#[derive(Default)]
struct State {
    bytes: Vec<u8>,
    messages: u64,
    writer_waiting: bool,
    wake_requested: bool,
    closed: bool,
    /// Messages queued here that the host counts as sent to this peer alone (see
    /// [`Hub::stats`](crate::hub::Hub)): counted under this lock, which a send takes anyway.
    sent_alone: u64,
    /// Masking keys for a client's frames.
    mask_keys: Option<MaskKeys>,
}

/// Buffers that grew past this during a burst are given back once traffic is light again, so an
/// idle peer does not keep a large allocation; while a burst lasts they are kept, so the host does
/// not grow its buffer anew after every write.
const KEEP_CAPACITY: usize = 64 * 1024;

pub(crate) struct Outbox {
    state: Mutex<State>,
    doorbell: Sender<()>,
    limit: usize,
    framing: Framing,
}

impl Outbox {
    /// An empty outbox holding at most `limit` bytes, and the doorbell its writer waits on.
    pub(crate) fn new(limit: usize, framing: Framing) -> (Outbox, Receiver<()>) {
        let (doorbell, rung) = crossbeam_channel::bounded(1);
        let state = State {
            mask_keys: matches!(framing, Framing::WebSocket { masked: true }).then(MaskKeys::new),
            ..State::default()
        };
        let outbox = Outbox {
            state: Mutex::new(state),
            doorbell,
            limit: limit.max(1),
            framing,
        };
        (outbox, rung)
    }

    /// Appends one message already encoded.
    pub(crate) fn push_encoded(&self, encoded: &[u8], payload: Payload) -> Pushed {
        self.push_copy(encoded, payload, true, false)
    }

    /// Appends one message kept while no peer was connected, whatever the bound (the backlog is
    /// bounded by its own limit, and a new peer must not be judged slow before it could read), and
    /// counts it as sent to this peer.
    pub(crate) fn push_kept(&self, encoded: &[u8], payload: Payload) -> Pushed {
        self.push_copy(encoded, payload, false, true)
    }

    fn push_copy(
        &self,
        encoded: &[u8],
        payload: Payload,
        bounded: bool,
        sent_alone: bool,
    ) -> Pushed {
        let copy = |bytes: &mut Vec<u8>| {
            bytes.extend_from_slice(encoded);
            Ok::<(), std::convert::Infallible>(())
        };
        self.push_message(bounded, payload, sent_alone, copy)
            .unwrap_or_else(|never| match never {})
    }

    /// Appends one message that `encode` writes straight into the buffer; `payload` says whether
    /// it is known to be text, for a WebSocket frame, and `sent_alone` whether to count it, once
    /// queued, as sent (it goes to this peer only). If `encode` fails, the buffer is left as it
    /// was and the error returned.
    #[inline]
    pub(crate) fn push_with<E>(
        &self,
        payload: Payload,
        sent_alone: bool,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<Pushed, E> {
        self.push_message(true, payload, sent_alone, encode)
    }

    /// [`push_with`](Self::push_with), refused past the bound only if `bounded`.
    #[inline]
    fn push_message<E>(
        &self,
        bounded: bool,
        payload: Payload,
        sent_alone: bool,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<Pushed, E> {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        if state.closed {
            return Ok(Pushed::Closed);
        }
        let start = state.bytes.len();
        let encoded = match self.framing {
            Framing::Lines => encode(&mut state.bytes),
            Framing::WebSocket { .. } => {
                let mask = state.mask_keys.as_mut().map(MaskKeys::next);
                encode_data_frame_with(&mut state.bytes, mask, payload, encode)
            }
        };
        if let Err(error) = encoded {
            state.bytes.truncate(start);
            return Err(error);
        }
        if bounded && state.bytes.len() > self.limit {
            state.bytes.truncate(start);
            return Ok(Pushed::Full {
                queued_bytes: start,
            });
        }
        state.messages += 1;
        state.sent_alone += u64::from(sent_alone);
        self.ring_if_waiting(guard);
        Ok(Pushed::Queued)
    }

    /// Releases the lock, and rings the doorbell if the writer waits for it.
    fn ring_if_waiting(&self, mut state: MutexGuard<'_, State>) {
        let waiting = std::mem::take(&mut state.writer_waiting);
        drop(state);
        if waiting {
            let _ = self.doorbell.try_send(());
        }
    }

    /// Swaps everything queued into `into` (which the writer passes in empty). When nothing is
    /// queued, the writer is marked as waiting: it should then wait for the doorbell, which rings
    /// at the next push or at close.
    pub(crate) fn take(&self, into: &mut Vec<u8>) -> Taken {
        debug_assert!(into.is_empty());
        let mut state = lock(&self.state);
        std::mem::swap(&mut state.bytes, into);
        if into.len() < KEEP_CAPACITY / 4 && state.bytes.capacity() > KEEP_CAPACITY {
            state.bytes = Vec::new();
        }
        let messages = std::mem::take(&mut state.messages);
        let woken = std::mem::take(&mut state.wake_requested);
        state.writer_waiting = into.is_empty() && !state.closed && !woken;
        Taken {
            messages,
            closed: state.closed,
            woken,
        }
    }

    /// Wakes the writer even with nothing queued, for bytes its protocol state has to send (a TLS
    /// record that reading produced).
    pub(crate) fn wake(&self) {
        let mut state = lock(&self.state);
        state.wake_requested = true;
        self.ring_if_waiting(state);
    }

    /// Appends bytes that are already in the outbox's layout and are not a message of the host's
    /// (a WebSocket pong or Close the protocol owes the peer). They count against the bound.
    /// `write` is given the masking key for a client's frame.
    pub(crate) fn push_raw(&self, write: impl FnOnce(Option<[u8; 4]>, &mut Vec<u8>)) -> Pushed {
        self.push_raw_then(false, write)
    }

    /// Appends the last bytes this connection sends (a WebSocket Close) and closes the outbox in
    /// the same step, so nothing the host sends can follow them. Past the bound they are still
    /// appended: the end of a connection must not be lost to a full outbox.
    pub(crate) fn push_last(&self, write: impl FnOnce(Option<[u8; 4]>, &mut Vec<u8>)) -> Pushed {
        self.push_raw_then(true, write)
    }

    fn push_raw_then(
        &self,
        last: bool,
        write: impl FnOnce(Option<[u8; 4]>, &mut Vec<u8>),
    ) -> Pushed {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        if state.closed {
            return Pushed::Closed;
        }
        let queued_bytes = state.bytes.len();
        let mask = state.mask_keys.as_mut().map(MaskKeys::next);
        write(mask, &mut state.bytes);
        if state.bytes.len() > self.limit && !last {
            state.bytes.truncate(queued_bytes);
            return Pushed::Full { queued_bytes };
        }
        state.closed |= last;
        self.ring_if_waiting(guard);
        Pushed::Queued
    }

    /// Takes the count of messages sent to this peer alone, leaving 0.
    pub(crate) fn take_sent_alone(&self) -> u64 {
        std::mem::take(&mut lock(&self.state).sent_alone)
    }

    /// Takes no more messages; the writer writes what is queued and then sees the end.
    pub(crate) fn close(&self) {
        let mut state = lock(&self.state);
        state.closed = true;
        self.ring_if_waiting(state);
    }

    /// Throws away what is queued (the peer is gone); returns how many messages that was.
    pub(crate) fn discard(&self) -> u64 {
        let mut state = lock(&self.state);
        state.closed = true;
        state.bytes = Vec::new();
        std::mem::take(&mut state.messages)
    }

    /// Messages counted as sent to this peer alone so far.
    pub(crate) fn sent_alone(&self) -> u64 {
        lock(&self.state).sent_alone
    }

    /// Bytes queued now.
    #[cfg(test)]
    pub(crate) fn queued_bytes(&self) -> usize {
        lock(&self.state).bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_takes_everything_at_once_and_is_woken_only_when_waiting() {
        let (outbox, doorbell) = Outbox::new(1024, Framing::Lines);
        assert_eq!(
            outbox.push_encoded(b"A|1\n", Payload::Unknown),
            Pushed::Queued
        );
        assert_eq!(
            outbox.push_encoded(b"B|2\n", Payload::Unknown),
            Pushed::Queued
        );
        // The writer was never waiting: no ring.
        assert!(doorbell.try_recv().is_err());
        let mut batch = Vec::new();
        let taken = outbox.take(&mut batch);
        assert_eq!(batch, b"A|1\nB|2\n");
        assert_eq!(
            taken,
            Taken {
                messages: 2,
                closed: false,
                woken: false
            }
        );
        batch.clear();
        // Empty now: the writer waits, and the next push rings once.
        assert_eq!(outbox.take(&mut batch).messages, 0);
        outbox.push_encoded(b"C\n", Payload::Unknown);
        outbox.push_encoded(b"D\n", Payload::Unknown);
        assert!(doorbell.try_recv().is_ok());
        assert!(doorbell.try_recv().is_err());
        assert_eq!(outbox.take(&mut batch).messages, 2);
        assert_eq!(batch, b"C\nD\n");
    }

    #[test]
    fn a_push_past_the_bound_is_refused_and_leaves_the_queue_as_it_was() {
        let (outbox, _doorbell) = Outbox::new(8, Framing::Lines);
        assert_eq!(
            outbox.push_encoded(b"12345\n", Payload::Unknown),
            Pushed::Queued
        );
        assert_eq!(
            outbox.push_encoded(b"678\n", Payload::Unknown),
            Pushed::Full { queued_bytes: 6 }
        );
        assert_eq!(outbox.queued_bytes(), 6);
        let failed: Result<Pushed, &str> = outbox.push_with(Payload::Text, false, |bytes| {
            bytes.extend_from_slice(b"partial");
            Err("cannot encode")
        });
        assert_eq!(failed, Err("cannot encode"));
        assert_eq!(outbox.queued_bytes(), 6);
    }

    #[test]
    fn closing_rings_a_waiting_writer_and_refuses_later_pushes() {
        let (outbox, doorbell) = Outbox::new(64, Framing::Lines);
        let mut batch = Vec::new();
        outbox.take(&mut batch);
        outbox.close();
        assert!(doorbell.try_recv().is_ok());
        assert_eq!(
            outbox.push_encoded(b"late\n", Payload::Unknown),
            Pushed::Closed
        );
        assert!(outbox.take(&mut batch).closed);
    }

    #[test]
    fn websocket_framing_makes_one_frame_per_message() {
        use crate::codec::websocket_frame::{FrameDecoder, Incoming, Role};
        let (outbox, _doorbell) = Outbox::new(1 << 20, Framing::WebSocket { masked: true });
        outbox.push_encoded(b"one\n", Payload::Unknown);
        outbox.push_encoded(&[0xff, 0x00], Payload::Unknown);
        outbox.push_encoded(&vec![b'x'; 300], Payload::Unknown);
        let mut batch = Vec::new();
        assert_eq!(outbox.take(&mut batch).messages, 3);
        let mut seen = Vec::new();
        let mut decoder = FrameDecoder::new(Role::Server, 1 << 20);
        decoder
            .feed(&batch, |incoming| match incoming {
                Incoming::Text(text) => seen.push(format!("text {}", text.len())),
                Incoming::Binary(bytes) => seen.push(format!("binary {}", bytes.len())),
                _ => seen.push("other".to_owned()),
            })
            .unwrap();
        assert_eq!(seen, ["text 4", "binary 2", "text 300"]);
    }

    #[test]
    fn discarding_counts_what_was_queued() {
        let (outbox, _doorbell) = Outbox::new(64, Framing::Lines);
        outbox.push_encoded(b"a\n", Payload::Unknown);
        outbox.push_encoded(b"b\n", Payload::Unknown);
        assert_eq!(outbox.discard(), 2);
        assert_eq!(
            outbox.push_encoded(b"c\n", Payload::Unknown),
            Pushed::Closed
        );
    }
}
