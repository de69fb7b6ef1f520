//! Outbound queues: one byte log per framing that every connection using it reads from, and each
//! peer's outbox, a reader with its own position in that log.
//!
//! The host appends a message once, however many peers get it: a broadcast costs one lock and
//! one copy on the host's thread, not one per peer. Each peer's writer copies out, from its own
//! position, what is for it (broadcasts made while it was registered, and records addressed to it
//! alone: a message for it only, a pong, a Close) and writes it with one call, so a burst costs one
//! wake-up and one system call per peer, and no message is an object of its own. A writer is woken
//! (through a one-slot channel it can wait on together with others) only when it is waiting and
//! something arrives for it.
//!
//! The log is bounded per peer in bytes: a peer whose writer lags more than the bound behind the
//! log's end is refused what comes next (the caller decides what that means for the peer: it is
//! disconnected as too slow). The bytes counted are those the peer has not taken yet, including
//! the few records addressed to other peers among them. The log keeps what its slowest reader has
//! not taken: an open tail the host appends to, and sealed parts before it, which writers share
//! so that they copy without holding the lock; a part is given back once every reader is past it.
//!
//! Records are runs: a header (who the run is for, its length, how many messages it holds) and the
//! messages' bytes as they go on the wire. A run is extended while the same recipient keeps
//! getting messages and no writer has taken part of it, so a burst of broadcasts is one run.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use super::doorbell::{doorbell, Bell, Doorbell, Sleepers};

use crate::codec::websocket_frame::{encode_data_frame_with, MaskKeys, Payload};
use crate::hub::lock;

/// How messages are laid out in a log, which the writer reads back.
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

impl Framing {
    /// Every framing, each with its own log.
    pub(crate) const ALL: [Framing; 3] = [
        Framing::Lines,
        Framing::WebSocket { masked: false },
        Framing::WebSocket { masked: true },
    ];

    /// This framing's place in [`ALL`](Self::ALL).
    pub(crate) fn index(self) -> usize {
        match self {
            Framing::Lines => 0,
            Framing::WebSocket { masked: false } => 1,
            Framing::WebSocket { masked: true } => 2,
        }
    }
}

/// What became of a push for one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    Queued,
    /// Refused: the peer would lag more than the bound behind; this many bytes wait for it.
    Full {
        queued_bytes: usize,
    },
    /// Refused: the connection is closing and takes no more.
    Closed,
}

/// What became of a broadcast.
pub(crate) enum Broadcast<F> {
    /// Queued for this many peers; if `refused`, some were refused it, being too far behind
    /// ([`OutboundLog::take_refused`] says which).
    Queued { peers: usize, refused: bool },
    /// No peer reads this log now: the encoder comes back unused.
    NoReader(F),
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

/// One look into the log by a writer: [`Taken`], and whether its position moved (past records
/// that may all have been for other peers).
struct TakenOnce {
    messages: u64,
    closed: bool,
    woken: bool,
    moved: bool,
}

/// A run's header: recipient (8 bytes), length of the bytes after the header (8), messages (8).
const HEADER: usize = 24;
/// The recipient of a broadcast run: every reader registered when it began.
const EVERYONE: u64 = 0;
/// Once the tail holds this much, it is sealed and the next run starts a new tail.
const CHUNK: usize = 64 * 1024;
/// A writer takes about this much at most at once (whole runs), so that its buffer stays small
/// whatever the backlog.
const MOST_TAKEN: usize = 256 * 1024;
/// A writer copies a tail up to this long under the lock; a longer one is sealed and shared, so
/// that the host never waits for a long copy.
const COPIED_UNDER_LOCK: usize = 4 * 1024;

/// The log every connection with one framing reads from.
pub(crate) struct OutboundLog {
    state: Mutex<LogState>,
    framing: Framing,
    /// The most bytes a reader may lag behind the end.
    limit: usize,
}

/// A part of the log that no longer changes, shared with the writers copying from it so that
/// they copy without holding the lock.
struct Sealed {
    /// Where in the log it begins.
    start: u64,
    bytes: Arc<Vec<u8>>,
}

impl Sealed {
    fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }
}

/// The run that the next record for the same recipient extends: always in the tail.
#[derive(Clone, Copy)]
struct OpenRun {
    /// Where in the log its header is.
    at: u64,
    /// Where in the tail its header is.
    header_at: usize,
    recipient: u64,
}

#[derive(Default)]
struct LogState {
    /// The log up to `tail_start`, oldest first.
    sealed: VecDeque<Sealed>,
    /// The log from `tail_start` on, where records are appended.
    tail: Vec<u8>,
    tail_start: u64,
    /// Where the log ends, `tail_start` + the tail's length: the next record goes there. Kept,
    /// not derived, because every send reads it.
    end: u64,
    open_run: Option<OpenRun>,
    readers: Vec<Reader>,
    next_key: u64,
    /// Registered readers that are not closing: the ones a broadcast is for.
    receiving: usize,
    /// Readers waiting for their doorbell.
    waiting: usize,
    /// The lowest position of any reader: everything before it can go.
    low: u64,
    /// Messages queued for at least one reader that the host asked to count here.
    sent: u64,
    /// Readers refused a broadcast since the host last looked: keys, and the bytes waiting for
    /// each.
    refused: Vec<(u64, usize)>,
    /// A buffer given back, kept for the next tail.
    spare: Option<Vec<u8>>,
    mask_keys: Option<MaskKeys>,
}

struct Reader {
    key: u64,
    /// Where in the log this reader goes on: always at the start of a run.
    position: u64,
    /// Broadcast runs that begin here or later are for this reader; `u64::MAX` until it is
    /// registered.
    joined: u64,
    /// Nothing at or past this point is for this reader: it is closing.
    stop: Option<u64>,
    waiting: bool,
    wake_requested: bool,
    doorbell: Bell,
}

impl Reader {
    fn receiving(&self) -> bool {
        self.joined != u64::MAX && self.stop.is_none()
    }

    fn recipient(&self) -> Recipient {
        Recipient {
            key: self.key,
            joined: self.joined,
        }
    }
}

/// How to undo one append: where the log ended before it, and where in the tail the header of
/// the run it extended is (none if it began a run).
#[derive(Clone, Copy)]
struct Undo {
    end: u64,
    extended: Option<usize>,
}

impl OutboundLog {
    /// An empty log letting each reader lag at most `limit` bytes.
    pub(crate) fn new(limit: usize, framing: Framing) -> Arc<OutboundLog> {
        let state = LogState {
            mask_keys: matches!(framing, Framing::WebSocket { masked: true }).then(MaskKeys::new),
            ..LogState::default()
        };
        Arc::new(OutboundLog {
            state: Mutex::new(state),
            framing,
            limit: limit.max(1),
        })
    }

    /// A new reader, not yet registered, and the doorbell its writer waits on.
    pub(crate) fn reader(self: &Arc<Self>) -> (Outbox, Doorbell) {
        let (doorbell, rung) = doorbell(matches!(self.framing, Framing::Lines));
        let mut state = lock(&self.state);
        state.next_key += 1;
        let key = state.next_key;
        // Its position must be where a run begins: the open run must not grow past it.
        state.open_run = None;
        let position = state.end;
        if state.readers.is_empty() {
            state.low = position;
        }
        state.readers.push(Reader {
            key,
            position,
            joined: u64::MAX,
            stop: None,
            waiting: false,
            wake_requested: false,
            doorbell,
        });
        let outbox = Outbox {
            log: Arc::clone(self),
            key,
        };
        (outbox, rung)
    }

    /// Queues the message `encode` writes for every registered reader that is not closing, once.
    /// `count_sent` counts it here as sent (the host counts it itself when it goes to several
    /// logs). A reader that would lag more than the bound behind is refused it and closed.
    #[inline(always)]
    pub(crate) fn broadcast<E, F>(
        &self,
        payload: Payload,
        count_sent: bool,
        encode: F,
    ) -> Result<Broadcast<F>, E>
    where
        F: FnOnce(&mut Vec<u8>) -> Result<(), E>,
    {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        if state.receiving == 0 {
            return Ok(Broadcast::NoReader(encode));
        }
        let undo = state.append(EVERYONE, self.framed(payload, encode))?;
        let refused =
            (state.end - state.low) as usize > self.limit && self.refuse_laggards(state, undo);
        if state.receiving > 0 && count_sent {
            state.sent += 1;
        }
        let peers = state.receiving;
        if state.waiting > 0 {
            // Readers just refused are woken too, to see that they are closing.
            ring_then_unlock(guard, |_| true);
        }
        Ok(Broadcast::Queued { peers, refused })
    }

    /// The readers refused a broadcast since the last call: keys, and the bytes waiting for each.
    pub(crate) fn take_refused(&self) -> Vec<(u64, usize)> {
        std::mem::take(&mut lock(&self.state).refused)
    }

    /// Closes the readers that the last append (undone here, then redone without them) would
    /// put more than the bound behind, noting them for [`take_refused`](Self::take_refused);
    /// returns whether there were any.
    #[inline(never)]
    fn refuse_laggards(&self, state: &mut LogState, undo: Undo) -> bool {
        let before = undo.end;
        let limit = self.limit as u64;
        let end = state.end;
        let laggards: Vec<(u64, usize)> = state
            .readers
            .iter()
            .filter(|reader| reader.receiving() && end - reader.position > limit)
            .map(|reader| (reader.key, (before - reader.position) as usize))
            .collect();
        if laggards.is_empty() {
            return false;
        }
        // The message goes into a run of its own after the laggards' stop, so that they take
        // nothing of it.
        let appended = state.copy_last_record(undo);
        state.undo(undo);
        state.open_run = None;
        for reader in &mut state.readers {
            if laggards.iter().any(|(key, _)| *key == reader.key) {
                reader.stop = Some(before);
                state.receiving -= 1;
            }
        }
        if state.receiving > 0 {
            state
                .append(EVERYONE, |bytes: &mut Vec<u8>, _: Option<&mut MaskKeys>| {
                    bytes.extend_from_slice(&appended);
                    Ok::<(), std::convert::Infallible>(())
                })
                .unwrap_or_else(|never| match never {});
        }
        state.refused.extend(laggards);
        true
    }

    pub(crate) fn framing(&self) -> Framing {
        self.framing
    }

    /// Messages queued for at least one reader and counted here, since the start.
    pub(crate) fn sent(&self) -> u64 {
        lock(&self.state).sent
    }

    /// `encode` laid out in this log's framing.
    #[inline(always)]
    fn framed<E>(
        &self,
        payload: Payload,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> impl FnOnce(&mut Vec<u8>, Option<&mut MaskKeys>) -> Result<(), E> {
        let framing = self.framing;
        move |bytes: &mut Vec<u8>, keys: Option<&mut MaskKeys>| match framing {
            Framing::Lines => encode(bytes),
            Framing::WebSocket { .. } => {
                encode_data_frame_with(bytes, keys.map(MaskKeys::next), payload, encode)
            }
        }
    }

    /// Appends a record for one reader. `bounded`: refused if the reader would then lag more than
    /// the bound. `count_sent`: counted as sent once queued. `last`: the reader takes nothing
    /// after it.
    fn push_for<E>(
        &self,
        key: u64,
        bounded: bool,
        count_sent: bool,
        last: bool,
        write: impl FnOnce(&mut Vec<u8>, Option<&mut MaskKeys>) -> Result<(), E>,
    ) -> Result<Pushed, E> {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let Some(index) = state.find(key) else {
            return Ok(Pushed::Closed);
        };
        if state.readers[index].stop.is_some() {
            return Ok(Pushed::Closed);
        }
        let undo = state.append(key, write)?;
        let position = state.readers[index].position;
        if bounded && (state.end - position) as usize > self.limit {
            let queued_bytes = (undo.end - position) as usize;
            state.undo(undo);
            return Ok(Pushed::Full { queued_bytes });
        }
        state.sent += u64::from(count_sent);
        if last {
            state.stop(index);
        }
        if state.waiting > 0 {
            ring_then_unlock(guard, |reader| reader.key == key);
        }
        Ok(Pushed::Queued)
    }
}

/// Rings the doorbell of every waiting reader `woken` picks, and wakes those asleep once the
/// log is unlocked: woken under the lock, a writer would run into it and sleep again. Out of
/// line: a send that rings nobody does not carry it.
#[inline(never)]
fn ring_then_unlock(mut guard: MutexGuard<'_, LogState>, woken: impl Fn(&Reader) -> bool) {
    let sleepers = guard.ring_waiting(woken);
    drop(guard);
    drop(sleepers);
}

impl LogState {
    fn find(&self, key: u64) -> Option<usize> {
        self.readers.iter().position(|reader| reader.key == key)
    }

    /// Appends one record for `recipient` that `write` writes, extending the open run if it is
    /// for the same recipient. If `write` fails, the log is left as it was. Inlined into every
    /// send, with the encoder: a call between them costs a tenth of the send.
    #[inline(always)]
    fn append<E>(
        &mut self,
        recipient: u64,
        write: impl FnOnce(&mut Vec<u8>, Option<&mut MaskKeys>) -> Result<(), E>,
    ) -> Result<Undo, E> {
        let end = self.end;
        let (header_at, extended) = match self.open_run {
            Some(run) if run.recipient == recipient => (run.header_at, true),
            _ => (self.start_run(recipient), false),
        };
        let body = self.tail.len();
        if let Err(error) = write(&mut self.tail, self.mask_keys.as_mut()) {
            self.tail.truncate(body);
            if !extended {
                self.undo(Undo {
                    end,
                    extended: None,
                });
            }
            return Err(error);
        }
        let added = self.tail.len() - body;
        add_to_run(&mut self.tail, header_at, added, 1);
        self.end += added as u64;
        if self.tail.len() >= CHUNK {
            self.open_run = None;
        }
        Ok(Undo {
            end,
            extended: extended.then_some(header_at),
        })
    }

    /// Starts a run for `recipient`, sealing the tail first if it is full; returns where its
    /// header is in the tail.
    fn start_run(&mut self, recipient: u64) -> usize {
        if self.tail.len() >= CHUNK {
            self.seal();
        }
        let header_at = self.tail.len();
        self.tail.extend_from_slice(&recipient.to_le_bytes());
        self.tail.extend_from_slice(&[0; HEADER - 8]);
        self.open_run = Some(OpenRun {
            at: self.end,
            header_at,
            recipient,
        });
        self.end += HEADER as u64;
        header_at
    }

    /// Takes the last append back out. The run it began is gone, and no run is open after it;
    /// the run it extended stays open.
    fn undo(&mut self, undo: Undo) {
        let added = self.end - undo.end;
        self.tail.truncate((undo.end - self.tail_start) as usize);
        match undo.extended {
            Some(header_at) => add_to_run(
                &mut self.tail,
                header_at,
                0usize.wrapping_sub(added as usize),
                u64::MAX,
            ),
            None => self.open_run = None,
        }
        self.end = undo.end;
    }

    /// Makes the tail a sealed part, which writers can share, and starts an empty one.
    fn seal(&mut self) {
        if self.tail.is_empty() {
            return;
        }
        let fresh = self.spare.take().unwrap_or_default();
        let bytes = std::mem::replace(&mut self.tail, fresh);
        self.sealed.push_back(Sealed {
            start: self.tail_start,
            bytes: Arc::new(bytes),
        });
        self.tail_start = self.end;
        self.open_run = None;
    }

    /// The bytes of the last record appended, which `undo` would take back out.
    fn copy_last_record(&self, undo: Undo) -> Vec<u8> {
        let mut from = (undo.end - self.tail_start) as usize;
        if undo.extended.is_none() {
            from += HEADER;
        }
        self.tail[from..].to_vec()
    }

    /// Takes nothing more for the reader at `index` after what is queued now.
    fn stop(&mut self, index: usize) {
        let reader = &mut self.readers[index];
        if reader.stop.is_none() {
            if reader.joined != u64::MAX {
                self.receiving -= 1;
            }
            reader.stop = Some(self.end);
            // A run that grew past the stop would be taken whole.
            self.open_run = None;
        }
    }

    /// Rings the doorbell of every waiting reader `woken` picks; returns the writers that sleep,
    /// to be woken once the log is unlocked.
    #[must_use]
    fn ring_waiting(&mut self, woken: impl Fn(&Reader) -> bool) -> Sleepers {
        let mut sleepers = Sleepers::default();
        if self.waiting == 0 {
            return sleepers;
        }
        for reader in &mut self.readers {
            if reader.waiting && woken(reader) {
                reader.waiting = false;
                self.waiting -= 1;
                if let Some(sleeper) = reader.doorbell.ring() {
                    sleepers.add(sleeper);
                }
            }
        }
        sleepers
    }

    /// The log's parts in order, each with where it begins: the sealed ones, then the tail.
    fn parts(&self) -> impl Iterator<Item = (u64, &[u8])> {
        let sealed = self.sealed.iter();
        let sealed = sealed.map(|part| (part.start, part.bytes.as_slice()));
        sealed.chain([(self.tail_start, self.tail.as_slice())])
    }

    /// Gives back the parts every reader is past.
    fn trim(&mut self) {
        self.low = self
            .readers
            .iter()
            .map(|reader| reader.position)
            .min()
            .unwrap_or(self.end);
        while self
            .sealed
            .front()
            .is_some_and(|part| part.end() <= self.low)
        {
            let part = self.sealed.pop_front().expect("checked above");
            // A writer may still be copying from it; then it is freed when that writer is done.
            if let Ok(mut bytes) = Arc::try_unwrap(part.bytes) {
                if bytes.capacity() <= 2 * CHUNK {
                    bytes.clear();
                    self.spare = Some(bytes);
                }
            }
        }
        if self.low == self.end && !self.tail.is_empty() {
            self.tail.clear();
            self.tail_start = self.end;
            self.open_run = None;
            if self.tail.capacity() > 2 * CHUNK {
                self.tail = Vec::new();
            }
        }
    }
}

/// Walks the runs between `from` and `to` in `parts` (each with where it begins in the log) that
/// are for `reader`, handing each one's bytes and message count to `each`. `from` is where a run
/// begins.
fn walk<'p>(
    parts: impl IntoIterator<Item = (u64, &'p [u8])>,
    reader: Recipient,
    from: u64,
    to: u64,
    mut each: impl FnMut(&[u8], u64),
) {
    let mut position = from;
    for (start, bytes) in parts {
        let end = start + bytes.len() as u64;
        if end <= position {
            continue;
        }
        while position < to && position < end {
            let at = (position - start) as usize;
            let header: &[u8; HEADER] = bytes[at..at + HEADER]
                .try_into()
                .expect("a header's length");
            let recipient = u64::from_le_bytes(header[..8].try_into().expect("eight bytes"));
            let (length, messages) = read_counts(header);
            let body = at + HEADER;
            if reader.wants(position, recipient) {
                each(&bytes[body..body + length as usize], messages);
            }
            position += (HEADER as u64) + length;
        }
        if position >= to {
            break;
        }
    }
}

/// Which runs a reader takes: those addressed to it, and the broadcasts from when it joined.
#[derive(Clone, Copy)]
struct Recipient {
    key: u64,
    joined: u64,
}

impl Recipient {
    fn wants(self, run_at: u64, recipient: u64) -> bool {
        recipient == self.key || (recipient == EVERYONE && run_at >= self.joined)
    }
}

fn read_counts(header: &[u8; HEADER]) -> (u64, u64) {
    let length = u64::from_le_bytes(header[8..16].try_into().expect("eight bytes"));
    let messages = u64::from_le_bytes(header[16..24].try_into().expect("eight bytes"));
    (length, messages)
}

/// Adds `length` bytes and `messages` messages (both wrapping, to take away) to the counts of
/// the run whose header is at `header_at`.
#[inline]
fn add_to_run(bytes: &mut [u8], header_at: usize, length: usize, messages: u64) {
    let header: &mut [u8; HEADER] = (&mut bytes[header_at..header_at + HEADER])
        .try_into()
        .expect("a header's length");
    let (old_length, old_messages) = read_counts(header);
    let length = old_length.wrapping_add(length as u64);
    header[8..16].copy_from_slice(&length.to_le_bytes());
    header[16..24].copy_from_slice(&old_messages.wrapping_add(messages).to_le_bytes());
}

/// One peer's outbound queue: its reader in the log of its framing.
pub(crate) struct Outbox {
    log: Arc<OutboundLog>,
    key: u64,
}

impl Outbox {
    /// The log this outbox reads from.
    pub(crate) fn log(&self) -> &Arc<OutboundLog> {
        &self.log
    }

    /// Tells this outbox apart from the others of its log.
    pub(crate) fn key(&self) -> u64 {
        self.key
    }

    /// Starts taking broadcasts, after the messages `kept` (kept while no peer was connected),
    /// which go first, whatever the bound (the backlog is bounded by its own limit, and a new
    /// peer must not be judged slow before it could read), and count as sent. Returns how many
    /// of them were queued.
    pub(crate) fn register<'k>(&self, kept: impl IntoIterator<Item = (Payload, &'k [u8])>) {
        let log = &*self.log;
        let mut guard = lock(&log.state);
        let state = &mut *guard;
        let Some(index) = state.find(self.key) else {
            return;
        };
        if state.readers[index].stop.is_some() || state.readers[index].joined != u64::MAX {
            return;
        }
        // Broadcasts from before it are not for it; a run that began before must not grow into
        // what it takes.
        state.open_run = None;
        // Its position stays: what was addressed to it alone before is still for it.
        state.readers[index].joined = state.end;
        state.receiving += 1;
        for (payload, wire) in kept {
            let copy = |bytes: &mut Vec<u8>| {
                bytes.extend_from_slice(wire);
                Ok::<(), std::convert::Infallible>(())
            };
            let Ok(_) = state.append(self.key, log.framed(payload, copy));
            state.sent += 1;
        }
        state.trim();
    }

    /// Appends one message that `encode` writes, for this peer alone; `payload` says whether it
    /// is known to be text, for a WebSocket frame, and `count_sent` whether to count it as sent
    /// once queued. If `encode` fails, the log is left as it was and the error returned.
    pub(crate) fn push_with<E>(
        &self,
        payload: Payload,
        count_sent: bool,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<Pushed, E> {
        let framed = self.log.framed(payload, encode);
        self.log.push_for(self.key, true, count_sent, false, framed)
    }

    /// Appends bytes that are already in the log's layout and are not a message of the host's (a
    /// WebSocket pong or Close the protocol owes the peer). They count against the bound.
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
        let raw = |bytes: &mut Vec<u8>, keys: Option<&mut MaskKeys>| {
            write(keys.map(MaskKeys::next), bytes);
            Ok::<(), std::convert::Infallible>(())
        };
        self.log
            .push_for(self.key, !last, false, last, raw)
            .unwrap_or_else(|never| match never {})
    }

    /// Copies what is queued for this peer into `into` (which the writer passes in empty), up to
    /// about [`MOST_TAKEN`] bytes. When nothing is, the writer is marked as waiting: it should
    /// then wait for the doorbell, which rings at the next message for it or at close.
    pub(crate) fn take(&self, into: &mut Vec<u8>) -> Taken {
        debug_assert!(into.is_empty());
        loop {
            let taken = self.take_once(into);
            // Only records for other peers passed: look again, so that the writer is marked as
            // waiting before it waits (a take that moved is not marked).
            if !into.is_empty() || taken.closed || taken.woken || !taken.moved {
                return Taken {
                    messages: taken.messages,
                    closed: taken.closed,
                    woken: taken.woken,
                };
            }
        }
    }

    fn take_once(&self, into: &mut Vec<u8>) -> TakenOnce {
        // Under the lock: which parts hold what is for this reader (sealed parts are shared, a
        // short tail is copied), and the reader moved past them. The host waits for no more
        // than that; the copying is done after.
        let mut sealed = Vec::new();
        let mut tail = Vec::new();
        let (from, to, recipient, taken) = {
            let mut guard = lock(&self.log.state);
            let state = &mut *guard;
            let Some(index) = state.find(self.key) else {
                return TakenOnce {
                    messages: 0,
                    closed: true,
                    woken: false,
                    moved: false,
                };
            };
            let reader = &state.readers[index];
            let from = reader.position;
            let mut to = reader.stop.unwrap_or(state.end).min(state.end);
            if to > state.tail_start && state.tail.len() > COPIED_UNDER_LOCK {
                state.seal();
            }
            let mut gathered = 0;
            for part in &state.sealed {
                if part.end() <= from || part.start >= to {
                    continue;
                }
                sealed.push((part.start, Arc::clone(&part.bytes)));
                gathered += part.bytes.len();
                if gathered >= MOST_TAKEN {
                    to = to.min(part.end());
                    break;
                }
            }
            if to > state.tail_start {
                let copied = from.max(state.tail_start) - state.tail_start;
                let stop = to - state.tail_start;
                tail.extend_from_slice(&state.tail[copied as usize..stop as usize]);
            }
            // A run this reader took part of must not grow: its next take starts after it.
            if state.open_run.is_some_and(|run| run.at < to) {
                state.open_run = None;
            }
            let was_low = from == state.low;
            let reader = &mut state.readers[index];
            let recipient = reader.recipient();
            reader.position = to;
            let woken = std::mem::take(&mut reader.wake_requested);
            let closed = reader.stop.is_some_and(|stop| to >= stop);
            let nothing = from == to;
            if nothing && !closed && !woken && !reader.waiting {
                reader.waiting = true;
                state.waiting += 1;
            }
            if was_low {
                state.trim();
            }
            let taken = TakenOnce {
                messages: 0,
                closed,
                woken,
                moved: !nothing,
            };
            (from, to, recipient, taken)
        };
        let tail_start = to - tail.len() as u64;
        let parts = sealed
            .iter()
            .map(|(start, bytes)| (*start, bytes.as_slice()))
            .chain([(tail_start, tail.as_slice())]);
        let mut messages = 0;
        walk(parts, recipient, from, to, |bytes, count| {
            into.extend_from_slice(bytes);
            messages += count;
        });
        TakenOnce { messages, ..taken }
    }

    /// Wakes the writer even with nothing queued, for bytes its protocol state has to send (a TLS
    /// record that reading produced).
    pub(crate) fn wake(&self) {
        let mut state = lock(&self.log.state);
        if let Some(index) = state.find(self.key) {
            state.readers[index].wake_requested = true;
            ring_then_unlock(state, |reader| reader.key == self.key);
        }
    }

    /// Takes no more messages; the writer writes what is queued and then sees the end.
    pub(crate) fn close(&self) {
        let mut state = lock(&self.log.state);
        if let Some(index) = state.find(self.key) {
            state.stop(index);
            ring_then_unlock(state, |reader| reader.key == self.key);
        }
    }

    /// Throws away what is queued (the peer is gone) and leaves the log; returns how many
    /// messages that was.
    pub(crate) fn discard(&self) -> u64 {
        let mut guard = lock(&self.log.state);
        let state = &mut *guard;
        let Some(index) = state.find(self.key) else {
            return 0;
        };
        state.stop(index);
        let reader = &state.readers[index];
        let mut messages = 0;
        let to = reader.stop.unwrap_or(state.end);
        walk(
            state.parts(),
            reader.recipient(),
            reader.position,
            to,
            |_, count| {
                messages += count;
            },
        );
        let reader = state.readers.swap_remove(index);
        if reader.waiting {
            state.waiting -= 1;
        }
        state.trim();
        messages
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.discard();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes the log keeps.
    fn held(state: &LogState) -> usize {
        state.parts().map(|(_, bytes)| bytes.len()).sum()
    }

    fn registered(log: &Arc<OutboundLog>) -> (Outbox, Doorbell) {
        let (outbox, doorbell) = log.reader();
        outbox.register([]);
        (outbox, doorbell)
    }

    fn send(log: &OutboundLog, line: &[u8]) -> usize {
        let copy = |bytes: &mut Vec<u8>| {
            bytes.extend_from_slice(line);
            Ok::<(), ()>(())
        };
        match log.broadcast(Payload::Unknown, true, copy).unwrap() {
            Broadcast::Queued { peers, refused } => {
                assert!(!refused);
                peers
            }
            Broadcast::NoReader(_) => 0,
        }
    }

    fn send_to(outbox: &Outbox, line: &[u8]) -> Pushed {
        outbox
            .push_with(Payload::Unknown, true, |bytes| {
                bytes.extend_from_slice(line);
                Ok::<(), ()>(())
            })
            .unwrap()
    }

    fn taken(outbox: &Outbox) -> (Vec<u8>, Taken) {
        let mut bytes = Vec::new();
        let taken = outbox.take(&mut bytes);
        (bytes, taken)
    }

    #[test]
    fn the_writer_takes_everything_at_once_and_is_woken_only_when_waiting() {
        let log = OutboundLog::new(1024, Framing::Lines);
        let (outbox, doorbell) = registered(&log);
        assert_eq!(send(&log, b"A|1\n"), 1);
        assert_eq!(send(&log, b"B|2\n"), 1);
        // The writer was never waiting: no ring.
        assert!(!doorbell.try_take());
        let (bytes, taken) = taken(&outbox);
        assert_eq!(bytes, b"A|1\nB|2\n");
        assert_eq!(
            taken,
            Taken {
                messages: 2,
                closed: false,
                woken: false
            }
        );
        // Empty now: the writer waits, and the next message rings once.
        assert_eq!(self::taken(&outbox).1.messages, 0);
        send(&log, b"C\n");
        send(&log, b"D\n");
        assert!(doorbell.try_take());
        assert!(!doorbell.try_take());
        assert_eq!(
            self::taken(&outbox),
            (
                b"C\nD\n".to_vec(),
                Taken {
                    messages: 2,
                    closed: false,
                    woken: false
                }
            )
        );
        assert_eq!(log.sent(), 4);
    }

    #[test]
    fn a_writer_that_passed_only_records_for_others_is_rung_by_the_next_message() {
        let log = OutboundLog::new(1 << 20, Framing::Lines);
        let (first, _) = registered(&log);
        let (second, doorbell) = registered(&log);
        assert_eq!(send_to(&first, b"for the first\n"), Pushed::Queued);
        let (bytes, taken) = taken(&second);
        assert!(bytes.is_empty() && !taken.closed && !taken.woken);
        // The writer now waits for its doorbell: the next message for it must ring it.
        send(&log, b"for both\n");
        assert!(doorbell.try_take(), "the waiting writer is rung");
        assert_eq!(self::taken(&second).0, b"for both\n");
    }

    #[test]
    fn a_broadcast_is_stored_once_and_every_reader_takes_it_in_order_with_its_own_records() {
        let log = OutboundLog::new(1 << 20, Framing::Lines);
        let (first, _) = registered(&log);
        let (second, _) = registered(&log);
        assert_eq!(send(&log, b"A\n"), 2);
        assert_eq!(send_to(&first, b"only first\n"), Pushed::Queued);
        assert_eq!(send(&log, b"B\n"), 2);
        assert_eq!(send_to(&second, b"only second\n"), Pushed::Queued);
        assert_eq!(send(&log, b"C\n"), 2);
        assert_eq!(taken(&first).0, b"A\nonly first\nB\nC\n");
        assert_eq!(taken(&second).0, b"A\nB\nonly second\nC\n");
        // One copy of each broadcast, whatever the number of readers.
        let stored = (lock(&log.state).end) as usize;
        let payload = b"A\nonly first\nB\nonly second\nC\n".len();
        assert!(stored < payload + 6 * HEADER, "{stored}");
    }

    #[test]
    fn a_reader_registered_later_gets_what_was_kept_first_and_no_earlier_broadcast() {
        let log = OutboundLog::new(1 << 20, Framing::Lines);
        let (early, _) = registered(&log);
        send(&log, b"before\n");
        let (late, _) = log.reader();
        // Not registered yet: broadcasts are not for it.
        send(&log, b"while connecting\n");
        late.register([
            (Payload::Unknown, &b"kept 1\n"[..]),
            (Payload::Unknown, b"kept 2\n"),
        ]);
        send(&log, b"after\n");
        assert_eq!(taken(&late).0, b"kept 1\nkept 2\nafter\n");
        assert_eq!(taken(&early).0, b"before\nwhile connecting\nafter\n");
        // Runs extended after a reader took part of them stay readable: take, send, take.
        send(&log, b"one\n");
        assert_eq!(taken(&early).0, b"one\n");
        send(&log, b"two\n");
        assert_eq!(taken(&early).0, b"two\n");
        assert_eq!(taken(&late).0, b"one\ntwo\n");
    }

    #[test]
    fn a_reader_past_the_bound_is_refused_what_follows_and_the_others_go_on() {
        // Room for one run of one 6-byte message, and not one byte more.
        let log = OutboundLog::new(HEADER + 6, Framing::Lines);
        let (slow, _) = registered(&log);
        let (fast, _) = registered(&log);
        assert_eq!(send(&log, b"12345\n"), 2);
        assert_eq!(taken(&fast).0, b"12345\n");
        let copy = |bytes: &mut Vec<u8>| {
            bytes.extend_from_slice(b"678\n");
            Ok::<(), ()>(())
        };
        match log.broadcast(Payload::Unknown, true, copy).unwrap() {
            Broadcast::Queued { peers, refused } => {
                assert_eq!(peers, 1);
                assert!(refused);
                assert_eq!(log.take_refused(), [(slow.key(), HEADER + 6)]);
                assert_eq!(log.take_refused(), []);
            }
            Broadcast::NoReader(_) => panic!("two readers"),
        }
        assert_eq!(send(&log, b"9\n"), 1);
        assert_eq!(taken(&fast).0, b"678\n9\n");
        // The slow reader takes what was queued before the refusal, and then sees the end.
        let (bytes, taken) = taken(&slow);
        assert_eq!(bytes, b"12345\n");
        assert!(taken.closed);
        assert_eq!(send_to(&slow, b"late\n"), Pushed::Closed);
    }

    #[test]
    fn a_push_past_the_bound_is_refused_and_leaves_the_log_as_it_was() {
        let log = OutboundLog::new(HEADER + 8, Framing::Lines);
        let (outbox, _) = registered(&log);
        assert_eq!(send_to(&outbox, b"12345\n"), Pushed::Queued);
        assert_eq!(
            send_to(&outbox, b"678\n"),
            Pushed::Full {
                queued_bytes: HEADER + 6
            }
        );
        let failed: Result<Pushed, &str> = outbox.push_with(Payload::Text, false, |bytes| {
            bytes.extend_from_slice(b"partial");
            Err("cannot encode")
        });
        assert_eq!(failed, Err("cannot encode"));
        assert_eq!(send_to(&outbox, b"7\n"), Pushed::Queued, "fits: one run");
        let (bytes, taken) = taken(&outbox);
        assert_eq!((bytes, taken.messages), (b"12345\n7\n".to_vec(), 2));
    }

    #[test]
    fn a_refused_push_that_filled_a_chunk_leaves_the_run_it_extended_intact() {
        let log = OutboundLog::new(CHUNK - 100, Framing::Lines);
        let (outbox, _) = registered(&log);
        let record = [b'r'; 1000];
        let mut queued = 0;
        while send_to(&outbox, &record) == Pushed::Queued {
            queued += 1;
        }
        // The refused push was the one to pass the chunk's size, which ends a run.
        assert_eq!(queued, (CHUNK - 100 - HEADER) / 1000);
        let (bytes, taken) = taken(&outbox);
        assert_eq!(
            (bytes.len(), taken.messages),
            (queued * 1000, queued as u64)
        );
        assert_eq!(send_to(&outbox, b"next\n"), Pushed::Queued);
        assert_eq!(self::taken(&outbox).0, b"next\n");
    }

    #[test]
    fn closing_rings_a_waiting_writer_and_refuses_later_pushes() {
        let log = OutboundLog::new(64, Framing::Lines);
        let (outbox, doorbell) = registered(&log);
        send(&log, b"queued\n");
        outbox.close();
        assert_eq!(send_to(&outbox, b"late\n"), Pushed::Closed);
        assert_eq!(send(&log, b"late too\n"), 0);
        let (bytes, taken) = taken(&outbox);
        assert_eq!(bytes, b"queued\n");
        assert!(taken.closed);
        let (idle, doorbell_idle) = registered(&log);
        assert_eq!(self::taken(&idle).1.messages, 0);
        idle.close();
        assert!(doorbell_idle.try_take());
        assert!(self::taken(&idle).1.closed);
        drop(doorbell);
    }

    #[test]
    fn the_last_bytes_close_the_outbox_whatever_the_bound() {
        let log = OutboundLog::new(4, Framing::Lines);
        let (outbox, _) = registered(&log);
        assert_eq!(
            outbox.push_last(|_, bytes| bytes.extend_from_slice(b"goodbye\n")),
            Pushed::Queued
        );
        assert_eq!(send_to(&outbox, b"x\n"), Pushed::Closed);
        let (bytes, taken) = taken(&outbox);
        assert_eq!(bytes, b"goodbye\n");
        assert!(taken.closed);
    }

    #[test]
    fn websocket_framing_makes_one_frame_per_message_each_with_its_own_mask() {
        use crate::codec::websocket_frame::{FrameDecoder, Incoming, Role};
        let log = OutboundLog::new(1 << 20, Framing::WebSocket { masked: true });
        let (outbox, _) = registered(&log);
        send(&log, b"one\n");
        send(&log, &[0xff, 0x00]);
        send(&log, &[b'x'; 300]);
        assert_eq!(
            outbox.push_raw(|mask, bytes| {
                crate::codec::websocket_frame::encode_frame(
                    crate::codec::websocket_frame::OpCode::Pong,
                    b"p",
                    mask,
                    bytes,
                )
            }),
            Pushed::Queued
        );
        let (bytes, taken) = taken(&outbox);
        assert_eq!(taken.messages, 4);
        let mut seen = Vec::new();
        let mut decoder = FrameDecoder::new(Role::Server, 1 << 20);
        decoder
            .feed(&bytes, |incoming| match incoming {
                Incoming::Text(text) => seen.push(format!("text {}", text.len())),
                Incoming::Binary(bytes) => seen.push(format!("binary {}", bytes.len())),
                _ => seen.push("other".to_owned()),
            })
            .unwrap();
        assert_eq!(seen, ["text 4", "binary 2", "text 300", "other"]);
        let masks: std::collections::HashSet<&[u8]> =
            [&bytes[2..6], &bytes[12..16], &bytes[20..24]]
                .into_iter()
                .collect();
        assert_eq!(masks.len(), 3, "a key per frame");
    }

    #[test]
    fn discarding_counts_what_was_queued_for_this_reader_only() {
        let log = OutboundLog::new(1 << 20, Framing::Lines);
        let (leaving, _) = registered(&log);
        let (staying, _) = registered(&log);
        send(&log, b"a\n");
        send_to(&staying, b"not yours\n");
        send(&log, b"b\n");
        send_to(&leaving, b"yours\n");
        assert_eq!(leaving.discard(), 3);
        assert_eq!(send_to(&leaving, b"c\n"), Pushed::Closed);
        assert_eq!(send(&log, b"d\n"), 1);
        assert_eq!(taken(&staying).1.messages, 4);
    }

    #[test]
    fn chunks_every_reader_is_past_are_given_back_and_a_take_is_bounded() {
        let log = OutboundLog::new(64 << 20, Framing::Lines);
        let (first, _) = registered(&log);
        let (second, _) = registered(&log);
        let line = [b'x'; 1000];
        for _ in 0..2000 {
            send(&log, &line);
        }
        let held = |log: &OutboundLog| held(&lock(&log.state));
        assert!(held(&log) >= 2_000_000);
        let mut total = 0;
        loop {
            let (bytes, taken) = taken(&first);
            assert!(bytes.len() <= MOST_TAKEN + CHUNK, "{}", bytes.len());
            if taken.messages == 0 {
                break;
            }
            total += taken.messages;
        }
        assert_eq!(total, 2000);
        // The second reader holds everything still.
        assert!(held(&log) >= 2_000_000);
        while taken(&second).1.messages > 0 {}
        assert_eq!(held(&log), 0);
        // A reader that leaves lets go too.
        for _ in 0..200 {
            send(&log, &line);
        }
        while taken(&first).1.messages > 0 {}
        assert!(held(&log) >= 200_000);
        drop(second);
        assert_eq!(held(&log), 0);
    }

    #[test]
    fn a_log_with_no_registered_reader_gives_the_encoder_back() {
        let log = OutboundLog::new(64, Framing::Lines);
        let (_connecting, _) = log.reader();
        let copy = |bytes: &mut Vec<u8>| {
            bytes.extend_from_slice(b"x\n");
            Ok::<(), ()>(())
        };
        assert!(matches!(
            log.broadcast(Payload::Unknown, true, copy),
            Ok(Broadcast::NoReader(_))
        ));
        assert_eq!(log.sent(), 0);
    }

    /// Random operations on one log against a plain model: a queue of messages per reader.
    #[test]
    fn every_reader_gets_exactly_its_messages_in_order_whatever_the_operations() {
        for seed in [0x9e37_79b9_7f4a_7c15, 1, 0xdead_beef, 42] {
            operations_against_the_model(seed);
        }
    }

    fn operations_against_the_model(mut seed: u64) {
        use std::collections::HashMap;
        let mut random = move |below: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % below
        };
        let log = OutboundLog::new(1 << 40, Framing::Lines);
        struct Modelled {
            outbox: Outbox,
            queue: VecDeque<Vec<u8>>,
            registered: bool,
            closed: bool,
        }
        let mut readers: HashMap<u64, Modelled> = HashMap::new();
        let mut number = 0u64;
        for _ in 0..10_000 {
            number += 1;
            let length = [1, 10, 100, 3000][random(4) as usize] + random(7) as usize;
            let mut message = number.to_le_bytes().to_vec();
            message.resize(length.max(8), b'm');
            let keys: Vec<u64> = readers.keys().copied().collect();
            let some_key = (!keys.is_empty()).then(|| keys[random(keys.len() as u64) as usize]);
            match random(100) {
                0..=2 if readers.len() < 6 => {
                    let (outbox, _) = log.reader();
                    let key = outbox.key();
                    readers.insert(
                        key,
                        Modelled {
                            outbox,
                            queue: VecDeque::new(),
                            registered: false,
                            closed: false,
                        },
                    );
                }
                3..=5 => {
                    if let Some(reader) = some_key
                        .and_then(|key| readers.get_mut(&key))
                        .filter(|reader| !reader.registered)
                    {
                        reader.outbox.register([(Payload::Unknown, &message[..])]);
                        reader.registered = true;
                        if !reader.closed {
                            reader.queue.push_back(message.clone());
                        }
                    }
                }
                6..=45 => {
                    let expected = readers
                        .values()
                        .filter(|reader| reader.registered && !reader.closed)
                        .count();
                    assert_eq!(send(&log, &message), expected);
                    for reader in readers
                        .values_mut()
                        .filter(|reader| reader.registered && !reader.closed)
                    {
                        reader.queue.push_back(message.clone());
                    }
                }
                46..=60 => {
                    if let Some(reader) = some_key.and_then(|key| readers.get_mut(&key)) {
                        let pushed = send_to(&reader.outbox, &message);
                        if reader.closed {
                            assert_eq!(pushed, Pushed::Closed);
                        } else {
                            assert_eq!(pushed, Pushed::Queued);
                            reader.queue.push_back(message.clone());
                        }
                    }
                }
                61..=90 => {
                    if let Some(reader) = some_key.and_then(|key| readers.get_mut(&key)) {
                        let (bytes, taken) = taken(&reader.outbox);
                        let mut expected = Vec::new();
                        for _ in 0..taken.messages {
                            expected.extend(
                                reader
                                    .queue
                                    .pop_front()
                                    .expect("a message taken is one queued"),
                            );
                        }
                        let first = |bytes: &[u8]| {
                            bytes
                                .get(..8)
                                .map(|number| u64::from_le_bytes(number.try_into().unwrap()))
                        };
                        assert!(
                            bytes == expected,
                            "step {number}: took {} bytes from message {:?}, expected {} from {:?}",
                            bytes.len(),
                            first(&bytes),
                            expected.len(),
                            first(&expected)
                        );
                        assert!(reader.queue.is_empty() || bytes.len() >= MOST_TAKEN);
                        assert_eq!(taken.closed, reader.closed && reader.queue.is_empty());
                    }
                }
                91..=92 => {
                    if let Some(reader) = some_key.and_then(|key| readers.get_mut(&key)) {
                        reader.outbox.close();
                        reader.closed = true;
                    }
                }
                93..=94 => {
                    if let Some(reader) = some_key.and_then(|key| readers.get_mut(&key)) {
                        let pushed = reader
                            .outbox
                            .push_last(|_, bytes| bytes.extend_from_slice(&message));
                        if reader.closed {
                            assert_eq!(pushed, Pushed::Closed);
                        } else {
                            assert_eq!(pushed, Pushed::Queued);
                            reader.queue.push_back(message.clone());
                            reader.closed = true;
                        }
                    }
                }
                95..=97 => {
                    if let Some(key) = some_key {
                        let reader = readers.remove(&key).expect("a key of the map");
                        assert_eq!(reader.outbox.discard(), reader.queue.len() as u64);
                    }
                }
                _ => {}
            }
        }
        // Once every reader has taken all, and the closed ones have left (as a session's end
        // does), nothing is kept but the last chunk's room.
        for reader in readers.values() {
            while taken(&reader.outbox).1.messages > 0 {}
            if reader.closed {
                assert_eq!(reader.outbox.discard(), 0);
            }
        }
        let state = lock(&log.state);
        let held = held(&state);
        assert!(held < CHUNK + 4000, "{held}");
    }
}
