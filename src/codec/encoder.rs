//! Writing items in the wire format, refusing what would not arrive as sent.
//!
//! The rule this module keeps: whatever [`encode`] accepts, a [`LineDecoder`](crate::LineDecoder)
//! on the other end decodes back into the same item, provided its line fits that decoder's line
//! limit. A message whose line would be misread (one that starts like an avatar command or an audio
//! header) is sent wrapped as `__AV_MESSAGE,...`, which the agent and this crate both unwrap.

use crate::codec::decoder::{find_byte, find_line_end, reads_as_audio, starts_audio_chunk};
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
pub fn encode(item: &Item<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    match item {
        Item::Message(message) => encode_message(message, out),
        Item::Avatar { line, command } => encode_avatar(line, command, out),
        Item::AudioChunk(bytes) => {
            if bytes.len() > MAX_AUDIO_CHUNK_LENGTH {
                return Err(EncodeError(format!(
                    "an audio chunk of {} bytes is longer than the {MAX_AUDIO_CHUNK_LENGTH} a header can announce",
                    bytes.len()
                )));
            }
            let length = bytes.len();
            out.extend_from_slice(b"SND");
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
    if line.is_empty() || has_line_end(line) {
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

fn encode_message(message: &Message<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let (line, _) = message.line();
    write_message(message.name(), message.args(), Some(line), out)
}

/// [`encode`] for a message given as its type and arguments, with no [`Message`] made.
pub(crate) fn encode_message_parts(
    name: &str,
    args: &str,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    write_message(name, args, None, out)
}

/// Checks a message and appends its line. `line`, when at hand, is the message in one piece
/// (`TYPE|ARGS`, or `TYPE`), copied whole. Each byte is looked at once, eight at a time: this runs
/// for every message the host sends.
fn write_message(
    name: &str,
    args: &str,
    line: Option<&str>,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if name.is_empty() && args.is_empty() {
        return Err(EncodeError(
            "an empty message would arrive as nothing".to_owned(),
        ));
    }
    let has_line_end = |text: &str| find_line_end(text.as_bytes()).is_some();
    let line_end = match line {
        Some(line) => has_line_end(line),
        None => has_line_end(name) || has_line_end(args),
    };
    if line_end {
        return Err(EncodeError(format!(
            "{:?} contains a line end",
            Message::new(name, args)
        )));
    }
    if find_byte(name.as_bytes(), b'|').is_some() {
        return Err(EncodeError(format!(
            "{:?}: a message type cannot contain `|`, which separates it from the arguments",
            Message::new(name, args)
        )));
    }
    out.reserve(AV_MESSAGE_PREFIX.len() + name.len() + args.len() + 2);
    if misread(name, args.is_empty()) {
        out.extend_from_slice(AV_MESSAGE_PREFIX.as_bytes());
    }
    match line {
        // `T|` with no arguments goes as `T`, as the agent writes it back.
        _ if args.is_empty() => push_line(name, out),
        Some(line) => push_line(line, out),
        None => {
            out.extend_from_slice(name.as_bytes());
            out.push(b'|');
            push_line(args, out);
        }
    }
    Ok(())
}

/// Whether a message of type `name` would be read as something else on arrival (an avatar command,
/// audio, the relay's notice) and so goes wrapped as `__AV_MESSAGE,...`.
fn misread(name: &str, no_args: bool) -> bool {
    match name.as_bytes().first() {
        Some(b'_') => {
            name.starts_with(AVATAR_PREFIX) || (no_args && name == PEER_DISCONNECTED_LINE)
        }
        Some(b'S') => reads_as_audio(name.as_bytes()),
        _ => false,
    }
}

fn encode_avatar(
    line: &str,
    command: &AvatarCommand<'_>,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let reads_back = !has_line_end(line)
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

fn push_line(line: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');
}

fn has_line_end(text: &str) -> bool {
    find_line_end(text.as_bytes()).is_some()
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
