//! Writing items in the wire format, refusing what would not arrive as sent.
//!
//! The rule this module keeps: whatever [`encode`] accepts, a [`LineDecoder`](crate::LineDecoder)
//! on the other end decodes back into the same item, provided its line fits that decoder's line
//! limit. A message whose line would be misread (one that starts like an avatar command or an audio
//! header) is sent wrapped as `__AV_MESSAGE,...`, which the agent and this crate both unwrap.

use crate::codec::byte_search::{find_bar, has_line_end};
use crate::codec::decoder::{reads_as_audio, starts_audio_chunk};
use crate::codec::item::{
    AvatarCommand, Item, Message, AVATAR_PREFIX, AV_MESSAGE_PREFIX, PEER_DISCONNECTED_LINE,
};

/// Why an item cannot be sent: what it holds would not arrive as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError(String);

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EncodeError {}

/// The longest audio chunk a header can announce (four decimal digits).
pub const MAX_AUDIO_CHUNK_LENGTH: usize = 9999;

/// Appends the wire form of `item` to `out`: `TYPE|ARGS\n` or `TYPE\n` for a message, the line
/// and `\n` for an avatar command or audio control, `SND` with four digits and the bytes for audio.
///
/// Fails, leaving `out` as it was, for what cannot be sent intact: a line end inside a message or
/// avatar command, a `|` in a message type, an empty message, an audio chunk over
/// [`MAX_AUDIO_CHUNK_LENGTH`] bytes, or an avatar command whose fields would be read differently.
///
/// ```
/// use mmdagent_remote::{encode, Item, Message};
///
/// let mut wire = Vec::new();
/// encode(&Item::Message(Message::new("MESSAGE", "aaa|bbb")), &mut wire).unwrap();
/// encode(&Item::Message(Message::new("TIMER_EVENT", "")), &mut wire).unwrap();
/// assert_eq!(wire, b"MESSAGE|aaa|bbb\nTIMER_EVENT\n");
/// assert!(encode(&Item::Message(Message::new("A", "two\nlines")), &mut wire).is_err());
/// ```
// Small (the rest is out of line), and on every send: a call here costs a tenth of a send.
#[inline(always)]
pub fn encode(item: &Item<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    match item {
        Item::Message(message) => encode_message(message, out),
        // Kept out of line: messages are what a host sends most, and this path stays short.
        other => encode_not_message(other, out),
    }
}

#[inline(never)]
fn encode_not_message(item: &Item<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    match item {
        Item::Message(message) => encode_message(message, out),
        Item::Avatar { line, command } => encode_avatar(line, command, out),
        Item::AudioChunk(bytes) => encode_audio_chunk(bytes, out),
        Item::AudioControl(control) => {
            push_line(control.name(), out);
            Ok(())
        }
        Item::RelayPeerDisconnected => {
            push_line(PEER_DISCONNECTED_LINE, out);
            Ok(())
        }
    }
}

fn encode_audio_chunk(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if bytes.len() > MAX_AUDIO_CHUNK_LENGTH {
        return Err(EncodeError(format!(
            "an audio chunk of {} bytes is longer than the {MAX_AUDIO_CHUNK_LENGTH} a header can announce",
            bytes.len()
        )));
    }
    let length = bytes.len();
    out.reserve(SND_HEADER.len() + 4 + length);
    out.extend_from_slice(SND_HEADER);
    out.extend(
        [
            length / 1000,
            length / 100 % 10,
            length / 10 % 10,
            length % 10,
        ]
        .map(|digit| b'0' + digit as u8),
    );
    out.extend_from_slice(bytes);
    Ok(())
}

const SND_HEADER: &[u8] = b"SND";

/// Appends one line as it is, and a line end: for relaying what a person typed, which the receiver
/// then decodes (so `__AV_START` arrives as an avatar command and `SNDBRKS` as an audio control).
///
/// Fails, leaving `out` as it was, for an empty line, a line end inside, or a line starting with an
/// audio chunk header (`SND` and four digits), which would make the receiver take what follows as
/// audio and lose the stream's framing.
///
/// ```
/// let mut wire = Vec::new();
/// mmdagent_remote::encode_line("__AV_SETMODEL,0", &mut wire).unwrap();
/// assert_eq!(wire, b"__AV_SETMODEL,0\n");
/// assert!(mmdagent_remote::encode_line("SND0004abcd", &mut wire).is_err());
/// ```
pub fn encode_line(line: &str, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if line.is_empty() || has_line_end(line.as_bytes()) {
        return Err(EncodeError(format!(
            "{line:?}: a line must be non-empty and hold no line end"
        )));
    }
    if starts_audio_chunk(line.as_bytes()) {
        return Err(EncodeError(format!(
            "{line:?} starts with an audio chunk header; send audio as an Item::AudioChunk"
        )));
    }
    push_line(line, out);
    Ok(())
}

#[inline(always)]
fn encode_message(message: &Message<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let (line, name_length, type_holds_bar) = message.line();
    let line = line.as_bytes();
    if type_holds_bar {
        return Err(refused_message(line, name_length));
    }
    // `T|` with no arguments goes as `T`, as the agent writes it back.
    let no_args = line.len() <= name_length + 1;
    let wire = if no_args { &line[..name_length] } else { line };
    write_message(wire, name_length, no_args, out)
}

/// [`encode`] for a message given as its type and arguments, with no [`Message`] made.
pub(crate) fn encode_message_parts(
    name: &str,
    args: &str,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let (name, args) = (name.as_bytes(), args.as_bytes());
    if find_bar(name).is_some() || has_line_end(name) || has_line_end(args) {
        let line = [name, args].join(&b'|');
        return Err(refused_message(&line, name.len()));
    }
    if args.is_empty() {
        return write_message(name, name.len(), true, out);
    }
    out.reserve(name.len() + args.len() + 2);
    if misread(name, false) {
        out.extend_from_slice(AV_MESSAGE_PREFIX.as_bytes());
    }
    out.extend_from_slice(name);
    out.push(b'|');
    push_line(args, out);
    Ok(())
}

/// Appends a message's line: `TYPE|ARGS`, or `TYPE` when there are no arguments, wrapped if it
/// would be misread on arrival; refused if it is empty or holds a line end.
#[inline(always)]
fn write_message(
    wire: &[u8],
    name_length: usize,
    no_args: bool,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if name_length == 0 && no_args {
        return Err(refused_message(wire, name_length));
    }
    if has_line_end(wire) {
        return Err(refused_message(wire, name_length));
    }
    if misread(&wire[..name_length], no_args) {
        out.extend_from_slice(AV_MESSAGE_PREFIX.as_bytes());
    }
    push_line(wire, out);
    Ok(())
}

/// Why a message cannot be sent: its line (`TYPE|ARGS`, the type `name_length` bytes long) holds
/// a line end, its type a `|`, or it is empty. Built out of line: the checks run for every
/// message, this rarely.
#[cold]
#[inline(never)]
fn refused_message(line: &[u8], name_length: usize) -> EncodeError {
    let line = String::from_utf8_lossy(line);
    let (name, args) = match line.get(name_length + 1..) {
        Some(args) => (&line[..name_length], args),
        None => (&line[..], ""),
    };
    let message = format!("the message of type {name:?} and arguments {args:?}");
    EncodeError(if name.is_empty() && args.is_empty() {
        "an empty message would arrive as nothing".to_owned()
    } else if line.contains(['\r', '\n']) {
        format!("{message} contains a line end")
    } else {
        format!(
            "{message}: a message type cannot contain `|`, which separates it from the arguments"
        )
    })
}

/// Whether a message of type `name` would be read as something else on arrival (an avatar command,
/// audio, the relay's notice) and so goes wrapped as `__AV_MESSAGE,...`.
#[inline(always)]
fn misread(name: &[u8], no_args: bool) -> bool {
    match name.first() {
        Some(b'_') => misread_underscore(name, no_args),
        Some(b'S') => reads_as_audio(name),
        _ => false,
    }
}

fn misread_underscore(name: &[u8], no_args: bool) -> bool {
    name.starts_with(AVATAR_PREFIX.as_bytes())
        || (no_args && name == PEER_DISCONNECTED_LINE.as_bytes())
}

fn encode_avatar(
    line: &str,
    command: &AvatarCommand<'_>,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let reads_back = !has_line_end(line.as_bytes())
        && Item::from_line(line).is_ok_and(
            |item| matches!(item, Item::Avatar { command: read, .. } if read == *command),
        );
    if !reads_back {
        return Err(EncodeError(format!(
            "{command:?} would not arrive as sent: its line {line:?} reads differently"
        )));
    }
    push_line(line, out);
    Ok(())
}

#[inline(always)]
fn push_line(line: impl AsRef<[u8]>, out: &mut Vec<u8>) {
    let line = line.as_ref();
    out.reserve(line.len() + 1);
    out.extend_from_slice(line);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AudioControl, LineDecoder};
    use std::borrow::Cow;

    fn encoded(item: Item<'_>) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        encode(&item, &mut out).map(|()| out)
    }

    #[test]
    fn messages_are_written_as_the_agent_writes_them() {
        assert_eq!(
            encoded(Item::Message(Message::new("MESSAGE", "aaa|bbb"))).unwrap(),
            b"MESSAGE|aaa|bbb\n"
        );
        assert_eq!(
            encoded(Item::Message(Message::new("T", ""))).unwrap(),
            b"T\n"
        );
        assert_eq!(
            encoded(Item::Message(Message::new("", "x"))).unwrap(),
            b"|x\n"
        );
    }

    #[test]
    fn messages_that_would_be_misread_are_wrapped() {
        for name in ["__AV_START", "SND0005", "SNDBRKS", "__peer_disconnected__"] {
            let message = Item::Message(Message::new(name, ""));
            let wire = encoded(message.clone()).unwrap();
            assert!(wire.starts_with(b"__AV_MESSAGE,"), "{name}");
            let decoded = LineDecoder::new().decode_owned(&wire);
            assert_eq!(decoded, [Ok(message.into_owned())]);
        }
    }

    #[test]
    fn what_cannot_be_sent_intact_is_refused_and_nothing_written() {
        let refused = [
            Item::Message(Message::new("A", "b\nc")),
            Item::Message(Message::new("A\r", "")),
            Item::Message(Message::new("A|B", "c")),
            Item::Message(Message::new("A|B", "").into_owned()),
            Item::Message(Message::new("A", "b\r").into_owned()),
            // Wrapped ones, and lines of a word or more, where the check reads whole words.
            Item::Message(Message::new("__AV_X", "a\nb")),
            Item::Message(Message::new("SND0005\r", "")),
            Item::Message(Message::new("LONG_TYPE", "0123456789\n")),
            Item::Message(Message::parse("A|b\nc")),
            Item::Message(Message::parse("A_LONGER_TYPE|with arguments\r and more")),
            Item::Message(Message::new("", "")),
            Item::avatar(AvatarCommand::SetModel("a,b".into())),
            Item::avatar(AvatarCommand::SetModel("".into())),
            Item::avatar(AvatarCommand::ExternalMorphs(vec![("a=b".into(), 1.0)])),
            Item::avatar(AvatarCommand::ExternalMorphs(vec![("a".into(), f32::NAN)])),
            Item::avatar(AvatarCommand::Other("NOT_AV".into())),
            Item::avatar(AvatarCommand::Other("__AV_START".into())),
            Item::AudioChunk(Cow::Owned(vec![0; 10_000])),
        ];
        for item in refused {
            let mut out = b"kept".to_vec();
            assert!(encode(&item, &mut out).is_err(), "{item:?} was accepted");
            assert_eq!(out, b"kept");
        }
    }

    #[test]
    fn a_message_given_as_parts_is_written_or_refused_as_the_same_message() {
        let parts = [
            ("MESSAGE", "aaa|bbb"),
            ("T", ""),
            ("", "x"),
            ("", ""),
            ("A|B", "c"),
            ("A_LONGER|TYPE", ""),
            ("A", "b\nc"),
            ("A\r", ""),
            ("LONG_TYPE", "0123456789\n"),
            ("__AV_START", ""),
            ("SND0005", "x"),
            ("__peer_disconnected__", ""),
        ];
        for (name, args) in parts {
            let mut from_parts = b"kept".to_vec();
            let parts_result = encode_message_parts(name, args, &mut from_parts);
            let mut from_message = b"kept".to_vec();
            let message_result =
                encode(&Item::Message(Message::new(name, args)), &mut from_message);
            assert_eq!(
                parts_result.is_ok(),
                message_result.is_ok(),
                "{name:?} {args:?}"
            );
            assert_eq!(from_parts, from_message, "{name:?} {args:?}");
        }
    }

    #[test]
    fn audio_and_controls() {
        assert_eq!(
            encoded(Item::AudioChunk(Cow::Borrowed(b"ab"))).unwrap(),
            b"SND0002ab"
        );
        assert_eq!(
            encoded(Item::AudioChunk(Cow::Owned(vec![7; 9999])))
                .unwrap()
                .len(),
            7 + 9999
        );
        assert_eq!(
            encoded(Item::AudioControl(AudioControl::File)).unwrap(),
            b"SNDFILE\n"
        );
        assert_eq!(
            encoded(Item::RelayPeerDisconnected).unwrap(),
            b"__peer_disconnected__\n"
        );
    }
}
