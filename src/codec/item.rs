//! The items a Plugin_Remote stream carries, and how one text line becomes one item.
//!
//! Items borrow from the bytes they were decoded from when they can (`Item<'a>`), so decoding a
//! stream allocates nothing per message; [`Item::into_owned`] gives an `Item<'static>` to keep or
//! send to another thread. This module owns the meaning of a line; splitting a stream into lines and
//! audio chunks is [`super::decoder`]'s job.

use std::borrow::Cow;
use std::fmt;

use crate::codec::byte_search::find_bar;

/// The line that unwraps into an ordinary message: `__AV_MESSAGE,TYPE|ARGS`.
pub(crate) const AV_MESSAGE_PREFIX: &str = "__AV_MESSAGE,";
/// Every avatar-control line starts with this.
pub(crate) const AVATAR_PREFIX: &str = "__AV";
/// What a WebSocket relay sends when the peer on its far side leaves.
pub(crate) const PEER_DISCONNECTED_LINE: &str = "__peer_disconnected__";

/// One thing decoded from (or to be encoded onto) a Plugin_Remote stream.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Item<'a> {
    /// An ordinary message, `TYPE|ARGS`; `__AV_MESSAGE,TYPE|ARGS` arrives unwrapped as this.
    Message(Message<'a>),
    /// An avatar-control line (`__AV...`): the line as it arrived, and what it says.
    Avatar {
        /// The line without its line end, exactly as it arrived (so `0.50` stays `0.50`).
        line: Cow<'a, str>,
        /// The command it holds, typed where its form is known.
        command: AvatarCommand<'a>,
    },
    /// Raw audio: 16 kHz, 16-bit signed little-endian, mono (at most 9999 bytes).
    AudioChunk(Cow<'a, [u8]>),
    /// `SNDSTRM`, `SNDFILE` or `SNDBRKS`.
    AudioControl(AudioControl),
    /// `__peer_disconnected__`: a WebSocket relay says the peer beyond it has left.
    RelayPeerDisconnected,
}

impl<'a> Item<'a> {
    /// The item one complete text line (without its line end) stands for.
    ///
    /// This does not recognise audio headers (`SND...`): those are framing, not lines, and only the
    /// [`LineDecoder`](crate::LineDecoder) sees them.
    pub fn from_line(line: impl Into<Cow<'a, str>>) -> Result<Item<'a>, DecodeError> {
        let line = line.into();
        // Every special line starts with `_`; ordinary messages skip the comparisons.
        if line.starts_with('_') {
            if let Some(wrapped) = strip_prefix_cow(&line, AV_MESSAGE_PREFIX) {
                return Ok(Item::Message(Message::parse(wrapped)));
            }
            if line.starts_with(AVATAR_PREFIX) {
                let command = AvatarCommand::parse(line.clone())?;
                return Ok(Item::Avatar { line, command });
            }
            if line == PEER_DISCONNECTED_LINE {
                return Ok(Item::RelayPeerDisconnected);
            }
        }
        Ok(Item::Message(Message::parse(line)))
    }

    /// An avatar item for `command`, written in its canonical form (`__AV_ACTION,3`).
    pub fn avatar(command: AvatarCommand<'a>) -> Item<'a> {
        Item::Avatar {
            line: Cow::Owned(command.to_string()),
            command,
        }
    }

    /// The same item, owning its data, free of the buffer it was decoded from.
    pub fn into_owned(self) -> Item<'static> {
        match self {
            Item::Message(message) => Item::Message(message.into_owned()),
            Item::Avatar { line, command } => Item::Avatar {
                line: Cow::Owned(line.into_owned()),
                command: command.into_owned(),
            },
            Item::AudioChunk(bytes) => Item::AudioChunk(Cow::Owned(bytes.into_owned())),
            Item::AudioControl(control) => Item::AudioControl(control),
            Item::RelayPeerDisconnected => Item::RelayPeerDisconnected,
        }
    }
}

/// The item as its line on the wire, without line end; an audio chunk shows as its header alone
/// (`SND1280`), not its bytes.
impl fmt::Display for Item<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Message(message) => message.fmt(f),
            Item::Avatar { line, .. } => f.write_str(line),
            Item::AudioChunk(bytes) => write!(f, "SND{:04}", bytes.len()),
            Item::AudioControl(control) => f.write_str(control.name()),
            Item::RelayPeerDisconnected => f.write_str(PEER_DISCONNECTED_LINE),
        }
    }
}

/// Splits off `prefix` without copying a borrowed line; an owned line (rare: only after invalid
/// UTF-8 was replaced) is copied.
fn strip_prefix_cow<'a>(line: &Cow<'a, str>, prefix: &str) -> Option<Cow<'a, str>> {
    match line {
        Cow::Borrowed(text) => text.strip_prefix(prefix).map(Cow::Borrowed),
        Cow::Owned(text) => text
            .strip_prefix(prefix)
            .map(|rest| Cow::Owned(rest.to_owned())),
    }
}

/// An ordinary message: a type and its arguments. A parsed line is split at its first `|`; a
/// message made with [`Message::new`] keeps the type it was given (which the encoder refuses if it
/// holds a `|`).
///
/// A line without `|` is a type without arguments; `T|` and `T` mean the same (empty arguments),
/// as in the agent, which writes both back as `T`.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    /// The line as it arrived (`TYPE|ARGS`), so an owned message is one allocation.
    line: Cow<'a, str>,
    /// The type's length: where the `|` between type and arguments is, or the whole line.
    name_length: usize,
    /// The type holds a `|` (made by [`Message::new`] from such a type), which the encoder
    /// refuses. Known here, where it costs nothing, so that sending need not look for it.
    type_holds_bar: bool,
}

impl<'a> Message<'a> {
    /// A message of type `name` with arguments `args` (`""` for none).
    ///
    /// Any text is accepted here; [`encode`](crate::encode) refuses what cannot be sent intact (a line
    /// end inside, or a `|` in the type).
    pub fn new(name: impl Into<Cow<'a, str>>, args: impl AsRef<str>) -> Self {
        let (name, args) = (name.into(), args.as_ref());
        let type_holds_bar = name.contains('|');
        if args.is_empty() {
            return Message {
                name_length: name.len(),
                line: name,
                type_holds_bar,
            };
        }
        let mut line = String::with_capacity(name.len() + 1 + args.len());
        line.push_str(&name);
        line.push('|');
        line.push_str(args);
        Message {
            name_length: name.len(),
            line: Cow::Owned(line),
            type_holds_bar,
        }
    }

    /// Splits a line at its first `|` into type and arguments.
    #[inline]
    pub fn parse(line: impl Into<Cow<'a, str>>) -> Self {
        let line = line.into();
        Message {
            name_length: find_bar(line.as_bytes()).unwrap_or(line.len()),
            line,
            type_holds_bar: false,
        }
    }

    /// The message type: the part of a parsed line before its first `|`, or the type given to
    /// [`Message::new`].
    #[inline]
    pub fn name(&self) -> &str {
        &self.line[..self.name_length]
    }

    /// The arguments, everything after the type and its `|`; empty when there are none.
    #[inline]
    pub fn args(&self) -> &str {
        self.line.get(self.name_length + 1..).unwrap_or("")
    }

    /// The message as one line, `TYPE|ARGS`, the type's length, and whether the type holds a
    /// `|`, for the encoder to copy the line whole.
    #[inline(always)]
    pub(crate) fn line(&self) -> (&str, usize, bool) {
        (&self.line, self.name_length, self.type_holds_bar)
    }

    /// The same message owning its text.
    pub fn into_owned(self) -> Message<'static> {
        Message {
            line: Cow::Owned(self.line.into_owned()),
            name_length: self.name_length,
            type_holds_bar: self.type_holds_bar,
        }
    }
}

/// Messages are equal when their types and arguments are: `T|` equals `T`.
impl PartialEq for Message<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name() && self.args() == other.args()
    }
}

impl Eq for Message<'_> {}

impl std::hash::Hash for Message<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.name(), self.args()).hash(state);
    }
}

/// The message as its line, `TYPE|ARGS`, or `TYPE` when the arguments are empty; no line end.
impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.args().is_empty() {
            f.write_str(self.name())
        } else {
            write!(f, "{}|{}", self.name(), self.args())
        }
    }
}

/// An avatar-control line, parsed where its form is known.
///
/// Fields are separated by commas and empty fields are skipped, as the agent does.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AvatarCommand<'a> {
    /// `__AV_START`: external avatar control begins. Fields after it are ignored, as by the agent.
    Start,
    /// `__AV_END`: external avatar control ends. Fields after it are ignored, as by the agent.
    End,
    /// `__AV_SETMODEL,alias`: control the model with this alias.
    SetModel(Cow<'a, str>),
    /// `__AV_EXMORPH,name=rate,...`: set external morphs. Rates are meant to lie in 0..=1 and are
    /// passed on as given.
    ExternalMorphs(Vec<(Cow<'a, str>, f32)>),
    /// `__AV_ACTION,n`: play action motion number `n`.
    Action(u32),
    /// `__AVCONF_DISABLEAUTOLIP,mode`: when to turn automatic lip sync off.
    DisableAutoLip(AutoLipMode),
    /// Any other `__AV` line, kept whole (without its line end). [`AvatarCommand::fields`] splits it.
    Other(Cow<'a, str>),
}

impl<'a> AvatarCommand<'a> {
    fn parse(line: Cow<'a, str>) -> Result<Self, DecodeError> {
        let parsed = match &line {
            Cow::Borrowed(text) => Self::parse_known(text),
            Cow::Owned(text) => {
                AvatarCommand::parse_known(text).map(|known| known.map(AvatarCommand::into_owned))
            }
        };
        match parsed {
            Ok(Some(command)) => Ok(command),
            Ok(None) => Ok(AvatarCommand::Other(line)),
            Err(reason) => Err(DecodeError::MalformedAvatar {
                line: line.into_owned(),
                reason,
            }),
        }
    }

    /// The typed form of a known command, `None` for an unknown one, or why a known one is malformed.
    fn parse_known(line: &'a str) -> Result<Option<Self>, &'static str> {
        let mut fields = line.split(',').filter(|field| !field.is_empty());
        let name = fields.next().unwrap_or_default();
        let command = match name {
            "__AV_START" => AvatarCommand::Start,
            "__AV_END" => AvatarCommand::End,
            "__AV_SETMODEL" => match (fields.next(), fields.next()) {
                (Some(alias), None) => AvatarCommand::SetModel(Cow::Borrowed(alias)),
                _ => return Err("__AV_SETMODEL takes exactly one model alias"),
            },
            "__AV_EXMORPH" => AvatarCommand::ExternalMorphs(
                fields
                    .map(|pair| {
                        let (morph, rate) = pair
                            .split_once('=')
                            .ok_or("__AV_EXMORPH fields are name=rate")?;
                        let rate = rate
                            .parse::<f32>()
                            .map_err(|_| "__AV_EXMORPH rates are numbers")?;
                        Ok((Cow::Borrowed(morph), rate))
                    })
                    .collect::<Result<_, &'static str>>()?,
            ),
            "__AV_ACTION" => match (fields.next().map(str::parse::<u32>), fields.next()) {
                (Some(Ok(number)), None) => AvatarCommand::Action(number),
                _ => return Err("__AV_ACTION takes exactly one action number"),
            },
            "__AVCONF_DISABLEAUTOLIP" => match (
                fields.next().and_then(AutoLipMode::from_name),
                fields.next(),
            ) {
                (Some(mode), None) => AvatarCommand::DisableAutoLip(mode),
                _ => {
                    return Err(
                        "__AVCONF_DISABLEAUTOLIP takes one of NO, ARKIT, AU, ARKIT+AU, ALWAYS",
                    )
                }
            },
            _ => return Ok(None),
        };
        Ok(Some(command))
    }

    /// The comma-separated fields of the line this command is written as, empty fields skipped;
    /// the first is the command's name.
    pub fn fields(&self) -> Vec<String> {
        self.to_string()
            .split(',')
            .filter(|field| !field.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The same command owning its text.
    pub fn into_owned(self) -> AvatarCommand<'static> {
        match self {
            AvatarCommand::Start => AvatarCommand::Start,
            AvatarCommand::End => AvatarCommand::End,
            AvatarCommand::SetModel(alias) => {
                AvatarCommand::SetModel(Cow::Owned(alias.into_owned()))
            }
            AvatarCommand::ExternalMorphs(morphs) => AvatarCommand::ExternalMorphs(
                morphs
                    .into_iter()
                    .map(|(name, rate)| (Cow::Owned(name.into_owned()), rate))
                    .collect(),
            ),
            AvatarCommand::Action(number) => AvatarCommand::Action(number),
            AvatarCommand::DisableAutoLip(mode) => AvatarCommand::DisableAutoLip(mode),
            AvatarCommand::Other(line) => AvatarCommand::Other(Cow::Owned(line.into_owned())),
        }
    }
}

/// The command as its line, without line end.
impl fmt::Display for AvatarCommand<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AvatarCommand::Start => f.write_str("__AV_START"),
            AvatarCommand::End => f.write_str("__AV_END"),
            AvatarCommand::SetModel(alias) => write!(f, "__AV_SETMODEL,{alias}"),
            AvatarCommand::ExternalMorphs(morphs) => {
                f.write_str("__AV_EXMORPH")?;
                morphs
                    .iter()
                    .try_for_each(|(name, rate)| write!(f, ",{name}={rate}"))
            }
            AvatarCommand::Action(number) => write!(f, "__AV_ACTION,{number}"),
            AvatarCommand::DisableAutoLip(mode) => {
                write!(f, "__AVCONF_DISABLEAUTOLIP,{}", mode.name())
            }
            AvatarCommand::Other(line) => f.write_str(line),
        }
    }
}

/// When the agent turns its automatic lip sync off, for `__AVCONF_DISABLEAUTOLIP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AutoLipMode {
    /// `NO`: never.
    Never,
    /// `ARKIT`: while ARKit shapes arrive.
    Arkit,
    /// `AU`: while action units arrive.
    ActionUnits,
    /// `ARKIT+AU` (also written `AU+ARKIT`): while either arrives.
    ArkitOrActionUnits,
    /// `ALWAYS`: always.
    Always,
}

impl AutoLipMode {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "NO" => Some(AutoLipMode::Never),
            "ARKIT" => Some(AutoLipMode::Arkit),
            "AU" => Some(AutoLipMode::ActionUnits),
            "ARKIT+AU" | "AU+ARKIT" => Some(AutoLipMode::ArkitOrActionUnits),
            "ALWAYS" => Some(AutoLipMode::Always),
            _ => None,
        }
    }

    /// The mode as written on the wire.
    pub fn name(self) -> &'static str {
        match self {
            AutoLipMode::Never => "NO",
            AutoLipMode::Arkit => "ARKIT",
            AutoLipMode::ActionUnits => "AU",
            AutoLipMode::ArkitOrActionUnits => "ARKIT+AU",
            AutoLipMode::Always => "ALWAYS",
        }
    }
}

/// An audio control, sent between audio chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioControl {
    /// `SNDSTRM`: stream mode, voice activity detection on (the default).
    Stream,
    /// `SNDFILE`: file mode, no detection; segments end at [`AudioControl::Break`].
    File,
    /// `SNDBRKS`: the current segment ends.
    Break,
}

impl AudioControl {
    /// The control as written on the wire, without line end.
    pub fn name(self) -> &'static str {
        match self {
            AudioControl::Stream => "SNDSTRM",
            AudioControl::File => "SNDFILE",
            AudioControl::Break => "SNDBRKS",
        }
    }

    pub(crate) fn from_suffix(suffix: &[u8]) -> Option<Self> {
        match suffix {
            b"STRM" => Some(AudioControl::Stream),
            b"FILE" => Some(AudioControl::File),
            b"BRKS" => Some(AudioControl::Break),
            _ => None,
        }
    }
}

/// Input that could not be decoded as sent. Each is reported once, in stream order; what could be
/// kept is still delivered (see each variant), and the stream goes on with the next line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// A line longer than the limit was dropped, up to its line end.
    LineTooLong {
        /// The dropped line's length in bytes, line end not counted.
        length: usize,
        /// The limit it broke.
        limit: usize,
        /// Its first bytes (up to 40, invalid UTF-8 replaced), to tell which line it was.
        start: String,
    },
    /// A line was not valid UTF-8; it is delivered next with U+FFFD in place of the bad bytes.
    InvalidUtf8 {
        /// The line's length in bytes.
        length: usize,
        /// Where the first bad byte is.
        valid_up_to: usize,
    },
    /// A known avatar command had the wrong fields; it is delivered next as [`AvatarCommand::Other`].
    MalformedAvatar {
        /// The whole line.
        line: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The stream ended inside an audio chunk; the partial chunk is dropped.
    IncompleteAudioChunk {
        /// The length its header announced.
        expected: usize,
        /// How many bytes of it arrived.
        received: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::LineTooLong { length, limit, start } => write!(
                f,
                "dropped a line of {length} bytes, longer than the limit of {limit} (it began {start:?})"
            ),
            DecodeError::InvalidUtf8 { length, valid_up_to } => write!(
                f,
                "a line of {length} bytes is not valid UTF-8 from byte {valid_up_to}; bad bytes replaced"
            ),
            DecodeError::MalformedAvatar { line, reason } => {
                write!(f, "malformed avatar command {line:?}: {reason}; passed on unparsed")
            }
            DecodeError::IncompleteAudioChunk { expected, received } => write!(
                f,
                "the stream ended {received} bytes into an audio chunk of {expected}; partial chunk dropped"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> Item<'_> {
        Item::from_line(text).unwrap()
    }

    #[test]
    fn message_splits_at_first_bar() {
        assert_eq!(
            line("MESSAGE|aaa|bbb"),
            Item::Message(Message::new("MESSAGE", "aaa|bbb"))
        );
        assert_eq!(line("T"), Item::Message(Message::new("T", "")));
        assert_eq!(line("T|"), Item::Message(Message::new("T", "")));
        assert_eq!(
            line("|onlyargs"),
            Item::Message(Message::new("", "onlyargs"))
        );
    }

    #[test]
    fn av_message_unwraps_into_an_ordinary_message() {
        assert_eq!(
            line("__AV_MESSAGE,MOTION_ADD|mei|a|b.vmd"),
            Item::Message(Message::new("MOTION_ADD", "mei|a|b.vmd"))
        );
        assert_eq!(
            line("__AV_MESSAGE,__AV_START"),
            Item::Message(Message::new("__AV_START", ""))
        );
    }

    fn command(text: &str) -> AvatarCommand<'_> {
        match line(text) {
            Item::Avatar { command, .. } => command,
            other => panic!("{text}: not an avatar line: {other:?}"),
        }
    }

    #[test]
    fn avatar_commands_are_typed() {
        assert_eq!(command("__AV_START"), AvatarCommand::Start);
        assert_eq!(command("__AV_START,ignored"), AvatarCommand::Start);
        assert_eq!(command("__AV_END"), AvatarCommand::End);
        assert_eq!(
            command("__AV_SETMODEL,0"),
            AvatarCommand::SetModel("0".into())
        );
        assert_eq!(
            command("__AV_SETMODEL,,mei,"),
            AvatarCommand::SetModel("mei".into())
        );
        assert_eq!(
            command("__AV_EXMORPH,smile=0.5,blink=1"),
            AvatarCommand::ExternalMorphs(vec![("smile".into(), 0.5), ("blink".into(), 1.0)])
        );
        assert_eq!(
            command("__AV_EXMORPH"),
            AvatarCommand::ExternalMorphs(vec![])
        );
        assert_eq!(command("__AV_ACTION,3"), AvatarCommand::Action(3));
        assert_eq!(
            command("__AVCONF_DISABLEAUTOLIP,ARKIT+AU"),
            AvatarCommand::DisableAutoLip(AutoLipMode::ArkitOrActionUnits)
        );
        assert_eq!(
            command("__AVCONF_DISABLEAUTOLIP,AU+ARKIT"),
            AvatarCommand::DisableAutoLip(AutoLipMode::ArkitOrActionUnits)
        );
        assert_eq!(
            command("__AV_TRACK,1,2,3"),
            AvatarCommand::Other("__AV_TRACK,1,2,3".into())
        );
        assert_eq!(command("__AVX"), AvatarCommand::Other("__AVX".into()));
    }

    #[test]
    fn avatar_lines_keep_the_text_they_arrived_as() {
        for text in [
            "__AV_EXMORPH,mouth_a=0.50,eye_close=1.0",
            "__AV_ACTION,03",
            "__AVCONF_DISABLEAUTOLIP,AU+ARKIT",
        ] {
            assert_eq!(line(text).to_string(), text);
            assert!(matches!(line(text), Item::Avatar { line, .. } if line == text));
        }
        assert_eq!(
            Item::avatar(AvatarCommand::Action(3)).to_string(),
            "__AV_ACTION,3"
        );
    }

    #[test]
    fn malformed_avatar_commands_are_errors_naming_the_line() {
        for bad in [
            "__AV_SETMODEL",
            "__AV_SETMODEL,a,b",
            "__AV_EXMORPH,smile",
            "__AV_EXMORPH,smile=wide",
            "__AV_ACTION,x",
            "__AV_ACTION",
            "__AV_ACTION,-1",
            "__AVCONF_DISABLEAUTOLIP,SOMETIMES",
            "__AVCONF_DISABLEAUTOLIP,no",
        ] {
            match Item::from_line(bad) {
                Err(DecodeError::MalformedAvatar { line, .. }) => assert_eq!(line, bad),
                other => panic!("{bad}: expected a malformed-avatar error, got {other:?}"),
            }
        }
    }

    #[test]
    fn relay_notice_is_recognised_only_as_a_whole_line() {
        assert_eq!(line("__peer_disconnected__"), Item::RelayPeerDisconnected);
        assert_eq!(
            line("__peer_disconnected__x"),
            Item::Message(Message::new("__peer_disconnected__x", ""))
        );
    }

    #[test]
    fn items_display_as_their_wire_lines() {
        assert_eq!(line("A|b").to_string(), "A|b");
        assert_eq!(line("__AV_ACTION,3").to_string(), "__AV_ACTION,3");
        assert_eq!(
            Item::AudioControl(AudioControl::Break).to_string(),
            "SNDBRKS"
        );
        assert_eq!(
            Item::AudioChunk(vec![0; 1280].into()).to_string(),
            "SND1280"
        );
        assert_eq!(
            Item::RelayPeerDisconnected.to_string(),
            "__peer_disconnected__"
        );
    }

    #[test]
    fn display_writes_the_wire_line() {
        assert_eq!(Message::new("T", "").to_string(), "T");
        assert_eq!(Message::new("T", "a|b").to_string(), "T|a|b");
        let morphs = AvatarCommand::ExternalMorphs(vec![("a".into(), 0.25)]);
        assert_eq!(morphs.to_string(), "__AV_EXMORPH,a=0.25");
        assert_eq!(morphs.fields(), ["__AV_EXMORPH", "a=0.25"]);
    }

    #[test]
    fn owned_lines_parse_like_borrowed_ones() {
        let owned = Item::from_line(String::from("__AV_MESSAGE,A|b")).unwrap();
        assert_eq!(owned, Item::Message(Message::new("A", "b")));
        let owned = Item::from_line(String::from("__AV_SETMODEL,x")).unwrap();
        assert_eq!(owned, Item::avatar(AvatarCommand::SetModel("x".into())));
    }
}
