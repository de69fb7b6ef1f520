//! What the transports hand the host: each read from a peer as the bytes that arrived, and each
//! connection event, through one bounded channel, in order.
//!
//! A read is decoded on the host's side, where its bytes land: [`Inbound::decode`] gives the items
//! borrowed from those bytes (a line split across reads comes from the decoder's own buffer), so a
//! host that takes them this way pays no allocation per item, and the transports' readers do
//! nothing per line. Each peer's decoder lives here, and each read carries its place in that peer's
//! stream, so each peer's reads are decoded in the order they arrived even when several host
//! threads decode; a read dropped without being decoded is decoded into nothing, keeping the stream
//! in step, and dropping never waits.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::codec::{DecodeError, Item, LineDecoder};
use crate::hub::stats::Counters;
use crate::hub::{lock, Event, PeerId};

/// One delivery from the library to the host: the bytes of one read from one peer, or one event
/// about a connection. Take them from [`Remote::inbound`](crate::Remote::inbound) and
/// [`decode`](Inbound::decode) each, or let [`Remote::recv`](crate::Remote::recv) do it.
pub struct Inbound(Option<Delivery>);

enum Delivery {
    Event(Event),
    Read {
        input: Arc<PeerInput>,
        place: u64,
        bytes: Vec<u8>,
    },
    End {
        input: Arc<PeerInput>,
        place: u64,
        disconnected: Event,
    },
}

/// One event as [`Inbound::decode`] hands it over: an item borrowed from the bytes as they were
/// read, or any other event.
#[derive(Debug)]
pub enum Received<'a> {
    /// A peer sent an item.
    Item {
        /// Who sent it.
        peer: PeerId,
        /// What it sent, borrowed from the read.
        item: Item<'a>,
    },
    /// Anything else: connections, decode errors, clients giving up.
    Event(Event),
}

impl Received<'_> {
    /// The same as an owned [`Event`], as [`Remote::recv`](crate::Remote::recv) gives it.
    pub fn into_event(self) -> Event {
        match self {
            Received::Item { peer, item } => Event::Item {
                peer,
                item: item.into_owned(),
            },
            Received::Event(event) => event,
        }
    }
}

impl Inbound {
    pub(crate) fn event(event: Event) -> Inbound {
        Inbound(Some(Delivery::Event(event)))
    }

    /// Decodes what this delivery holds and hands each event to `on_event`, in order: the items of
    /// one read, or the items a peer left unfinished and then its `Disconnected`, or one event.
    ///
    /// Items borrow from the read, so keep them only by making them owned. Do not receive from the
    /// same [`Remote`](crate::Remote) inside `on_event`: a read from the same peer would wait for
    /// this one to finish.
    pub fn decode(mut self, on_event: impl FnMut(Received<'_>)) {
        if let Some(delivery) = self.0.take() {
            deliver(delivery, on_event);
        }
    }

    /// The peer this delivery comes from, if it is about one.
    pub fn peer(&self) -> Option<PeerId> {
        match self.0.as_ref()? {
            Delivery::Read { input, .. } | Delivery::End { input, .. } => Some(input.id),
            Delivery::Event(event) => event.peer(),
        }
    }
}

/// A delivery dropped undecoded is decoded into nothing, to keep its peer's stream in step. It never
/// waits for that: out of turn, its bytes are left for whoever finishes the turn before it, so
/// dropping one (or the channel that holds some) cannot block, whatever the host holds.
impl Drop for Inbound {
    fn drop(&mut self) {
        match self.0.take() {
            Some(Delivery::Read {
                input,
                place,
                bytes,
            }) => input.discard(place, Discarded::Read(bytes)),
            Some(Delivery::End { input, place, .. }) => input.discard(place, Discarded::End),
            Some(Delivery::Event(_)) | None => {}
        }
    }
}

impl std::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(Delivery::Event(event)) => f.debug_tuple("Inbound").field(event).finish(),
            Some(Delivery::Read { input, bytes, .. }) => f
                .debug_struct("Inbound")
                .field("peer", &input.id)
                .field("bytes", &bytes.len())
                .finish(),
            Some(Delivery::End { disconnected, .. }) => {
                f.debug_tuple("Inbound").field(disconnected).finish()
            }
            None => f.write_str("Inbound(decoded)"),
        }
    }
}

fn deliver(delivery: Delivery, mut on_event: impl FnMut(Received<'_>)) {
    match delivery {
        Delivery::Event(event) => on_event(Received::Event(event)),
        Delivery::Read {
            input,
            place,
            bytes,
        } => input.in_turn(place, |state| {
            state.decoder.decode(&bytes, |item| {
                on_event(input.received(&mut state.errors, item))
            })
        }),
        Delivery::End {
            input,
            place,
            disconnected,
        } => {
            input.in_turn(place, |state| {
                state
                    .decoder
                    .finish(|item| on_event(input.received(&mut state.errors, item)))
            });
            on_event(Received::Event(disconnected));
        }
    }
}

/// A delivery dropped before its turn, to be decoded into nothing when the turn comes.
enum Discarded {
    Read(Vec<u8>),
    End,
}

/// The host's side of one peer's inbound stream: its decoder, and whose turn it is.
pub(crate) struct PeerInput {
    id: PeerId,
    state: Mutex<InputState>,
    turn: Condvar,
    counters: Arc<Counters>,
}

struct InputState {
    decoder: LineDecoder,
    /// The place of the read to decode next.
    next: u64,
    /// Threads waiting for their turn.
    waiting: usize,
    /// Decode errors from this peer so far, to log the first and then every power of two.
    errors: u64,
    /// Deliveries dropped before their turn, by place.
    discarded: BTreeMap<u64, Discarded>,
}

impl InputState {
    /// Ends the turn at `next`: moves on, through any discarded deliveries that come next.
    fn pass_turn(&mut self) {
        self.next += 1;
        self.drain_discarded();
    }

    /// Decodes into nothing the discarded deliveries whose turn it is, one after another.
    fn drain_discarded(&mut self) {
        while let Some(discarded) = self.discarded.remove(&self.next) {
            match discarded {
                Discarded::Read(bytes) => self.decoder.decode(&bytes, |_| {}),
                Discarded::End => self.decoder.finish(|_| {}),
            }
            self.next += 1;
        }
    }
}

/// One delivery's turn at its peer's decoder; the turn passes when this is dropped, even if the
/// host's callback panicked, so the peer's later deliveries are not held up for ever.
struct Turn<'p> {
    input: &'p PeerInput,
    state: MutexGuard<'p, InputState>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.state.pass_turn();
        if self.state.waiting > 0 {
            self.input.turn.notify_all();
        }
    }
}

impl PeerInput {
    /// Waits for the delivery at `place` to have its turn, then decodes it with `decode`.
    fn in_turn(&self, place: u64, decode: impl FnOnce(&mut InputState)) {
        let mut state = lock(&self.state);
        while state.next != place {
            state.waiting += 1;
            state = self
                .turn
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            state.waiting -= 1;
        }
        let mut turn = Turn { input: self, state };
        decode(&mut turn.state);
    }

    /// A delivery dropped undecoded: decoded into nothing now if it is its turn, or left for the
    /// turn before it to finish.
    fn discard(&self, place: u64, discarded: Discarded) {
        let mut state = lock(&self.state);
        state.discarded.insert(place, discarded);
        if state.next == place {
            state.drain_discarded();
            if state.waiting > 0 {
                self.turn.notify_all();
            }
        }
    }

    fn received<'a>(&self, errors: &mut u64, item: Result<Item<'a>, DecodeError>) -> Received<'a> {
        match item {
            Ok(item) => Received::Item {
                peer: self.id,
                item,
            },
            Err(error) => {
                *errors += 1;
                Counters::add(&self.counters.decode_errors, 1);
                // The host gets every error; the log the first and then every power of two, so a
                // peer sending garbage cannot flood it.
                if errors.is_power_of_two() {
                    log::warn!(
                        "{}: {error} ({errors} decode errors from this peer so far)",
                        self.id
                    );
                }
                Received::Event(Event::DecodeError {
                    peer: self.id,
                    error,
                })
            }
        }
    }
}

/// A reader's end of one peer's inbound stream: it numbers the reads it hands over.
pub(crate) struct PeerStream {
    input: Arc<PeerInput>,
    next_place: u64,
}

impl PeerStream {
    pub(crate) fn new(id: PeerId, max_line_length: usize, counters: Arc<Counters>) -> PeerStream {
        let input = PeerInput {
            id,
            state: Mutex::new(InputState {
                decoder: LineDecoder::with_max_line_length(max_line_length),
                next: 0,
                waiting: 0,
                errors: 0,
                discarded: BTreeMap::new(),
            }),
            turn: Condvar::new(),
            counters,
        };
        PeerStream {
            input: Arc::new(input),
            next_place: 0,
        }
    }

    /// The delivery of one read.
    pub(crate) fn read(&mut self, bytes: Vec<u8>) -> Inbound {
        let place = self.take_place();
        Inbound(Some(Delivery::Read {
            input: Arc::clone(&self.input),
            place,
            bytes,
        }))
    }

    /// The delivery that ends the stream: what the decoder holds, then `disconnected`.
    pub(crate) fn end(&mut self, disconnected: Event) -> Inbound {
        let place = self.take_place();
        Inbound(Some(Delivery::End {
            input: Arc::clone(&self.input),
            place,
            disconnected,
        }))
    }

    fn take_place(&mut self) -> u64 {
        let place = self.next_place;
        self.next_place += 1;
        place
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Message;
    use crate::hub::{DisconnectReason, Transport};

    fn stream() -> PeerStream {
        PeerStream::new(PeerId(7), 64, Arc::default())
    }

    fn lines(inbound: Inbound) -> Vec<String> {
        let mut seen = Vec::new();
        inbound.decode(|received| match received {
            Received::Item { item, .. } => seen.push(item.to_string()),
            Received::Event(event) => seen.push(format!("{event:?}")),
        });
        seen
    }

    #[test]
    fn reads_decode_in_their_order_and_lines_may_span_them() {
        let mut peer = stream();
        let first = peer.read(b"A|1\nB|".to_vec());
        let second = peer.read(b"2\n".to_vec());
        assert_eq!(lines(first), ["A|1"]);
        assert_eq!(lines(second), ["B|2"]);
    }

    #[test]
    fn a_read_dropped_undecoded_keeps_the_stream_in_step() {
        let mut peer = stream();
        drop(peer.read(b"A|1\nB|".to_vec()));
        let end = peer.end(Event::Disconnected {
            peer: PeerId(7),
            address: "127.0.0.1:1".parse().unwrap(),
            transport: Transport::TcpServer,
            reason: DisconnectReason::ClosedByPeer,
        });
        let seen = lines(end);
        assert_eq!(seen[0], "B");
        assert!(seen[1].starts_with("Disconnected"));
    }

    #[test]
    fn a_later_read_waits_for_an_earlier_one_taken_by_another_thread() {
        let mut peer = stream();
        let first = peer.read(b"A|".to_vec());
        let second = peer.read(b"1\n".to_vec());
        let later = std::thread::spawn(move || lines(second));
        // Not a synchronisation: it gives a wrong implementation the time to decode the second read
        // first, which would lose "A|".
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(lines(first).is_empty());
        assert_eq!(later.join().unwrap(), ["A|1"]);
    }

    #[test]
    fn dropping_out_of_turn_never_waits_and_the_stream_stays_in_step() {
        let mut peer = stream();
        let held = peer.read(b"A|".to_vec());
        // Dropped while the read before it is still held: must return at once.
        drop(peer.read(b"1\nB|".to_vec()));
        let last = peer.read(b"2\n".to_vec());
        assert!(lines(held).is_empty());
        assert_eq!(lines(last), ["B|2"]);
    }

    #[test]
    fn a_callback_that_panics_passes_the_turn_on() {
        let mut peer = stream();
        let first = peer.read(b"A|1\n".to_vec());
        let second = peer.read(b"B|2\n".to_vec());
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            first.decode(|_| panic!("the host's callback fails"));
        }));
        assert!(panicked.is_err());
        let done = std::thread::spawn(move || lines(second));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !done.is_finished() {
            assert!(
                std::time::Instant::now() < deadline,
                "the next read waits for ever"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(done.join().unwrap(), ["B|2"]);
    }

    #[test]
    fn decode_errors_are_counted_and_delivered_as_events() {
        let counters = Arc::new(Counters::default());
        let mut peer = PeerStream::new(PeerId(1), 4, Arc::clone(&counters));
        let mut events = 0;
        let mut items = Vec::new();
        peer.read(b"TOO_LONG_A_LINE\nOK\n".to_vec())
            .decode(|received| match received {
                Received::Item { item, .. } => items.push(item.into_owned()),
                Received::Event(Event::DecodeError { .. }) => events += 1,
                Received::Event(other) => panic!("unexpected {other:?}"),
            });
        assert_eq!(events, 1);
        assert_eq!(items, [Item::Message(Message::new("OK", ""))]);
        assert_eq!(counters.snapshot(0, 0).decode_errors, 1);
    }
}
