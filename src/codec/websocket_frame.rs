//! The frames of an established WebSocket connection (RFC 6455 5), after tungstenite has done the
//! HTTP upgrade: inbound bytes to messages, and messages to outbound bytes, for either end.
//!
//! [`FrameDecoder`] takes the bytes however the reads cut them and hands over whole messages and
//! control frames, keeping the rules on masking, opcodes, fragmentation, control frames, UTF-8 and
//! close payloads, and a size limit; the `encode_*` functions append frames to a buffer. This
//! module owns framing and nothing else: it never touches a socket, answers no ping and sends no
//! Close of its own (a [`Violation`] names the close code and the connection decides), and knows
//! nothing of the lines the payloads carry. No extension is negotiated, so a reserved bit is always
//! an error.

use std::fmt;
use std::str;

use crate::codec::unpredictable::Unpredictable;

/// The longest frame header: two bytes, an eight-byte length and a masking key.
const MAX_HEADER_LENGTH: usize = 14;
/// The largest payload of a control frame (RFC 6455 5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;
/// The longest close reason: a control payload less its two-byte code.
const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;
/// The reassembly buffer keeps at most this much capacity between messages.
const KEPT_CAPACITY: usize = 64 * 1024;

/// Which end of the connection this is: a client masks what it sends and refuses masked frames
/// from the server; a server the opposite (RFC 6455 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Client,
    Server,
}

/// A rule the far side broke, with the close code the RFC gives for it (RFC 6455 7.4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Violation {
    /// 1002: a frame or a sequence of frames the protocol does not allow; says which.
    Protocol(String),
    /// 1007: a text message, or a close reason, that is not UTF-8.
    InvalidUtf8,
    /// 1009: a frame or reassembled message over the limit, in payload bytes.
    TooBig { limit: usize },
}

impl Violation {
    /// The code for the Close frame that answers this violation.
    pub(crate) fn close_code(&self) -> u16 {
        match self {
            Violation::Protocol(_) => 1002,
            Violation::InvalidUtf8 => 1007,
            Violation::TooBig { .. } => 1009,
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Protocol(why) => write!(f, "the far side broke the protocol: {why}"),
            Violation::InvalidUtf8 => f.write_str("the far side sent text that is not UTF-8"),
            Violation::TooBig { limit } => {
                write!(f, "the far side sent a message over the {limit}-byte limit")
            }
        }
    }
}

impl std::error::Error for Violation {}

fn protocol(why: impl Into<String>) -> Violation {
    Violation::Protocol(why.into())
}

/// What the far side sent, one complete message or control frame at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Incoming<'a> {
    /// A whole text message (fragments reassembled), unmasked.
    Text(&'a str),
    /// A whole binary message (fragments reassembled), unmasked.
    Binary(&'a [u8]),
    Ping(&'a [u8]),
    Pong(&'a [u8]),
    /// `code` is `None` for an empty Close frame, whose reason is then empty too.
    Close {
        code: Option<u16>,
        reason: &'a str,
    },
}

/// A frame's kind (RFC 6455 5.2); the reserved opcodes are not representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpCode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl OpCode {
    fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    fn from_bits(bits: u8) -> Option<OpCode> {
        match bits {
            0x0 => Some(OpCode::Continuation),
            0x1 => Some(OpCode::Text),
            0x2 => Some(OpCode::Binary),
            0x8 => Some(OpCode::Close),
            0x9 => Some(OpCode::Ping),
            0xA => Some(OpCode::Pong),
            _ => None,
        }
    }

    fn is_control(self) -> bool {
        self.bits() & 0x8 != 0
    }
}

/// A frame header as read off the wire, already checked against the rules a header alone shows.
#[derive(Debug, Clone, Copy)]
struct Header {
    fin: bool,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    length: usize,
}

/// A frame whose payload is still arriving.
#[derive(Debug, Clone, Copy)]
struct PartialFrame {
    header: Header,
    received: usize,
}

/// The kind of a data message, fixed by its first frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MessageKind {
    Text,
    Binary,
}

/// Splits the inbound byte stream into messages, whatever way it is cut into reads.
///
/// A whole, unmasked, unfragmented frame within one input is handed over as a slice of that input;
/// anything else is unmasked into a buffer that is reused between messages.
#[derive(Debug)]
pub(crate) struct FrameDecoder {
    role: Role,
    max_message: usize,
    /// The start of a header that a read cut short.
    header: [u8; MAX_HEADER_LENGTH],
    header_length: usize,
    /// The frame whose payload a read cut short, or that must be copied to be unmasked.
    frame: Option<PartialFrame>,
    /// The data message being put together, from its first frame to its last.
    message: Option<MessageKind>,
    /// That message's payload so far, unmasked.
    data: Vec<u8>,
    /// How much of `data` is known to start valid UTF-8, so a text message fragment by fragment
    /// fails at the first bad fragment and no byte is checked twice before the last.
    utf8_checked: usize,
    /// The payload of a control frame cut short or masked; these may come between fragments.
    control: [u8; MAX_CONTROL_PAYLOAD],
    control_length: usize,
    /// After a violation or a Close, the rest of the stream means nothing.
    stopped: bool,
}

impl FrameDecoder {
    /// `max_message`: the largest frame and the largest reassembled message accepted, in payload
    /// bytes.
    pub(crate) fn new(role: Role, max_message: usize) -> Self {
        FrameDecoder {
            role,
            max_message,
            header: [0; MAX_HEADER_LENGTH],
            header_length: 0,
            frame: None,
            message: None,
            data: Vec::new(),
            utf8_checked: 0,
            control: [0; MAX_CONTROL_PAYLOAD],
            control_length: 0,
            stopped: false,
        }
    }

    /// Feeds bytes as they arrive; calls `on_incoming` for each complete message or control frame,
    /// in order. After an `Err`, or after a Close was delivered, the decoder ignores further input
    /// (returns `Ok(())` without calling back). Memory held is bounded by `max_message` plus a
    /// frame header and a control frame.
    pub(crate) fn feed(
        &mut self,
        input: &[u8],
        mut on_incoming: impl FnMut(Incoming<'_>),
    ) -> Result<(), Violation> {
        if self.stopped {
            return Ok(());
        }
        let result = self.decode(input, &mut on_incoming);
        if result.is_err() {
            self.stop();
        }
        result
    }

    fn decode(
        &mut self,
        mut input: &[u8],
        on_incoming: &mut impl FnMut(Incoming<'_>),
    ) -> Result<(), Violation> {
        while !self.stopped {
            let mut frame = match self.frame.take() {
                Some(frame) => frame,
                None => {
                    let Some(header) = self.take_header(&mut input)? else {
                        return Ok(());
                    };
                    self.check_sequence(&header)?;
                    // A frame that is a whole message, unmasked and all in this read, is lent
                    // straight out of the input.
                    let whole = header.opcode.is_control()
                        || (header.fin && header.opcode != OpCode::Continuation);
                    if whole && header.mask.is_none() && input.len() >= header.length {
                        let (payload, rest) = input.split_at(header.length);
                        input = rest;
                        self.deliver(header.opcode, payload, on_incoming)?;
                        continue;
                    }
                    match header.opcode {
                        OpCode::Text => self.message = Some(MessageKind::Text),
                        OpCode::Binary => self.message = Some(MessageKind::Binary),
                        _ => {}
                    }
                    PartialFrame {
                        header,
                        received: 0,
                    }
                }
            };
            let take = (frame.header.length - frame.received).min(input.len());
            let (chunk, rest) = input.split_at(take);
            input = rest;
            self.store(&frame, chunk);
            frame.received += take;
            if frame.received < frame.header.length {
                self.frame = Some(frame);
                return Ok(());
            }
            self.finish_frame(frame.header, on_incoming)?;
        }
        Ok(())
    }

    /// Reads the next header from `input`, or keeps what there is of it for the next read.
    fn take_header(&mut self, input: &mut &[u8]) -> Result<Option<Header>, Violation> {
        let bytes = *input;
        if self.header_length == 0 {
            return match parse_header(bytes, self.role, self.max_message)? {
                Some((header, used)) => {
                    *input = &bytes[used..];
                    Ok(Some(header))
                }
                None => {
                    // Incomplete means shorter than the longest header, so it fits.
                    self.header[..bytes.len()].copy_from_slice(bytes);
                    self.header_length = bytes.len();
                    *input = &[];
                    Ok(None)
                }
            };
        }
        let kept = self.header_length;
        let take = (MAX_HEADER_LENGTH - kept).min(bytes.len());
        self.header[kept..kept + take].copy_from_slice(&bytes[..take]);
        match parse_header(&self.header[..kept + take], self.role, self.max_message)? {
            Some((header, used)) => {
                *input = &bytes[used - kept..];
                self.header_length = 0;
                Ok(Some(header))
            }
            None => {
                *input = &bytes[take..];
                self.header_length = kept + take;
                Ok(None)
            }
        }
    }

    /// The rules that depend on the frames before this one (RFC 6455 5.4), and the message limit,
    /// checked before any of the frame's payload is kept.
    fn check_sequence(&self, header: &Header) -> Result<(), Violation> {
        match header.opcode {
            OpCode::Continuation if self.message.is_none() => Err(protocol(
                "a continuation frame without a message to continue",
            )),
            OpCode::Continuation if header.length > self.max_message - self.data.len() => {
                Err(Violation::TooBig {
                    limit: self.max_message,
                })
            }
            OpCode::Text | OpCode::Binary if self.message.is_some() => {
                Err(protocol("a new data frame inside a fragmented message"))
            }
            _ => Ok(()),
        }
    }

    /// Keeps a piece of a frame's payload, unmasked.
    fn store(&mut self, frame: &PartialFrame, chunk: &[u8]) {
        if frame.header.opcode.is_control() {
            let start = self.control_length;
            let stored = &mut self.control[start..start + chunk.len()];
            stored.copy_from_slice(chunk);
            if let Some(key) = frame.header.mask {
                apply_mask(stored, key, frame.received);
            }
            self.control_length += chunk.len();
            return;
        }
        let needed = self.data.len() + chunk.len();
        if needed > self.data.capacity() {
            // Grow by doubling as a Vec would, but never past the limit, and only as bytes arrive,
            // so a header that merely announces a large frame costs nothing.
            let target = needed.max((self.data.capacity() * 2).min(self.max_message));
            self.data.reserve_exact(target - self.data.len());
        }
        let start = self.data.len();
        self.data.extend_from_slice(chunk);
        if let Some(key) = frame.header.mask {
            apply_mask(&mut self.data[start..], key, frame.received);
        }
    }

    /// Acts on a frame whose payload is all stored.
    fn finish_frame(
        &mut self,
        header: Header,
        on_incoming: &mut impl FnMut(Incoming<'_>),
    ) -> Result<(), Violation> {
        if header.opcode.is_control() {
            let length = std::mem::take(&mut self.control_length);
            let closed = hand_over(header.opcode, &self.control[..length], on_incoming)?;
            if closed {
                self.stop();
            }
            return Ok(());
        }
        let Some(kind) = self.message else {
            unreachable!("a data frame is stored only inside a message")
        };
        if !header.fin {
            if kind == MessageKind::Text {
                self.check_utf8_so_far()?;
            }
            return Ok(());
        }
        self.message = None;
        self.utf8_checked = 0;
        let opcode = match kind {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        };
        let result = hand_over(opcode, &self.data, on_incoming);
        self.data.clear();
        self.data.shrink_to(KEPT_CAPACITY);
        result.map(|_| ())
    }

    /// Checks the text that arrived since the last check; a character cut at the end of a
    /// fragment may still be completed by the next one.
    fn check_utf8_so_far(&mut self) -> Result<(), Violation> {
        match str::from_utf8(&self.data[self.utf8_checked..]) {
            Ok(_) => self.utf8_checked = self.data.len(),
            Err(error) if error.error_len().is_none() => self.utf8_checked += error.valid_up_to(),
            Err(_) => return Err(Violation::InvalidUtf8),
        }
        Ok(())
    }

    /// Hands a message or control frame over; a Close ends the stream.
    fn deliver(
        &mut self,
        opcode: OpCode,
        payload: &[u8],
        on_incoming: &mut impl FnMut(Incoming<'_>),
    ) -> Result<(), Violation> {
        if hand_over(opcode, payload, on_incoming)? {
            self.stop();
        }
        Ok(())
    }

    /// Ignores the rest of the stream and gives back the buffer.
    fn stop(&mut self) {
        self.stopped = true;
        self.frame = None;
        self.message = None;
        self.data = Vec::new();
    }
}

/// Reads a header from the start of `bytes`; `Ok(None)` if it needs more bytes. Each rule is
/// checked as soon as the bytes it needs are there, so a broken frame fails before its payload.
fn parse_header(
    bytes: &[u8],
    role: Role,
    max_frame: usize,
) -> Result<Option<(Header, usize)>, Violation> {
    let Some(&first) = bytes.first() else {
        return Ok(None);
    };
    if first & 0x70 != 0 {
        return Err(protocol("reserved bits set with no extension agreed"));
    }
    let opcode = OpCode::from_bits(first & 0x0F)
        .ok_or_else(|| protocol(format!("reserved opcode {}", first & 0x0F)))?;
    let fin = first & 0x80 != 0;
    if opcode.is_control() && !fin {
        return Err(protocol("a fragmented control frame"));
    }
    let Some(&second) = bytes.get(1) else {
        return Ok(None);
    };
    match (role, second & 0x80 != 0) {
        (Role::Client, true) => return Err(protocol("a masked frame from the server")),
        (Role::Server, false) => return Err(protocol("an unmasked frame from the client")),
        _ => {}
    }
    let short_length = second & 0x7F;
    if opcode.is_control() && usize::from(short_length) > MAX_CONTROL_PAYLOAD {
        return Err(protocol("a control frame over 125 bytes"));
    }
    let (length, mut used) = match short_length {
        126 => match bytes.get(2..4) {
            Some(&[high, low]) => (u64::from(u16::from_be_bytes([high, low])), 4),
            _ => return Ok(None),
        },
        127 => match bytes.get(2..10) {
            Some(length) => (u64::from_be_bytes(length.try_into().expect("8 bytes")), 10),
            None => return Ok(None),
        },
        short => (u64::from(short), 2),
    };
    if length >> 63 != 0 {
        return Err(protocol("a 64-bit length with its top bit set"));
    }
    let length = match usize::try_from(length) {
        Ok(length) if length <= max_frame => length,
        _ => return Err(Violation::TooBig { limit: max_frame }),
    };
    let mask = match role {
        Role::Client => None,
        Role::Server => match bytes.get(used..used + 4) {
            Some(&[a, b, c, d]) => {
                used += 4;
                Some([a, b, c, d])
            }
            _ => return Ok(None),
        },
    };
    let header = Header {
        fin,
        opcode,
        mask,
        length,
    };
    Ok(Some((header, used)))
}

/// Hands one message or control frame over; returns whether it was a Close.
fn hand_over(
    opcode: OpCode,
    payload: &[u8],
    on_incoming: &mut impl FnMut(Incoming<'_>),
) -> Result<bool, Violation> {
    let incoming = match opcode {
        OpCode::Text => {
            Incoming::Text(str::from_utf8(payload).map_err(|_| Violation::InvalidUtf8)?)
        }
        OpCode::Binary => Incoming::Binary(payload),
        OpCode::Ping => Incoming::Ping(payload),
        OpCode::Pong => Incoming::Pong(payload),
        OpCode::Close => close(payload)?,
        OpCode::Continuation => unreachable!("a continuation is delivered as its message"),
    };
    on_incoming(incoming);
    Ok(opcode == OpCode::Close)
}

/// Reads a Close payload (RFC 6455 5.5.1, 7.4). A reason that is not UTF-8 is
/// [`Violation::InvalidUtf8`], as for text: 1007 is the code for data that does not match its type.
fn close(payload: &[u8]) -> Result<Incoming<'_>, Violation> {
    match payload {
        [] => Ok(Incoming::Close {
            code: None,
            reason: "",
        }),
        [_] => Err(protocol("a close frame with a one-byte payload")),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            // 1012-1014 were registered after RFC 6455; 1004-1006 and 1015 are never sent.
            if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
                return Err(protocol(format!(
                    "close code {code}, which no endpoint may send"
                )));
            }
            let reason = str::from_utf8(reason).map_err(|_| Violation::InvalidUtf8)?;
            Ok(Incoming::Close {
                code: Some(code),
                reason,
            })
        }
    }
}

/// XORs `bytes` with the masking key, eight bytes at a time; `offset` is where `bytes` starts in
/// the frame's payload, since a payload may arrive in pieces.
fn apply_mask(bytes: &mut [u8], key: [u8; 4], offset: usize) {
    let mut key = key;
    if offset % 4 != 0 {
        // Skipped at offset 0: a frame masked whole, as every frame sent is, starts there.
        key.rotate_left(offset % 4);
    }
    // The key twice over in one word: a multiplication, where building it byte by byte costs
    // thirty instructions per frame.
    let wide = u64::from(u32::from_ne_bytes(key)) * 0x0000_0001_0000_0001;
    let mut words = bytes.chunks_exact_mut(8);
    for word in &mut words {
        let masked = u64::from_ne_bytes((&*word).try_into().expect("8 bytes")) ^ wide;
        word.copy_from_slice(&masked.to_ne_bytes());
    }
    for (byte, key_byte) in words.into_remainder().iter_mut().zip(key.iter().cycle()) {
        *byte ^= key_byte;
    }
}

/// The header of a final frame, and how many of its bytes are used.
fn header_bytes(
    opcode: OpCode,
    length: usize,
    mask: Option<[u8; 4]>,
) -> ([u8; MAX_HEADER_LENGTH], usize) {
    let mut header = [0; MAX_HEADER_LENGTH];
    header[0] = 0x80 | opcode.bits();
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let mut used = match length {
        0..=125 => {
            header[1] = mask_bit | length as u8;
            2
        }
        126..=0xFFFF => {
            header[1] = mask_bit | 126;
            header[2..4].copy_from_slice(&(length as u16).to_be_bytes());
            4
        }
        _ => {
            header[1] = mask_bit | 127;
            header[2..10].copy_from_slice(&(length as u64).to_be_bytes());
            10
        }
    };
    if let Some(key) = mask {
        header[used..used + 4].copy_from_slice(&key);
        used += 4;
    }
    (header, used)
}

/// Appends one frame (FIN set) to `out`. `mask`: `Some(key)` for a client (payload XORed with the
/// key), `None` for a server.
pub(crate) fn encode_frame(
    opcode: OpCode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
    out: &mut Vec<u8>,
) {
    debug_assert!(
        !opcode.is_control() || payload.len() <= MAX_CONTROL_PAYLOAD,
        "a control frame carries at most 125 bytes"
    );
    let (header, used) = header_bytes(opcode, payload.len(), mask);
    out.extend_from_slice(&header[..used]);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
}

/// Appends a Close frame with `code` and `reason`, the reason cut at a character boundary to fit
/// the 123 bytes a control frame leaves it.
pub(crate) fn encode_close(code: u16, reason: &str, mask: Option<[u8; 4]>, out: &mut Vec<u8>) {
    let mut end = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = [0; MAX_CONTROL_PAYLOAD];
    payload[..2].copy_from_slice(&code.to_be_bytes());
    payload[2..2 + end].copy_from_slice(&reason.as_bytes()[..end]);
    encode_frame(OpCode::Close, &payload[..2 + end], mask, out);
}

/// What a data frame's payload is known to be, so the encoder need not look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Payload {
    /// UTF-8 text: a text frame.
    Text,
    /// Anything: a text frame if it is UTF-8, a binary frame otherwise.
    Unknown,
}

/// Appends one data frame whose payload `write` appends to `out` directly: text when the payload
/// is UTF-8, binary otherwise. The header's room is reserved for a payload under 126 bytes, the
/// common case; a longer payload is moved right once to make room for the longer length field.
/// Returns what `write` returned; if `write` fails, `out` is left as it was. `write` may only
/// append.
pub(crate) fn encode_data_frame_with<E>(
    out: &mut Vec<u8>,
    mask: Option<[u8; 4]>,
    payload: Payload,
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<(), E> {
    let start = out.len();
    // Fixed sizes, so that each frame costs no call to `memset` or `memcpy` for its header.
    let reserved = if mask.is_some() {
        out.extend_from_slice(&[0; 6]);
        6
    } else {
        out.extend_from_slice(&[0; 2]);
        2
    };
    if let Err(error) = write(out) {
        out.truncate(start);
        return Err(error);
    }
    let mut payload_start = start + reserved;
    assert!(out.len() >= payload_start, "`write` may only append");
    let length = out.len() - payload_start;
    let opcode = match payload {
        Payload::Text => OpCode::Text,
        Payload::Unknown => match str::from_utf8(&out[payload_start..]) {
            Ok(_) => OpCode::Text,
            Err(_) => OpCode::Binary,
        },
    };
    if length <= 125 {
        // The common case, written in place: the header is as long as the room reserved.
        let first = 0x80 | opcode.bits();
        match mask {
            Some([a, b, c, d]) => {
                out[start..start + 6].copy_from_slice(&[first, 0x80 | length as u8, a, b, c, d]);
            }
            None => out[start..start + 2].copy_from_slice(&[first, length as u8]),
        }
    } else {
        let (header, used) = header_bytes(opcode, length, mask);
        out.resize(out.len() + used - reserved, 0);
        out.copy_within(payload_start..payload_start + length, start + used);
        payload_start = start + used;
        out[start..payload_start].copy_from_slice(&header[..used]);
    }
    if let Some(key) = mask {
        apply_mask(&mut out[payload_start..], key, 0);
    }
    Ok(())
}

/// Masking keys for a client, a fresh one per frame, unpredictable to whoever chooses the payload
/// (RFC 6455 10.3) without a `rand` dependency (see [`Unpredictable`]).
#[derive(Debug)]
pub(crate) struct MaskKeys {
    source: Unpredictable,
}

impl MaskKeys {
    /// A new key sequence, apart from every other instance's.
    pub(crate) fn new() -> Self {
        MaskKeys {
            source: Unpredictable::new(),
        }
    }

    /// The key for the next frame.
    pub(crate) fn next(&mut self) -> [u8; 4] {
        self.source.next_u32().to_ne_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 4] = [0x37, 0xFA, 0x21, 0x3D];
    const LENGTHS: [usize; 8] = [0, 1, 125, 126, 127, 65535, 65536, 70000];

    /// An owned [`Incoming`], to keep and compare.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Seen {
        Text(String),
        Binary(Vec<u8>),
        Ping(Vec<u8>),
        Pong(Vec<u8>),
        Close(Option<u16>, String),
    }

    impl From<Incoming<'_>> for Seen {
        fn from(incoming: Incoming<'_>) -> Seen {
            match incoming {
                Incoming::Text(text) => Seen::Text(text.to_owned()),
                Incoming::Binary(bytes) => Seen::Binary(bytes.to_vec()),
                Incoming::Ping(bytes) => Seen::Ping(bytes.to_vec()),
                Incoming::Pong(bytes) => Seen::Pong(bytes.to_vec()),
                Incoming::Close { code, reason } => Seen::Close(code, reason.to_owned()),
            }
        }
    }

    /// Feeds `pieces` in turn, up to the first error.
    fn feed_all<'a>(
        decoder: &mut FrameDecoder,
        pieces: impl IntoIterator<Item = &'a [u8]>,
    ) -> (Vec<Seen>, Result<(), Violation>) {
        let mut seen = Vec::new();
        for piece in pieces {
            if let Err(violation) = decoder.feed(piece, |incoming| seen.push(incoming.into())) {
                return (seen, Err(violation));
            }
        }
        (seen, Ok(()))
    }

    fn decode(role: Role, max_message: usize, stream: &[u8]) -> (Vec<Seen>, Result<(), Violation>) {
        feed_all(&mut FrameDecoder::new(role, max_message), [stream])
    }

    /// A frame for a decoder of `to`, built without the code under test: any first byte (FIN,
    /// reserved bits, opcode), masked when it goes to a server.
    fn raw(first: u8, payload: &[u8], to: Role) -> Vec<u8> {
        let mask_bit = if to == Role::Server { 0x80 } else { 0 };
        let mut out = vec![first];
        match payload.len() {
            length @ 0..=125 => out.push(mask_bit | length as u8),
            length @ 126..=65535 => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(length as u16).to_be_bytes());
            }
            length => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&(length as u64).to_be_bytes());
            }
        }
        if to == Role::Server {
            out.extend_from_slice(&KEY);
            out.extend(
                payload
                    .iter()
                    .enumerate()
                    .map(|(i, byte)| byte ^ KEY[i % 4]),
            );
        } else {
            out.extend_from_slice(payload);
        }
        out
    }

    /// The mask a frame going to `to` carries.
    fn mask_for(to: Role) -> Option<[u8; 4]> {
        match to {
            Role::Server => Some(KEY),
            Role::Client => None,
        }
    }

    fn header_length(payload: usize, masked: bool) -> usize {
        let length_bytes = match payload {
            0..=125 => 0,
            126..=65535 => 2,
            _ => 8,
        };
        2 + length_bytes + if masked { 4 } else { 0 }
    }

    /// A small seeded xorshift64, so a failing split can be replayed.
    struct Xorshift(u64);

    impl Xorshift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn binary_payload(length: usize) -> Vec<u8> {
        // Starts with a byte UTF-8 never has, so it is binary whatever its length.
        (0..length)
            .map(|i| if i == 0 { 0xFF } else { (i * 7 + 3) as u8 })
            .collect()
    }

    fn text_payload(length: usize) -> String {
        (0..length)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect()
    }

    #[test]
    fn every_length_round_trips_masked_and_unmasked() {
        for to in [Role::Server, Role::Client] {
            let mask = mask_for(to);
            for length in LENGTHS {
                let binary = binary_payload(length);
                let text = text_payload(length);
                let expected_wire = header_length(length, mask.is_some()) + length;

                let mut wire = Vec::new();
                encode_frame(OpCode::Binary, &binary, mask, &mut wire);
                assert_eq!(wire.len(), expected_wire, "{to:?} {length}");
                assert_eq!(wire, raw(0x82, &binary, to), "{to:?} {length}");
                let (seen, result) = decode(to, 70_000, &wire);
                assert_eq!(result, Ok(()));
                assert_eq!(seen, [Seen::Binary(binary.clone())], "{to:?} {length}");

                let mut wire = Vec::new();
                encode_frame(OpCode::Text, text.as_bytes(), mask, &mut wire);
                assert_eq!(wire, raw(0x81, text.as_bytes(), to), "{to:?} {length}");
                assert_eq!(decode(to, 70_000, &wire).0, [Seen::Text(text.clone())]);

                let mut streamed = Vec::new();
                encode_data_frame_with(&mut streamed, mask, Payload::Unknown, |out| {
                    out.extend_from_slice(text.as_bytes());
                    Ok::<(), ()>(())
                })
                .unwrap();
                assert_eq!(streamed, wire, "{to:?} {length}");

                if length > 0 {
                    let mut streamed = Vec::new();
                    encode_data_frame_with(&mut streamed, mask, Payload::Unknown, |out| {
                        out.extend_from_slice(&binary);
                        Ok::<(), ()>(())
                    })
                    .unwrap();
                    assert_eq!(streamed, raw(0x82, &binary, to), "{to:?} {length}");
                    assert_eq!(decode(to, 70_000, &streamed).0, [Seen::Binary(binary)]);
                }

                if length <= MAX_CONTROL_PAYLOAD {
                    let mut wire = Vec::new();
                    encode_frame(OpCode::Ping, text.as_bytes(), mask, &mut wire);
                    encode_frame(OpCode::Pong, text.as_bytes(), mask, &mut wire);
                    assert_eq!(
                        decode(to, 70_000, &wire).0,
                        [
                            Seen::Ping(text.clone().into_bytes()),
                            Seen::Pong(text.into_bytes())
                        ]
                    );
                }
            }
        }
    }

    /// A stream of every shape, and what it carries.
    fn mixed_stream(to: Role, big: bool) -> (Vec<u8>, Vec<Seen>) {
        let mask = mask_for(to);
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        encode_frame(OpCode::Text, b"hello", mask, &mut wire);
        expected.push(Seen::Text("hello".to_owned()));
        let medium = binary_payload(300);
        encode_frame(OpCode::Binary, &medium, mask, &mut wire);
        expected.push(Seen::Binary(medium));
        wire.extend(raw(0x01, b"frag", to));
        wire.extend(raw(0x89, b"p1", to));
        wire.extend(raw(0x00, b"ment \xC3", to));
        wire.extend(raw(0x8A, b"", to));
        wire.extend(raw(0x80, b"\xA9", to));
        expected.push(Seen::Ping(b"p1".to_vec()));
        expected.push(Seen::Pong(Vec::new()));
        expected.push(Seen::Text("fragment é".to_owned()));
        encode_frame(OpCode::Binary, b"", mask, &mut wire);
        expected.push(Seen::Binary(Vec::new()));
        let control = text_payload(125).into_bytes();
        encode_frame(OpCode::Ping, &control, mask, &mut wire);
        expected.push(Seen::Ping(control));
        let fragmented = binary_payload(1000);
        wire.extend(raw(0x02, &fragmented[..400], to));
        wire.extend(raw(0x00, &fragmented[400..401], to));
        wire.extend(raw(0x80, &fragmented[401..], to));
        expected.push(Seen::Binary(fragmented));
        if big {
            let large = binary_payload(70_000);
            encode_frame(OpCode::Binary, &large, mask, &mut wire);
            expected.push(Seen::Binary(large));
        }
        encode_data_frame_with(&mut wire, mask, Payload::Unknown, |out| {
            out.extend_from_slice("last words".as_bytes());
            Ok::<(), ()>(())
        })
        .unwrap();
        expected.push(Seen::Text("last words".to_owned()));
        encode_close(1000, "bye", mask, &mut wire);
        expected.push(Seen::Close(Some(1000), "bye".to_owned()));
        (wire, expected)
    }

    fn random_pieces<'a>(stream: &'a [u8], rng: &mut Xorshift, longest: u64) -> Vec<&'a [u8]> {
        let mut pieces = Vec::new();
        let mut rest = stream;
        while !rest.is_empty() {
            let length = (1 + rng.next() % longest) as usize;
            let (piece, after) = rest.split_at(length.min(rest.len()));
            pieces.push(piece);
            rest = after;
        }
        pieces
    }

    #[test]
    fn however_the_stream_is_cut_the_messages_are_the_same() {
        let mut rng = Xorshift(0x9E37_79B9_7F4A_7C15);
        for to in [Role::Server, Role::Client] {
            let (stream, expected) = mixed_stream(to, true);
            let new = || FrameDecoder::new(to, 70_000);
            assert_eq!(
                feed_all(&mut new(), [&stream[..]]),
                (expected.clone(), Ok(()))
            );
            assert_eq!(
                feed_all(&mut new(), stream.chunks(1)),
                (expected.clone(), Ok(())),
                "{to:?} byte by byte"
            );
            for _ in 0..40 {
                let pieces = random_pieces(&stream, &mut rng, 5000);
                assert_eq!(feed_all(&mut new(), pieces), (expected.clone(), Ok(())));
            }

            let (stream, expected) = mixed_stream(to, false);
            for round in 0..3000 {
                let pieces = random_pieces(&stream, &mut rng, 24);
                assert_eq!(
                    feed_all(&mut new(), pieces),
                    (expected.clone(), Ok(())),
                    "{to:?} round {round}"
                );
            }
        }
    }

    #[test]
    fn a_ping_between_fragments_comes_at_once() {
        for to in [Role::Server, Role::Client] {
            let mut decoder = FrameDecoder::new(to, 100);
            let (seen, result) = feed_all(
                &mut decoder,
                [
                    &raw(0x01, b"Hel", to)[..],
                    &raw(0x89, b"ping", to),
                    &raw(0x00, b"lo ", to),
                ],
            );
            assert_eq!(result, Ok(()));
            assert_eq!(seen, [Seen::Ping(b"ping".to_vec())], "before the text ends");
            let (seen, _) = feed_all(&mut decoder, [&raw(0x80, b"world", to)[..]]);
            assert_eq!(seen, [Seen::Text("Hello world".to_owned())]);
        }
    }

    #[test]
    fn a_character_split_across_fragments_is_accepted() {
        let emoji = "😀".as_bytes();
        let mut stream = raw(0x01, &[b'a', emoji[0]], Role::Server);
        stream.extend(raw(0x00, &emoji[1..3], Role::Server));
        stream.extend(raw(0x80, &[emoji[3], b'b'], Role::Server));
        assert_eq!(
            decode(Role::Server, 100, &stream),
            (vec![Seen::Text("a😀b".to_owned())], Ok(()))
        );
    }

    #[test]
    fn bad_utf8_in_an_early_fragment_fails_before_the_message_ends() {
        let mut decoder = FrameDecoder::new(Role::Client, 100);
        let (_, result) = feed_all(&mut decoder, [&raw(0x01, b"ok \xFF", Role::Client)[..]]);
        assert_eq!(result, Err(Violation::InvalidUtf8));
    }

    /// What a decoder of `role` says of `stream`, which must break a rule and deliver nothing.
    fn violation(role: Role, max_message: usize, stream: &[u8]) -> Violation {
        let (seen, result) = decode(role, max_message, stream);
        assert_eq!(seen, []);
        result.expect_err("a violation")
    }

    #[test]
    fn each_broken_rule_is_its_violation_and_close_code() {
        let protocol_errors: Vec<(&str, Role, Vec<u8>)> = vec![
            (
                "masked to a client",
                Role::Client,
                raw(0x81, b"x", Role::Server),
            ),
            (
                "unmasked to a server",
                Role::Server,
                raw(0x81, b"x", Role::Client),
            ),
            ("rsv1", Role::Client, raw(0xC1, b"x", Role::Client)),
            ("rsv2", Role::Client, raw(0xA1, b"x", Role::Client)),
            ("rsv3", Role::Server, raw(0x91, b"x", Role::Server)),
            (
                "fragmented ping",
                Role::Server,
                raw(0x09, b"x", Role::Server),
            ),
            (
                "ping over 125",
                Role::Client,
                raw(0x89, &[0; 126], Role::Client),
            ),
            (
                "close over 125",
                Role::Server,
                raw(0x88, &[0; 200], Role::Server),
            ),
            (
                "stray continuation",
                Role::Client,
                raw(0x80, b"x", Role::Client),
            ),
            (
                "close of one byte",
                Role::Client,
                raw(0x88, &[3], Role::Client),
            ),
            ("top bit of length", Role::Client, {
                let mut frame = vec![0x82, 127];
                frame.extend_from_slice(&(1u64 << 63).to_be_bytes());
                frame
            }),
            ("text inside a message", Role::Client, {
                let mut stream = raw(0x01, b"a", Role::Client);
                stream.extend(raw(0x81, b"b", Role::Client));
                stream
            }),
            ("binary inside a message", Role::Server, {
                let mut stream = raw(0x02, b"a", Role::Server);
                stream.extend(raw(0x82, b"b", Role::Server));
                stream
            }),
        ];
        let reserved_opcodes = (3..=7).chain(11..=15).map(|opcode| {
            (
                "reserved opcode",
                Role::Client,
                raw(0x80 | opcode, b"", Role::Client),
            )
        });
        let bad_close_codes =
            [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535].map(|code: u16| {
                (
                    "close code",
                    Role::Server,
                    raw(0x88, &code.to_be_bytes(), Role::Server),
                )
            });
        for (case, role, stream) in protocol_errors
            .into_iter()
            .chain(reserved_opcodes)
            .chain(bad_close_codes)
        {
            let found = violation(role, 1000, &stream);
            assert!(matches!(found, Violation::Protocol(_)), "{case}: {found:?}");
            assert_eq!(found.close_code(), 1002, "{case}");
        }

        let bad_text = violation(Role::Client, 1000, &raw(0x81, b"\xC3\x28", Role::Client));
        assert_eq!(
            (bad_text.clone(), bad_text.close_code()),
            (Violation::InvalidUtf8, 1007)
        );
        let bad_reason = violation(
            Role::Server,
            1000,
            &raw(0x88, b"\x03\xE8\xFF", Role::Server),
        );
        assert_eq!(
            (bad_reason.clone(), bad_reason.close_code()),
            (Violation::InvalidUtf8, 1007)
        );
        let too_big = violation(Role::Client, 1000, &raw(0x82, &[0; 1001], Role::Client));
        assert_eq!(
            (too_big.clone(), too_big.close_code()),
            (Violation::TooBig { limit: 1000 }, 1009)
        );
    }

    #[test]
    fn every_close_code_a_peer_may_send_is_accepted() {
        for code in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1014, 3000, 4999,
        ] {
            let mut wire = Vec::new();
            encode_close(code, "why", Some(KEY), &mut wire);
            assert_eq!(
                decode(Role::Server, 1000, &wire),
                (vec![Seen::Close(Some(code), "why".to_owned())], Ok(())),
                "{code}"
            );
        }
        assert_eq!(
            decode(Role::Client, 1000, &raw(0x88, b"", Role::Client)),
            (vec![Seen::Close(None, String::new())], Ok(()))
        );
    }

    #[test]
    fn a_frame_over_the_limit_fails_on_its_header_alone() {
        let mut decoder = FrameDecoder::new(Role::Server, 1000);
        let header = &raw(0x82, &[0; 1001], Role::Server)[..4];
        assert_eq!(
            feed_all(&mut decoder, header.chunks(1)).1,
            Err(Violation::TooBig { limit: 1000 })
        );
        assert_eq!(decoder.data.capacity(), 0);

        let mut decoder = FrameDecoder::new(Role::Client, 1000);
        let mut header = vec![0x81, 127];
        header.extend_from_slice(&(u64::MAX >> 1).to_be_bytes());
        assert_eq!(
            feed_all(&mut decoder, [&header[..]]).1,
            Err(Violation::TooBig { limit: 1000 })
        );
        assert_eq!(decoder.data.capacity(), 0);
    }

    #[test]
    fn a_message_over_the_limit_fails_on_the_header_that_crosses_it() {
        let mut decoder = FrameDecoder::new(Role::Server, 100);
        let first = raw(0x02, &[1; 60], Role::Server);
        let second = raw(0x80, &[2; 60], Role::Server);
        assert_eq!(feed_all(&mut decoder, [&first[..]]), (vec![], Ok(())));
        assert_eq!(decoder.data.len(), 60);
        assert_eq!(
            feed_all(&mut decoder, [&second[..6]]).1,
            Err(Violation::TooBig { limit: 100 })
        );
        // Exactly at the limit is still accepted.
        let mut stream = raw(0x02, &[1; 60], Role::Server);
        stream.extend(raw(0x80, &[2; 40], Role::Server));
        let (seen, result) = decode(Role::Server, 100, &stream);
        assert_eq!(result, Ok(()));
        assert_eq!(seen.len(), 1);
    }

    #[test]
    fn the_buffer_stays_within_the_limit_and_shrinks_after_a_large_message() {
        let mut decoder = FrameDecoder::new(Role::Server, 1000);
        let stream = raw(0x82, &binary_payload(1000), Role::Server);
        for piece in stream.chunks(7) {
            decoder.feed(piece, |_| {}).unwrap();
            assert!(
                decoder.data.capacity() <= 1000,
                "{}",
                decoder.data.capacity()
            );
        }

        let mut decoder = FrameDecoder::new(Role::Server, 200_000);
        let stream = raw(0x82, &binary_payload(150_000), Role::Server);
        let mut delivered = 0;
        decoder
            .feed(&stream, |incoming| {
                assert_eq!(incoming, Incoming::Binary(&binary_payload(150_000)));
                delivered += 1;
            })
            .unwrap();
        assert_eq!(delivered, 1);
        assert!(decoder.data.capacity() <= KEPT_CAPACITY);
    }

    #[test]
    fn a_whole_unmasked_frame_is_handed_over_without_a_copy() {
        let mut decoder = FrameDecoder::new(Role::Client, 1000);
        let mut stream = raw(0x81, b"in place", Role::Client);
        stream.extend(raw(0x89, b"ping", Role::Client));
        let mut borrowed = 0;
        decoder
            .feed(&stream, |incoming| {
                let payload = match incoming {
                    Incoming::Text(text) => text.as_bytes(),
                    Incoming::Ping(payload) => payload,
                    other => panic!("{other:?}"),
                };
                assert!(stream.as_ptr_range().contains(&payload.as_ptr()));
                borrowed += 1;
            })
            .unwrap();
        assert_eq!(borrowed, 2);
        assert_eq!(decoder.data.capacity(), 0);
    }

    #[test]
    fn input_after_a_violation_or_a_close_is_ignored() {
        let next = raw(0x81, b"more", Role::Client);

        let mut decoder = FrameDecoder::new(Role::Client, 1000);
        assert!(decoder.feed(&[0xF1], |_| {}).is_err());
        assert_eq!(feed_all(&mut decoder, [&next[..]]), (vec![], Ok(())));

        let mut decoder = FrameDecoder::new(Role::Client, 1000);
        let mut stream = raw(0x01, b"unfinished", Role::Client);
        stream.extend(raw(0x88, b"\x03\xE8", Role::Client));
        stream.extend(&next);
        assert_eq!(
            feed_all(&mut decoder, [&stream[..]]),
            (vec![Seen::Close(Some(1000), String::new())], Ok(()))
        );
        assert_eq!(feed_all(&mut decoder, [&next[..]]), (vec![], Ok(())));
    }

    #[test]
    fn a_data_frame_written_in_place_is_text_or_binary_and_undone_on_error() {
        let mut out = b"already here".to_vec();
        let failed = encode_data_frame_with(&mut out, Some(KEY), Payload::Unknown, |out| {
            out.extend_from_slice(&[b'x'; 300]);
            Err("no room")
        });
        assert_eq!((failed, &out[..]), (Err("no room"), &b"already here"[..]));

        for (payload, opcode) in [
            (&b"h\xC3\xA9llo"[..], 0x81),
            (b"", 0x81),
            (b"\xC3", 0x82),
            (b"ok\x00\xFE", 0x82),
        ] {
            let mut out = b"before".to_vec();
            encode_data_frame_with(&mut out, None, Payload::Unknown, |out| {
                out.extend_from_slice(payload);
                Ok::<(), ()>(())
            })
            .unwrap();
            assert_eq!(&out[..6], b"before");
            assert_eq!(out[6], opcode, "{payload:?}");
            assert_eq!(&out[8..], payload);
        }

        // Every header length, masked or not, after bytes already there: a payload past 125
        // bytes is moved right to make room for its longer length field.
        for length in LENGTHS {
            let payload: Vec<u8> = (0..length).map(|at| b'a' + (at % 26) as u8).collect();
            for mask in [None, Some(KEY)] {
                let mut out = b"before".to_vec();
                encode_data_frame_with(&mut out, mask, Payload::Text, |out| {
                    out.extend_from_slice(&payload);
                    Ok::<(), ()>(())
                })
                .unwrap();
                let mut expected = b"before".to_vec();
                encode_frame(OpCode::Text, &payload, mask, &mut expected);
                assert!(out == expected, "{length} bytes, mask {mask:?}");
            }
        }
    }

    #[test]
    fn mask_keys_differ_between_draws_and_instances() {
        let mut keys = MaskKeys::new();
        let drawn: std::collections::HashSet<[u8; 4]> = (0..1000).map(|_| keys.next()).collect();
        // 32-bit keys: a collision or two among a thousand is possible, a pattern is not.
        assert!(drawn.len() >= 998, "{}", drawn.len());
        let (mut a, mut b) = (MaskKeys::new(), MaskKeys::new());
        let from_a: Vec<_> = (0..4).map(|_| a.next()).collect();
        let from_b: Vec<_> = (0..4).map(|_| b.next()).collect();
        assert_ne!(from_a, from_b);
    }

    #[test]
    fn a_close_reason_is_cut_at_a_character_boundary() {
        let cases = [
            ("a".repeat(123), "a".repeat(123)),
            ("a".repeat(200), "a".repeat(123)),
            (format!("{}é", "a".repeat(122)), "a".repeat(122)),
            ("é".repeat(100), "é".repeat(61)),
            ("😀".repeat(40), "😀".repeat(30)),
        ];
        for (reason, sent) in cases {
            let mut wire = Vec::new();
            encode_close(1001, &reason, None, &mut wire);
            assert!(wire.len() <= 2 + MAX_CONTROL_PAYLOAD);
            assert_eq!(
                decode(Role::Client, 1000, &wire),
                (vec![Seen::Close(Some(1001), sent)], Ok(()))
            );
        }
    }

    #[test]
    fn unmasking_in_pieces_matches_the_byte_by_byte_definition() {
        let payload = binary_payload(41);
        let expected: Vec<u8> = payload
            .iter()
            .enumerate()
            .map(|(i, byte)| byte ^ KEY[i % 4])
            .collect();
        for cut in 0..=payload.len() {
            let mut masked = payload.clone();
            let (head, tail) = masked.split_at_mut(cut);
            apply_mask(head, KEY, 0);
            apply_mask(tail, KEY, cut);
            assert_eq!(masked, expected, "cut at {cut}");
        }
    }

    #[test]
    fn frames_agree_with_tungstenite() {
        use std::io::Cursor;
        use tungstenite::protocol::frame::coding::{self, CloseCode, Data};
        use tungstenite::protocol::frame::{CloseFrame, Frame, FrameHeader};

        for length in LENGTHS {
            for to in [Role::Server, Role::Client] {
                let payload = binary_payload(length);
                let mut theirs =
                    Frame::message(payload.clone(), coding::OpCode::Data(Data::Binary), true);
                theirs.header_mut().mask = mask_for(to);
                let mut wire = Vec::new();
                theirs.format(&mut wire).unwrap();
                assert_eq!(
                    decode(to, 70_000, &wire),
                    (vec![Seen::Binary(payload.clone())], Ok(())),
                    "{to:?} {length}"
                );

                let mut ours = Vec::new();
                encode_frame(OpCode::Binary, &payload, mask_for(to), &mut ours);
                let mut cursor = Cursor::new(&ours);
                let (header, parsed_length) = FrameHeader::parse(&mut cursor).unwrap().unwrap();
                assert!(header.is_final && !header.rsv1 && !header.rsv2 && !header.rsv3);
                assert_eq!(header.opcode, coding::OpCode::Data(Data::Binary));
                assert_eq!(header.mask, mask_for(to));
                assert_eq!(parsed_length, length as u64);
                assert_eq!(
                    cursor.position() as usize,
                    header_length(length, to == Role::Server)
                );
            }
        }

        let mut wire = Vec::new();
        Frame::ping(vec![1, 2, 3]).format(&mut wire).unwrap();
        Frame::close(Some(CloseFrame {
            code: CloseCode::Away,
            reason: "gone".into(),
        }))
        .format(&mut wire)
        .unwrap();
        assert_eq!(
            decode(Role::Client, 100, &wire),
            (
                vec![
                    Seen::Ping(vec![1, 2, 3]),
                    Seen::Close(Some(1001), "gone".to_owned())
                ],
                Ok(())
            )
        );
    }
}
