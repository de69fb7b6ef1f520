//! Splitting a byte stream into lines and audio chunks, incrementally, without I/O.
//!
//! A [`LineDecoder`] is fed whatever bytes arrive (a TCP read, a WebSocket frame's payload) and
//! hands each complete item to a sink in stream order. Its output does not depend on how the stream
//! is cut into pieces. It holds at most one partial line (bounded by the line limit) or one partial
//! audio chunk (at most 9999 bytes), whatever arrives. What a line means is [`super::item`]'s job.
//!
//! Framing follows the original plugin: CR and LF both end a line and runs of them make no empty
//! messages; at the start of a line, `SND` and four digits announce that many bytes of raw audio,
//! and `SNDSTRM`, `SNDFILE`, `SNDBRKS` are audio controls whose line end is optional.

use std::borrow::Cow;
use std::mem;

use crate::codec::byte_search::{find_line_end, is_line_end};
use crate::codec::item::{AudioControl, AvatarCommand, DecodeError, Item, Message};

/// How long an audio header or control is: `SND` and four more bytes.
const SND_HEADER_LENGTH: usize = 7;
/// How many bytes of a dropped line its error quotes.
const QUOTED_START_LENGTH: usize = 40;

/// An incremental decoder for one connection's inbound stream.
///
/// ```
/// use mmdagent_remote::{Item, LineDecoder, Message};
///
/// let mut decoder = LineDecoder::new();
/// let mut items = Vec::new();
/// decoder.decode(b"MESSAGE|aaa", |item| items.push(item.map(Item::into_owned)));
/// assert!(items.is_empty(), "a partial line waits for its end");
/// decoder.decode(b"|bbb\n", |item| items.push(item.map(Item::into_owned)));
/// assert_eq!(items, [Ok(Item::Message(Message::new("MESSAGE", "aaa|bbb")))]);
/// ```
#[derive(Debug, Clone)]
pub struct LineDecoder {
    max_line_length: usize,
    state: State,
    /// The part of a line, or of an audio chunk, that arrived in an earlier piece.
    pending: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Between lines; `pending` may hold the first bytes of a line that could still be an audio
    /// header (`S`, `SN`, `SND1`...).
    LineStart,
    /// Inside a text line; `pending` holds what came so far.
    InLine,
    /// Inside a line longer than the limit, dropping it up to its end.
    /// `start` holds the line's first bytes, up to the quoted length, whichever piece they came in.
    Dropping { length: usize, start: Vec<u8> },
    /// Inside an audio chunk of `length` bytes; `pending` holds what came so far.
    Audio { length: usize },
}

/// What the first bytes of a line say it is.
enum Head {
    /// Too few bytes yet to tell.
    Undecided,
    Text,
    AudioChunk {
        length: usize,
    },
    AudioControl(AudioControl),
}

impl Default for LineDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl LineDecoder {
    /// A decoder with the default line limit, 64 KiB, the same as
    /// [`DEFAULT_MAX_LINE_LENGTH`](crate::DEFAULT_MAX_LINE_LENGTH).
    pub fn new() -> Self {
        // The codec stands below the configuration, so it keeps its own copy of the number; a test
        // of the crate's public items holds the two together.
        Self::with_max_line_length(64 * 1024)
    }

    /// A decoder that drops lines longer than `max_line_length` bytes (line end not counted).
    /// A limit of 0 is taken as 1.
    pub fn with_max_line_length(max_line_length: usize) -> Self {
        LineDecoder {
            max_line_length: max_line_length.max(1),
            state: State::LineStart,
            pending: Vec::new(),
        }
    }

    /// The line limit in bytes.
    pub fn max_line_length(&self) -> usize {
        self.max_line_length
    }

    /// Whether the decoder holds part of a line or chunk, waiting for the rest.
    pub fn has_partial(&self) -> bool {
        self.state != State::LineStart || !self.pending.is_empty()
    }

    /// Decodes the next piece of the stream, handing each complete item (or a report of bad input)
    /// to `sink` in stream order. Items borrow from `input` or from the decoder; call
    /// [`Item::into_owned`] on those to keep.
    pub fn decode(&mut self, input: &[u8], mut sink: impl FnMut(Result<Item<'_>, DecodeError>)) {
        let mut window = Utf8Window::new(input);
        let mut rest = input;
        while !rest.is_empty() {
            rest = match self.state {
                State::LineStart => self.line_start(rest, &mut window, &mut sink),
                State::InLine => self.in_line(rest, &mut window, &mut sink),
                State::Dropping { .. } => self.dropping(rest, &mut sink),
                State::Audio { length } => self.audio(rest, length, &mut sink),
            };
        }
    }

    /// Decodes a piece of the stream into owned items; a convenience over [`decode`](Self::decode).
    pub fn decode_owned(&mut self, input: &[u8]) -> Vec<Result<Item<'static>, DecodeError>> {
        let mut items = Vec::new();
        self.decode(input, |item| items.push(item.map(Item::into_owned)));
        items
    }

    /// Ends the stream: a last line without line end is delivered, as `BufRead::lines` does; a
    /// partial audio chunk is reported and dropped. The decoder is then ready for a new stream.
    pub fn finish(&mut self, mut sink: impl FnMut(Result<Item<'_>, DecodeError>)) {
        match mem::replace(&mut self.state, State::LineStart) {
            State::LineStart | State::InLine if !self.pending.is_empty() => {
                let line = mem::take(&mut self.pending);
                emit_line(&line, &mut sink);
                self.reuse(line);
            }
            State::Dropping { length, start } => sink(Err(DecodeError::LineTooLong {
                length,
                limit: self.max_line_length,
                start: String::from_utf8_lossy(&start).into_owned(),
            })),
            State::Audio { length } => {
                sink(Err(DecodeError::IncompleteAudioChunk {
                    expected: length,
                    received: self.pending.len(),
                }));
                self.pending.clear();
            }
            State::LineStart | State::InLine => {}
        }
    }

    fn line_start<'i>(
        &mut self,
        input: &'i [u8],
        window: &mut Utf8Window<'i>,
        sink: &mut impl FnMut(Result<Item<'_>, DecodeError>),
    ) -> &'i [u8] {
        if !self.pending.is_empty() {
            return self.classify_head(input, sink);
        }
        let input = self.whole_lines(input, window, sink);
        match input.first() {
            None => input,
            Some(b'S') => self.classify_head(input, sink),
            Some(_) => {
                self.state = State::InLine;
                self.in_line(input, window, sink)
            }
        }
    }

    /// Emits the complete lines at the front of `input` that need no care (none can be an audio
    /// header, none is too long) in one tight loop: they are the bulk of any stream. Stops before
    /// anything else, with the decoder still at a line start.
    fn whole_lines<'i>(
        &mut self,
        mut input: &'i [u8],
        window: &mut Utf8Window<'i>,
        sink: &mut impl FnMut(Result<Item<'_>, DecodeError>),
    ) -> &'i [u8] {
        loop {
            let blank = input.iter().take_while(|&&byte| is_line_end(byte)).count();
            input = &input[blank..];
            if input.first().is_none_or(|&byte| byte == b'S') {
                return input;
            }
            match find_line_end(input) {
                Some(end) if end <= self.max_line_length => {
                    match window.text(input, end) {
                        Some(text) => emit_text(text, sink),
                        None => emit_line(&input[..end], sink),
                    }
                    input = &input[end + 1..];
                }
                _ => return input,
            }
        }
    }

    /// Decides, from the first bytes of a line (`pending` and then `input`), whether it is an audio
    /// header, an audio control or text, consuming the header if it is one.
    fn classify_head<'i>(
        &mut self,
        input: &'i [u8],
        sink: &mut impl FnMut(Result<Item<'_>, DecodeError>),
    ) -> &'i [u8] {
        let wanted = SND_HEADER_LENGTH - self.pending.len();
        let taken = input
            .iter()
            .take(wanted)
            .take_while(|&&byte| !is_line_end(byte))
            .count();
        let mut head = [0u8; SND_HEADER_LENGTH];
        head[..self.pending.len()].copy_from_slice(&self.pending);
        head[self.pending.len()..self.pending.len() + taken].copy_from_slice(&input[..taken]);
        let head_length = self.pending.len() + taken;
        let line_ended = taken < wanted && taken < input.len();
        match classify(&head[..head_length]) {
            Head::Undecided if !line_ended => {
                self.pending.extend_from_slice(&input[..taken]);
                &input[taken..]
            }
            Head::Undecided | Head::Text => {
                self.state = State::InLine;
                input
            }
            Head::AudioChunk { length: 0 } => {
                self.pending.clear();
                sink(Ok(Item::AudioChunk(Cow::Borrowed(&[]))));
                &input[taken..]
            }
            Head::AudioChunk { length } => {
                self.pending.clear();
                self.state = State::Audio { length };
                &input[taken..]
            }
            Head::AudioControl(control) => {
                self.pending.clear();
                sink(Ok(Item::AudioControl(control)));
                &input[taken..]
            }
        }
    }

    fn in_line<'i>(
        &mut self,
        input: &'i [u8],
        window: &mut Utf8Window<'i>,
        sink: &mut impl FnMut(Result<Item<'_>, DecodeError>),
    ) -> &'i [u8] {
        let Some(end) = find_line_end(input) else {
            if self.pending.len() + input.len() > self.max_line_length {
                self.start_dropping(input);
            } else {
                self.pending.extend_from_slice(input);
            }
            return &[];
        };
        let (line, rest) = (&input[..end], &input[end + 1..]);
        self.state = State::LineStart;
        if self.pending.len() + line.len() > self.max_line_length {
            self.start_dropping(line);
            self.finish_dropping(sink);
        } else if self.pending.is_empty() {
            match window.text(input, end) {
                Some(text) => emit_text(text, sink),
                None => emit_line(line, sink),
            }
        } else {
            let mut whole = mem::take(&mut self.pending);
            whole.extend_from_slice(line);
            emit_line(&whole, sink);
            self.reuse(whole);
        }
        rest
    }

    fn dropping<'i>(
        &mut self,
        input: &'i [u8],
        sink: &mut impl FnMut(Result<Item<'_>, DecodeError>),
    ) -> &'i [u8] {
        let end = find_line_end(input);
        let dropped = &input[..end.unwrap_or(input.len())];
        if let State::Dropping { length, start } = &mut self.state {
            *length += dropped.len();
            quote(start, dropped);
        }
        match end {
            Some(end) => {
                self.finish_dropping(sink);
                &input[end + 1..]
            }
            None => &[],
        }
    }

    fn audio<'i>(
        &mut self,
        input: &'i [u8],
        length: usize,
        sink: &mut impl FnMut(Result<Item<'_>, DecodeError>),
    ) -> &'i [u8] {
        let missing = length - self.pending.len();
        if input.len() < missing {
            self.pending.extend_from_slice(input);
            return &[];
        }
        let (tail, rest) = input.split_at(missing);
        self.state = State::LineStart;
        if self.pending.is_empty() {
            sink(Ok(Item::AudioChunk(Cow::Borrowed(tail))));
        } else {
            let mut chunk = mem::take(&mut self.pending);
            chunk.extend_from_slice(tail);
            sink(Ok(Item::AudioChunk(Cow::Borrowed(&chunk))));
            self.reuse(chunk);
        }
        rest
    }

    /// Switches to dropping the current line, whose bytes so far are `pending` and then `more`.
    fn start_dropping(&mut self, more: &[u8]) {
        let mut start = Vec::with_capacity(QUOTED_START_LENGTH);
        quote(&mut start, &self.pending);
        quote(&mut start, more);
        self.state = State::Dropping {
            length: self.pending.len() + more.len(),
            start,
        };
        self.pending.clear();
    }

    /// Reports the dropped line, `extra` more bytes of which came before its line end.
    fn finish_dropping(&mut self, sink: &mut impl FnMut(Result<Item<'_>, DecodeError>)) {
        if let State::Dropping { length, start } = mem::replace(&mut self.state, State::LineStart) {
            sink(Err(DecodeError::LineTooLong {
                length,
                limit: self.max_line_length,
                start: String::from_utf8_lossy(&start).into_owned(),
            }));
        }
    }

    /// Puts a taken buffer back as `pending`, empty, so its capacity serves the next partial line,
    /// unless it grew past what a line may need.
    fn reuse(&mut self, mut buffer: Vec<u8>) {
        buffer.clear();
        if buffer.capacity() <= self.max_line_length.max(9999) {
            self.pending = buffer;
        }
    }
}

/// A stretch of one input known to be valid UTF-8, so that the lines inside it need no check of their
/// own: validating a whole read at once is several times faster than validating its short lines one
/// by one. Found lazily, from the first line that asks up to the first invalid byte.
struct Utf8Window<'i> {
    input: &'i [u8],
    start: usize,
    text: &'i str,
}

impl<'i> Utf8Window<'i> {
    fn new(input: &'i [u8]) -> Self {
        Utf8Window {
            input,
            start: 0,
            text: "",
        }
    }

    /// The first `length` bytes of `rest` (a suffix of the input) as text, if they are known valid.
    #[inline]
    fn text(&mut self, rest: &'i [u8], length: usize) -> Option<&'i str> {
        let start = self.input.len() - rest.len();
        if start >= self.start + self.text.len() {
            self.start = start;
            self.text = match std::str::from_utf8(rest) {
                Ok(text) => text,
                Err(error) => std::str::from_utf8(&rest[..error.valid_up_to()]).unwrap_or_default(),
            };
        }
        // `get` rather than indexing: a line that starts right after an audio chunk may start
        // inside a character of the window, and then takes the checked path.
        let offset = start.checked_sub(self.start)?;
        self.text.get(offset..offset + length)
    }
}

/// Hands over a line known to be valid UTF-8; ordinary messages (the bulk of any stream) take a
/// short path.
#[inline]
fn emit_text(text: &str, sink: &mut impl FnMut(Result<Item<'_>, DecodeError>)) {
    if text.starts_with('_') {
        emit_item(Item::from_line(text), sink);
    } else if text != "|" {
        sink(Ok(Item::Message(Message::parse(text))));
    }
}

/// Adds to a dropped line's quoted start, up to the quoted length.
fn quote(start: &mut Vec<u8>, bytes: &[u8]) {
    let wanted = QUOTED_START_LENGTH.saturating_sub(start.len());
    start.extend_from_slice(&bytes[..bytes.len().min(wanted)]);
}

fn emit_line(line: &[u8], sink: &mut impl FnMut(Result<Item<'_>, DecodeError>)) {
    let text = match std::str::from_utf8(line) {
        Ok(text) => Cow::Borrowed(text),
        Err(error) => {
            sink(Err(DecodeError::InvalidUtf8 {
                length: line.len(),
                valid_up_to: error.valid_up_to(),
            }));
            String::from_utf8_lossy(line)
        }
    };
    emit_item(Item::from_line(text), sink);
}

fn emit_item(
    item: Result<Item<'_>, DecodeError>,
    sink: &mut impl FnMut(Result<Item<'_>, DecodeError>),
) {
    match item {
        // A line that says nothing (`|`, `__AV_MESSAGE,`) is no message, as a blank line is none.
        Ok(Item::Message(message)) if message.name().is_empty() && message.args().is_empty() => {}
        Ok(item) => sink(Ok(item)),
        Err(error) => {
            let unparsed = match &error {
                DecodeError::MalformedAvatar { line, .. } => Some(line.clone()),
                _ => None,
            };
            sink(Err(error));
            if let Some(line) = unparsed {
                sink(Ok(Item::Avatar {
                    line: Cow::Owned(line.clone()),
                    command: AvatarCommand::Other(Cow::Owned(line)),
                }));
            }
        }
    }
}

/// What the first bytes of a line (no line end among them) say it is.
fn classify(head: &[u8]) -> Head {
    let compared = head.len().min(3);
    if head[..compared] != b"SND"[..compared] {
        return Head::Text;
    }
    let suffix = &head[compared..];
    let could_be_digits = suffix.iter().all(u8::is_ascii_digit);
    let could_be_control = [b"STRM", b"FILE", b"BRKS"]
        .iter()
        .any(|control| control.starts_with(suffix));
    if !could_be_digits && !could_be_control {
        return Head::Text;
    }
    if head.len() < SND_HEADER_LENGTH {
        return Head::Undecided;
    }
    match AudioControl::from_suffix(suffix) {
        Some(control) => Head::AudioControl(control),
        None => Head::AudioChunk {
            length: suffix
                .iter()
                .fold(0, |length, digit| length * 10 + usize::from(digit - b'0')),
        },
    }
}

/// Whether a line starting with these bytes would be read as an audio chunk's header, making the
/// bytes after it audio.
pub(crate) fn starts_audio_chunk(line: &[u8]) -> bool {
    line.len() >= SND_HEADER_LENGTH
        && matches!(
            classify(&line[..SND_HEADER_LENGTH]),
            Head::AudioChunk { .. }
        )
}

/// Whether a line starting with these bytes would be read as an audio header or control rather than
/// as text.
pub(crate) fn reads_as_audio(line: &[u8]) -> bool {
    line.len() >= SND_HEADER_LENGTH
        && matches!(
            classify(&line[..SND_HEADER_LENGTH]),
            Head::AudioChunk { .. } | Head::AudioControl(_)
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(pieces: &[&[u8]]) -> Vec<Result<Item<'static>, DecodeError>> {
        let mut decoder = LineDecoder::with_max_line_length(16);
        let mut items = Vec::new();
        for piece in pieces {
            items.extend(decoder.decode_owned(piece));
        }
        decoder.finish(|item| items.push(item.map(Item::into_owned)));
        items
    }

    fn message(name: &str, args: &str) -> Result<Item<'static>, DecodeError> {
        Ok(Item::Message(Message::new(name.to_owned(), args)))
    }

    #[test]
    fn cr_lf_and_runs_of_them_end_lines_without_empty_messages() {
        assert_eq!(
            decode_all(&[b"\r\n\nA|1\r\n\r\nB\rC|x\n\n"]),
            [message("A", "1"), message("B", ""), message("C", "x")]
        );
    }

    #[test]
    fn crlf_split_across_pieces_does_not_jam() {
        assert_eq!(
            decode_all(&[b"A|1\r", b"\nB|2\r", b"\n"]),
            [message("A", "1"), message("B", "2")]
        );
        assert_eq!(decode_all(&[b"\n", b"DEF\n"]), [message("DEF", "")]);
    }

    #[test]
    fn audio_chunk_payload_may_hold_line_ends_and_is_followed_by_a_line() {
        assert_eq!(
            decode_all(&[b"SND0004\n\r\0\x01A|b\n"]),
            [
                Ok(Item::AudioChunk(Cow::Owned(vec![b'\n', b'\r', 0, 1]))),
                message("A", "b")
            ]
        );
        assert_eq!(
            decode_all(&[b"SND0000"]),
            [Ok(Item::AudioChunk(Cow::Owned(vec![])))]
        );
        assert_eq!(
            decode_all(&[b"SND0000SND0001xSNDBRKS"]),
            [
                Ok(Item::AudioChunk(Cow::Owned(vec![]))),
                Ok(Item::AudioChunk(Cow::Owned(vec![b'x']))),
                Ok(Item::AudioControl(AudioControl::Break)),
            ]
        );
    }

    #[test]
    fn audio_controls_with_and_without_line_end() {
        assert_eq!(
            decode_all(&[b"SNDSTRM\r\nSNDFILESNDBRKS\nSNDSTRMfoo\n"]),
            [
                Ok(Item::AudioControl(AudioControl::Stream)),
                Ok(Item::AudioControl(AudioControl::File)),
                Ok(Item::AudioControl(AudioControl::Break)),
                Ok(Item::AudioControl(AudioControl::Stream)),
                message("foo", ""),
            ]
        );
    }

    #[test]
    fn snd_without_four_digits_is_text() {
        assert_eq!(
            decode_all(&[b"SND12ab\nSND1\nSND\nSNDSTRX|y\nSTOP\nSN"]),
            [
                message("SND12ab", ""),
                message("SND1", ""),
                message("SND", ""),
                message("SNDSTRX", "y"),
                message("STOP", ""),
                message("SN", ""),
            ]
        );
    }

    #[test]
    fn audio_is_recognised_only_at_line_start() {
        assert_eq!(decode_all(&[b"A SND0001x\n"]), [message("A SND0001x", "")]);
    }

    #[test]
    fn short_line_starting_with_s_is_not_held_back() {
        let mut decoder = LineDecoder::new();
        assert_eq!(decoder.decode_owned(b"STOP\n"), [message("STOP", "")]);
        assert!(!decoder.has_partial());
    }

    #[test]
    fn overlong_line_is_dropped_and_reported_and_the_next_line_survives() {
        let long = [b'x'; 40];
        let items = decode_all(&[b"A|1\n", &long[..10], &long[10..], b"\nB|2\n"]);
        assert_eq!(items.len(), 3);
        assert_eq!(items[0], message("A", "1"));
        match &items[1] {
            Err(DecodeError::LineTooLong {
                length,
                limit,
                start,
            }) => {
                assert_eq!((*length, *limit), (40, 16));
                assert_eq!(start.len(), 40);
            }
            other => panic!("expected LineTooLong, got {other:?}"),
        }
        assert_eq!(items[2], message("B", "2"));
        let in_one_piece = decode_all(&[b"0123456789abcdefg\nC\n"]);
        assert!(matches!(
            in_one_piece[0],
            Err(DecodeError::LineTooLong { length: 17, .. })
        ));
        assert_eq!(in_one_piece[1], message("C", ""));
    }

    #[test]
    fn line_at_the_limit_passes() {
        assert_eq!(
            decode_all(&[b"0123456789abcdef\n"]),
            [message("0123456789abcdef", "")]
        );
    }

    #[test]
    fn memory_stays_bounded_by_the_limit_whatever_arrives() {
        let mut decoder = LineDecoder::with_max_line_length(100);
        let flood = vec![b'y'; 1 << 20];
        for _ in 0..8 {
            decoder.decode(&flood, |_| {});
            assert!(
                decoder.pending.capacity() <= 9999,
                "pending grew to {}",
                decoder.pending.capacity()
            );
        }
        let mut items = Vec::new();
        decoder.decode(b"\nok\n", |item| items.push(item.map(Item::into_owned)));
        assert!(
            matches!(items[0], Err(DecodeError::LineTooLong { length, .. }) if length == 8 << 20)
        );
        assert_eq!(items[1], message("ok", ""));
    }

    #[test]
    fn invalid_utf8_is_reported_then_delivered_with_replacements() {
        assert_eq!(
            decode_all(&[b"A|\xff\xfeb\n"]),
            [
                Err(DecodeError::InvalidUtf8 {
                    length: 5,
                    valid_up_to: 2
                }),
                message("A", "\u{fffd}\u{fffd}b"),
            ]
        );
    }

    #[test]
    fn lines_that_say_nothing_are_no_message() {
        assert_eq!(
            decode_all(&[b"|\n__AV_MESSAGE,\n__AV_MESSAGE,|\nA|\n"]),
            [message("A", "")]
        );
    }

    #[test]
    fn a_dropped_line_is_quoted_alike_however_it_arrives() {
        let line = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ\n";
        let whole = decode_all(&[line]);
        let pieces: Vec<&[u8]> = line.chunks(1).collect();
        assert_eq!(decode_all(&pieces), whole);
        assert!(
            matches!(&whole[0], Err(DecodeError::LineTooLong { start, .. }) if start.len() == 40)
        );
    }

    #[test]
    fn nul_bytes_are_ordinary_text() {
        assert_eq!(
            decode_all(&[b"A|\0b\n\0\n"]),
            [message("A", "\0b"), message("\0", "")]
        );
    }

    #[test]
    fn malformed_avatar_is_reported_then_passed_on_raw() {
        assert_eq!(
            decode_all(&[b"__AV_ACTION,x\n"]),
            [
                Err(DecodeError::MalformedAvatar {
                    line: "__AV_ACTION,x".to_owned(),
                    reason: "__AV_ACTION takes exactly one action number",
                }),
                Ok(Item::avatar(AvatarCommand::Other("__AV_ACTION,x".into()))),
            ]
        );
    }

    #[test]
    fn finish_delivers_a_last_unterminated_line_and_reports_a_cut_chunk() {
        assert_eq!(
            decode_all(&[b"A|1\nB|2"]),
            [message("A", "1"), message("B", "2")]
        );
        assert_eq!(
            decode_all(&[b"SND0010abc"]),
            [Err(DecodeError::IncompleteAudioChunk {
                expected: 10,
                received: 3
            })]
        );
    }
}
