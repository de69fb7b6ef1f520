//! The commands a controller sends the agent, typed, and the one way each is written on the wire.
//!
//! A [`Command`] knows its arguments' shapes and order; [`Command::to_message`] writes them, makes
//! free text safe and refuses, naming the argument, what cannot arrive intact. Shapes follow the
//! agent's public message reference as `PROTOCOL.md` records it; where that leaves a detail open,
//! the variant's documentation says what this crate assumes.

use crate::codec::{encode, Item, Message};

use super::text::{
    check_field, check_name, make_text_safe, number, CommandError, MAX_AGENT_LINE_BYTES,
};

/// A command for the agent, with its arguments.
///
/// Optional arguments are positional on the wire: a later one cannot be given without the ones
/// before it, and [`to_message`](Command::to_message) says so naming both. Free text (`text`,
/// `items`) goes through [`make_text_safe`]; every other string names
/// something and is refused if it holds `|`, a line end or NUL (or the list separator `,` where it
/// sits in a comma-separated list). Numbers are written plainly (`0.5`, `-1`); NaN and infinities
/// are refused. Anything this enum does not list goes as [`Command::Other`].
///
/// ```
/// use mmdagent_remote::agent::{Command, MotionRepeat, MotionScope};
///
/// let greet = Command::MotionAdd {
///     model: "mei".into(),
///     motion: "greet".into(),
///     file: "motion/greet.vmd".into(),
///     scope: Some(MotionScope::Part),
///     repeat: Some(MotionRepeat::Once),
///     smooth: None,
///     reposition: None,
///     priority: None,
/// };
/// assert_eq!(greet.to_message()?.to_string(), "MOTION_ADD|mei|greet|motion/greet.vmd|PART|ONCE");
///
/// let say = Command::SynthStart { model: "mei".into(), voice: "mei_voice_normal".into(), text: "A|B\nC".into() };
/// assert_eq!(say.to_message()?.to_string(), "SYNTH_START|mei|mei_voice_normal|A｜B C");
/// # Ok::<(), mmdagent_remote::agent::CommandError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Command {
    /// `MODEL_ADD|alias|file[|x,y,z[|rx,ry,rz[|ON/OFF[|parent[|bone]]]]]`: load a model; the agent
    /// answers `MODEL_EVENT_ADD|alias`.
    ModelAdd {
        /// The new model's alias.
        alias: String,
        /// The model file (`.pmd`/`.pmx`).
        file: String,
        /// Where to place it.
        position: Option<[f64; 3]>,
        /// How to turn it, in degrees.
        rotation: Option<[f64; 3]>,
        /// The `ON`/`OFF` switch. The reference gives only `ON/OFF`; this crate assumes, from
        /// MMDAgent's documentation, that it switches cartoon (toon) rendering.
        cartoon: Option<bool>,
        /// The alias of a model to attach it to.
        parent: Option<String>,
        /// The parent's bone to attach it to.
        parent_bone: Option<String>,
    },
    /// `MODEL_CHANGE|alias|file`: replace a model's file.
    ModelChange {
        /// The model's alias.
        alias: String,
        /// The new model file.
        file: String,
    },
    /// `MODEL_DELETE|alias`.
    ModelDelete {
        /// The model's alias.
        alias: String,
    },
    /// `MOTION_ADD|model|motion|file[|FULL/PART[|ONCE/LOOP[|ON/OFF[|OFF/ON[|priority]]]]]`; the
    /// agent answers `MOTION_EVENT_ADD|model|motion`.
    MotionAdd {
        /// The model's alias.
        model: String,
        /// The motion's alias.
        motion: String,
        /// The motion file (`.vmd`).
        file: String,
        /// Whole body or only the bones the motion moves.
        scope: Option<MotionScope>,
        /// Play once or loop.
        repeat: Option<MotionRepeat>,
        /// The first `ON/OFF`; assumed, from MMDAgent's documentation, to be smooth blending in.
        smooth: Option<bool>,
        /// The second switch (`OFF/ON`, off by default); assumed to be repositioning the model at
        /// the motion's end.
        reposition: Option<bool>,
        /// The motion's priority among the model's motions.
        priority: Option<f64>,
    },
    /// `MOTION_CHANGE|model|motion|file`: swap a playing motion's file.
    MotionChange {
        /// The model's alias.
        model: String,
        /// The motion's alias.
        motion: String,
        /// The new motion file.
        file: String,
    },
    /// `MOTION_DELETE|model|motion`.
    MotionDelete {
        /// The model's alias.
        model: String,
        /// The motion's alias.
        motion: String,
    },
    /// `MOVE_START|model|x,y,z[|GLOBAL/LOCAL[|speed]]`: walk to a position.
    MoveStart(Movement),
    /// `MOVE_STOP|model`.
    MoveStop {
        /// The model's alias.
        model: String,
    },
    /// `TURN_START|model|x,y,z[|GLOBAL/LOCAL[|speed]]`: turn to face a position.
    TurnStart(Movement),
    /// `TURN_STOP|model`.
    TurnStop {
        /// The model's alias.
        model: String,
    },
    /// `ROTATE_START|model|rx,ry,rz[|GLOBAL/LOCAL[|speed]]`: rotate by angles (degrees).
    RotateStart(Movement),
    /// `ROTATE_STOP|model`.
    RotateStop {
        /// The model's alias.
        model: String,
    },
    /// `MODEL_BINDFACE|model|morph|value[|seconds]`: set a face morph (named as in `PROTOCOL.md`;
    /// the agent has no `EXPRESSION_ADD`).
    ModelBindFace {
        /// The model's alias.
        model: String,
        /// The morph's name.
        morph: String,
        /// Its weight; the crate assumes 0 to 1, as morph weights are, and does not check it.
        value: f64,
        /// How long the change takes.
        seconds: Option<f64>,
    },
    /// `SYNTH_START|model|voice|text`: speak; the agent answers `SYNTH_EVENT_START|model` and, when
    /// done, `SYNTH_EVENT_STOP|model`. To speak a long text, see [`Speaker`](super::Speaker).
    SynthStart {
        /// The model's alias.
        model: String,
        /// The voice's name, as the agent's voice settings define it.
        voice: String,
        /// What to say; free text, made safe.
        text: String,
    },
    /// `SYNTH_STOP|model`: stop speaking.
    SynthStop {
        /// The model's alias.
        model: String,
    },
    /// `LIPSYNC_START|model|phoneme,ms,phoneme,ms...`.
    LipsyncStart {
        /// The model's alias.
        model: String,
        /// Phonemes and how long each lasts, in milliseconds. Phoneme names may not hold `,`.
        phonemes: Vec<(String, u32)>,
    },
    /// `LIPSYNC_STOP|model`.
    LipsyncStop {
        /// The model's alias.
        model: String,
    },
    /// `SPEAK_START|model|file`: play a WAV file (up to 60 s) with lip sync.
    SpeakStart {
        /// The model's alias.
        model: String,
        /// The WAV file.
        file: String,
    },
    /// `SPEAK_STOP|model`.
    SpeakStop {
        /// The model's alias.
        model: String,
    },
    /// `SOUND_START|alias|file`: play a sound.
    SoundStart {
        /// The sound's alias.
        alias: String,
        /// The sound file.
        file: String,
    },
    /// `SOUND_STOP|alias`.
    SoundStop {
        /// The sound's alias.
        alias: String,
    },
    /// `CAMERA|x,y,z|rx,ry,rz|distance|fovy[|time[|model[|bone]]]`.
    Camera {
        /// The point looked at.
        position: [f64; 3],
        /// The camera's rotation, in degrees.
        rotation: [f64; 3],
        /// Its distance from the point.
        distance: f64,
        /// Its vertical field of view, in degrees.
        fovy: f64,
        /// How long the move takes, in seconds.
        time: Option<f64>,
        /// A model to follow.
        model: Option<String>,
        /// The followed model's bone.
        bone: Option<String>,
    },
    /// `STAGE|floor,back`: the floor's and the background's image files (which may not hold `,`).
    /// Other forms of `STAGE` go as [`Command::Other`].
    Stage {
        /// The floor's image file.
        floor: String,
        /// The background's image file.
        back: String,
    },
    /// `TEXTAREA_ADD|alias|...`: create a text area. The reference does not give the fields after
    /// the alias, so they are passed as given, each checked for `|`, line ends and NUL (an empty
    /// field is allowed, unlike a name).
    TextAreaAdd {
        /// The text area's alias.
        alias: String,
        /// The remaining fields, in order.
        settings: Vec<String>,
    },
    /// `TEXTAREA_SET|alias|text`: show a caption.
    TextAreaSet {
        /// The text area's alias.
        alias: String,
        /// The caption; free text, made safe.
        text: String,
    },
    /// `TEXTAREA_DELETE|alias`.
    TextAreaDelete {
        /// The text area's alias.
        alias: String,
    },
    /// `PROMPT_SHOW|text|item0|item1...`: ask the user to choose; the agent answers
    /// `PROMPT_EVENT_SELECTED|n`.
    PromptShow {
        /// The question; free text, made safe.
        text: String,
        /// The choices, in order; free text, each made safe.
        items: Vec<String>,
    },
    /// `VALUE_SET|variable|value...`. The reference gives the fields after the variable only as
    /// `value...`, so they are passed as given, each checked like a name but allowed empty.
    ValueSet {
        /// The variable.
        variable: String,
        /// The values, in order.
        values: Vec<String>,
    },
    /// `VALUE_EVAL|variable|...`: the fields after the variable passed as given, as for `ValueSet`.
    ValueEval {
        /// The variable.
        variable: String,
        /// The fields after it, in order.
        values: Vec<String>,
    },
    /// `KEYVALUE_SET|key|value`. The value is checked, not rewritten, since it is stored.
    KeyValueSet {
        /// The key.
        key: String,
        /// Its value (may be empty).
        value: String,
    },
    /// `TIMER_START|alias|seconds`; the agent answers `TIMER_EVENT_START|alias` and, when it runs
    /// out, `TIMER_EVENT_STOP|alias`.
    TimerStart {
        /// The timer's alias.
        alias: String,
        /// How long it runs.
        seconds: f64,
    },
    /// `TIMER_STOP|alias`.
    TimerStop {
        /// The timer's alias.
        alias: String,
    },
    /// `PLUGIN_ENABLE|name`.
    PluginEnable {
        /// The plugin's name (`Remote`).
        name: String,
    },
    /// `PLUGIN_DISABLE|name`.
    PluginDisable {
        /// The plugin's name.
        name: String,
    },
    /// `AVATAR_CONTROL|ENABLE` or `AVATAR_CONTROL|DISABLE`.
    AvatarControl {
        /// Whether external avatar control is to be on.
        enable: bool,
    },
    /// `REMOTEKEY_CHAR|key`: type a character.
    RemoteKeyChar {
        /// The key.
        key: String,
    },
    /// `REMOTEKEY_DOWN|key`.
    RemoteKeyDown {
        /// The key.
        key: String,
    },
    /// `REMOTEKEY_UP|key`.
    RemoteKeyUp {
        /// The key.
        key: String,
    },
    /// Any other message, sent as it is after the same checks as every line: a non-empty type
    /// without `|`, no line end or NUL, and the agent's length limit.
    Other(Message<'static>),
}

/// Where a movement goes, for `MOVE_START`, `TURN_START` and `ROTATE_START`.
#[derive(Debug, Clone, PartialEq)]
pub struct Movement {
    /// The model's alias.
    pub model: String,
    /// The position to go to or face, or the angles to rotate by.
    pub target: [f64; 3],
    /// Whether `target` is in world or in the model's coordinates.
    pub frame: Option<CoordinateFrame>,
    /// How fast; the reference gives no unit.
    pub speed: Option<f64>,
}

/// `FULL` or `PART`, for `MOTION_ADD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MotionScope {
    /// `FULL`: the motion drives the whole body.
    Full,
    /// `PART`: only the bones the motion moves.
    Part,
}

/// `ONCE` or `LOOP`, for `MOTION_ADD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MotionRepeat {
    /// `ONCE`.
    Once,
    /// `LOOP`.
    Loop,
}

/// `GLOBAL` or `LOCAL`, for movements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoordinateFrame {
    /// `GLOBAL`: world coordinates.
    Global,
    /// `LOCAL`: the model's own.
    Local,
}

impl Command {
    /// The command's type on the wire, `MOTION_ADD`.
    pub fn name(&self) -> &str {
        match self {
            Command::ModelAdd { .. } => "MODEL_ADD",
            Command::ModelChange { .. } => "MODEL_CHANGE",
            Command::ModelDelete { .. } => "MODEL_DELETE",
            Command::MotionAdd { .. } => "MOTION_ADD",
            Command::MotionChange { .. } => "MOTION_CHANGE",
            Command::MotionDelete { .. } => "MOTION_DELETE",
            Command::MoveStart(_) => "MOVE_START",
            Command::MoveStop { .. } => "MOVE_STOP",
            Command::TurnStart(_) => "TURN_START",
            Command::TurnStop { .. } => "TURN_STOP",
            Command::RotateStart(_) => "ROTATE_START",
            Command::RotateStop { .. } => "ROTATE_STOP",
            Command::ModelBindFace { .. } => "MODEL_BINDFACE",
            Command::SynthStart { .. } => "SYNTH_START",
            Command::SynthStop { .. } => "SYNTH_STOP",
            Command::LipsyncStart { .. } => "LIPSYNC_START",
            Command::LipsyncStop { .. } => "LIPSYNC_STOP",
            Command::SpeakStart { .. } => "SPEAK_START",
            Command::SpeakStop { .. } => "SPEAK_STOP",
            Command::SoundStart { .. } => "SOUND_START",
            Command::SoundStop { .. } => "SOUND_STOP",
            Command::Camera { .. } => "CAMERA",
            Command::Stage { .. } => "STAGE",
            Command::TextAreaAdd { .. } => "TEXTAREA_ADD",
            Command::TextAreaSet { .. } => "TEXTAREA_SET",
            Command::TextAreaDelete { .. } => "TEXTAREA_DELETE",
            Command::PromptShow { .. } => "PROMPT_SHOW",
            Command::ValueSet { .. } => "VALUE_SET",
            Command::ValueEval { .. } => "VALUE_EVAL",
            Command::KeyValueSet { .. } => "KEYVALUE_SET",
            Command::TimerStart { .. } => "TIMER_START",
            Command::TimerStop { .. } => "TIMER_STOP",
            Command::PluginEnable { .. } => "PLUGIN_ENABLE",
            Command::PluginDisable { .. } => "PLUGIN_DISABLE",
            Command::AvatarControl { .. } => "AVATAR_CONTROL",
            Command::RemoteKeyChar { .. } => "REMOTEKEY_CHAR",
            Command::RemoteKeyDown { .. } => "REMOTEKEY_DOWN",
            Command::RemoteKeyUp { .. } => "REMOTEKEY_UP",
            Command::Other(message) => message.name(),
        }
    }

    /// The message to send, or which argument cannot be sent and why.
    ///
    /// Free text is made safe; a name that holds a separator, a skipped optional argument before a
    /// given one, a number that is not finite, or a line longer than
    /// [`MAX_AGENT_LINE_BYTES`] is an error (counted as the line is sent, with the `__AV_MESSAGE,`
    /// the encoder wraps some types of [`Command::Other`] in). Nothing is ever cut.
    pub fn to_message(&self) -> Result<Message<'static>, CommandError> {
        let mut line = Line::new(self.name());
        match self {
            Command::ModelAdd {
                alias,
                file,
                position,
                rotation,
                cartoon,
                parent,
                parent_bone,
            } => {
                line.name("alias", alias)?;
                line.name("file", file)?;
                line.optional(
                    "position",
                    position.map(|v| vector(self.name(), "position", v)),
                )?;
                line.optional(
                    "rotation",
                    rotation.map(|v| vector(self.name(), "rotation", v)),
                )?;
                line.optional("cartoon", cartoon.map(|on| Ok(on_off(on).to_owned())))?;
                line.optional_name("parent", parent.as_deref())?;
                line.optional_name("parent_bone", parent_bone.as_deref())?;
            }
            Command::ModelChange { alias, file } => {
                line.name("alias", alias)?;
                line.name("file", file)?;
            }
            Command::ModelDelete { alias } => line.name("alias", alias)?,
            Command::MotionAdd {
                model,
                motion,
                file,
                scope,
                repeat,
                smooth,
                reposition,
                priority,
            } => {
                line.name("model", model)?;
                line.name("motion", motion)?;
                line.name("file", file)?;
                let scope = scope.map(|scope| match scope {
                    MotionScope::Full => "FULL",
                    MotionScope::Part => "PART",
                });
                line.optional("scope", scope.map(|word| Ok(word.to_owned())))?;
                let repeat = repeat.map(|repeat| match repeat {
                    MotionRepeat::Once => "ONCE",
                    MotionRepeat::Loop => "LOOP",
                });
                line.optional("repeat", repeat.map(|word| Ok(word.to_owned())))?;
                line.optional("smooth", smooth.map(|on| Ok(on_off(on).to_owned())))?;
                line.optional("reposition", reposition.map(|on| Ok(on_off(on).to_owned())))?;
                line.optional(
                    "priority",
                    priority.map(|p| number(self.name(), "priority", p)),
                )?;
            }
            Command::MotionChange {
                model,
                motion,
                file,
            } => {
                line.name("model", model)?;
                line.name("motion", motion)?;
                line.name("file", file)?;
            }
            Command::MotionDelete { model, motion } => {
                line.name("model", model)?;
                line.name("motion", motion)?;
            }
            Command::MoveStart(movement)
            | Command::TurnStart(movement)
            | Command::RotateStart(movement) => {
                line.name("model", &movement.model)?;
                line.push(vector(self.name(), "target", movement.target)?);
                let frame = movement.frame.map(|frame| match frame {
                    CoordinateFrame::Global => "GLOBAL",
                    CoordinateFrame::Local => "LOCAL",
                });
                line.optional("frame", frame.map(|word| Ok(word.to_owned())))?;
                line.optional(
                    "speed",
                    movement.speed.map(|s| number(self.name(), "speed", s)),
                )?;
            }
            Command::MoveStop { model }
            | Command::TurnStop { model }
            | Command::RotateStop { model }
            | Command::SynthStop { model }
            | Command::LipsyncStop { model }
            | Command::SpeakStop { model } => line.name("model", model)?,
            Command::ModelBindFace {
                model,
                morph,
                value,
                seconds,
            } => {
                line.name("model", model)?;
                line.name("morph", morph)?;
                line.push(number(self.name(), "value", *value)?);
                line.optional(
                    "seconds",
                    seconds.map(|s| number(self.name(), "seconds", s)),
                )?;
            }
            Command::SynthStart { model, voice, text } => {
                line.name("model", model)?;
                line.name("voice", voice)?;
                line.push(make_text_safe(text));
            }
            Command::LipsyncStart { model, phonemes } => {
                line.name("model", model)?;
                if phonemes.is_empty() {
                    return Err(CommandError::argument(self.name(), "phonemes", "is empty"));
                }
                let mut list = Vec::with_capacity(phonemes.len() * 2);
                for (phoneme, milliseconds) in phonemes {
                    check_name(self.name(), "phonemes", phoneme, Some(','))?;
                    list.push(phoneme.clone());
                    list.push(milliseconds.to_string());
                }
                line.push(list.join(","));
            }
            Command::SpeakStart { model, file } => {
                line.name("model", model)?;
                line.name("file", file)?;
            }
            Command::SoundStart { alias, file } => {
                line.name("alias", alias)?;
                line.name("file", file)?;
            }
            Command::SoundStop { alias }
            | Command::TextAreaDelete { alias }
            | Command::TimerStop { alias } => line.name("alias", alias)?,
            Command::Camera {
                position,
                rotation,
                distance,
                fovy,
                time,
                model,
                bone,
            } => {
                line.push(vector(self.name(), "position", *position)?);
                line.push(vector(self.name(), "rotation", *rotation)?);
                line.push(number(self.name(), "distance", *distance)?);
                line.push(number(self.name(), "fovy", *fovy)?);
                line.optional("time", time.map(|t| number(self.name(), "time", t)))?;
                line.optional_name("model", model.as_deref())?;
                line.optional_name("bone", bone.as_deref())?;
            }
            Command::Stage { floor, back } => {
                check_name(self.name(), "floor", floor, Some(','))?;
                check_name(self.name(), "back", back, Some(','))?;
                line.push(format!("{floor},{back}"));
            }
            Command::TextAreaAdd { alias, settings } => {
                line.name("alias", alias)?;
                line.fields("settings", settings)?;
            }
            Command::TextAreaSet { alias, text } => {
                line.name("alias", alias)?;
                line.push(make_text_safe(text));
            }
            Command::PromptShow { text, items } => {
                line.push(make_text_safe(text));
                for item in items {
                    line.push(make_text_safe(item));
                }
            }
            Command::ValueSet { variable, values } | Command::ValueEval { variable, values } => {
                line.name("variable", variable)?;
                line.fields("values", values)?;
            }
            Command::KeyValueSet { key, value } => {
                line.name("key", key)?;
                check_field(self.name(), "value", value, None)?;
                line.push(value.clone());
            }
            Command::TimerStart { alias, seconds } => {
                line.name("alias", alias)?;
                line.push(number(self.name(), "seconds", *seconds)?);
            }
            Command::PluginEnable { name } | Command::PluginDisable { name } => {
                line.name("name", name)?
            }
            Command::AvatarControl { enable } => {
                line.push(if *enable { "ENABLE" } else { "DISABLE" }.to_owned())
            }
            Command::RemoteKeyChar { key }
            | Command::RemoteKeyDown { key }
            | Command::RemoteKeyUp { key } => line.name("key", key)?,
            Command::Other(message) => {
                check_name(message.name(), "type", message.name(), None)?;
                let args = message.args();
                if args.contains(['\r', '\n', '\0']) {
                    return Err(CommandError::argument(
                        message.name(),
                        "args",
                        "holds a line end or NUL, which would end the message early",
                    ));
                }
                line.raw_args = Some(args.to_owned());
            }
        }
        line.finish()
    }
}

/// `ON` or `OFF`.
fn on_off(on: bool) -> &'static str {
    if on {
        "ON"
    } else {
        "OFF"
    }
}

/// `x,y,z`.
fn vector(
    command: &str,
    argument: &'static str,
    [x, y, z]: [f64; 3],
) -> Result<String, CommandError> {
    Ok(format!(
        "{},{},{}",
        number(command, argument, x)?,
        number(command, argument, y)?,
        number(command, argument, z)?
    ))
}

/// A line being written: its type, its checked fields, and the first optional argument left out,
/// so that a later one given is an error rather than a field in the wrong place.
struct Line<'c> {
    command: &'c str,
    fields: Vec<String>,
    left_out: Option<&'static str>,
    /// The arguments of a [`Command::Other`], as they are.
    raw_args: Option<String>,
}

impl<'c> Line<'c> {
    fn new(command: &'c str) -> Self {
        Line {
            command,
            fields: Vec::new(),
            left_out: None,
            raw_args: None,
        }
    }

    fn push(&mut self, field: String) {
        self.fields.push(field);
    }

    fn name(&mut self, argument: &'static str, value: &str) -> Result<(), CommandError> {
        check_name(self.command, argument, value, None)?;
        self.push(value.to_owned());
        Ok(())
    }

    fn fields(&mut self, argument: &'static str, values: &[String]) -> Result<(), CommandError> {
        for value in values {
            check_field(self.command, argument, value, None)?;
            self.push(value.clone());
        }
        Ok(())
    }

    fn optional(
        &mut self,
        argument: &'static str,
        value: Option<Result<String, CommandError>>,
    ) -> Result<(), CommandError> {
        match value {
            None => {
                self.left_out.get_or_insert(argument);
                Ok(())
            }
            Some(value) => {
                if let Some(left_out) = self.left_out {
                    return Err(CommandError::argument(
                        self.command,
                        argument,
                        format!(
                            "is given, but `{left_out}`, which comes before it on the line, is not"
                        ),
                    ));
                }
                self.push(value?);
                Ok(())
            }
        }
    }

    fn optional_name(
        &mut self,
        argument: &'static str,
        value: Option<&str>,
    ) -> Result<(), CommandError> {
        let command = self.command;
        self.optional(
            argument,
            value
                .map(|value| check_name(command, argument, value, None).map(|()| value.to_owned())),
        )
    }

    fn finish(self) -> Result<Message<'static>, CommandError> {
        let args = match self.raw_args {
            Some(args) => args,
            None => self.fields.join("|"),
        };
        let message = Message::new(self.command.to_owned(), args);
        // The line as the encoder writes it, which for a type that would be misread (`SND0005`,
        // `__AV...`, only reachable through `Other`) is wrapped in `__AV_MESSAGE,`.
        let mut wire = Vec::new();
        let length = match encode(&Item::Message(message.clone()), &mut wire) {
            Ok(()) => wire.len() - 1,
            Err(_) => message.to_string().len(),
        };
        if length > MAX_AGENT_LINE_BYTES {
            return Err(CommandError::TooLong {
                command: self.command.to_owned(),
                length,
                limit: MAX_AGENT_LINE_BYTES,
            });
        }
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(command: Command) -> String {
        command
            .to_message()
            .unwrap_or_else(|error| panic!("{error}"))
            .to_string()
    }

    fn error(command: Command) -> String {
        command.to_message().unwrap_err().to_string()
    }

    fn s(text: &str) -> String {
        text.to_owned()
    }

    #[test]
    fn model_commands() {
        let add = |position, rotation, cartoon, parent: Option<&str>, parent_bone: Option<&str>| {
            Command::ModelAdd {
                alias: s("mei"),
                file: s("model/mei/mei.pmd"),
                position,
                rotation,
                cartoon,
                parent: parent.map(s),
                parent_bone: parent_bone.map(s),
            }
        };
        assert_eq!(
            line(add(None, None, None, None, None)),
            "MODEL_ADD|mei|model/mei/mei.pmd"
        );
        let full = add(
            Some([0.0, 1.5, -2.0]),
            Some([0.0, 180.0, 0.0]),
            Some(true),
            Some("stage"),
            Some("センター"),
        );
        assert_eq!(
            line(full),
            "MODEL_ADD|mei|model/mei/mei.pmd|0,1.5,-2|0,180,0|ON|stage|センター"
        );
        assert_eq!(
            line(Command::ModelChange {
                alias: s("mei"),
                file: s("b.pmd")
            }),
            "MODEL_CHANGE|mei|b.pmd"
        );
        assert_eq!(
            line(Command::ModelDelete { alias: s("mei") }),
            "MODEL_DELETE|mei"
        );
        assert_eq!(
            error(add(None, None, Some(false), None, None)),
            "MODEL_ADD: argument `cartoon` is given, but `position`, which comes before it on the line, is not"
        );
        assert!(error(add(Some([0.0; 3]), None, None, Some("a|b"), None))
            .starts_with("MODEL_ADD: argument `parent`"));
    }

    #[test]
    fn motion_commands() {
        let add = |scope, repeat, smooth, reposition, priority| Command::MotionAdd {
            model: s("mei"),
            motion: s("greet"),
            file: s("motion/greet.vmd"),
            scope,
            repeat,
            smooth,
            reposition,
            priority,
        };
        // The issue's example line.
        assert_eq!(
            line(add(
                Some(MotionScope::Part),
                Some(MotionRepeat::Once),
                None,
                None,
                None
            )),
            "MOTION_ADD|mei|greet|motion/greet.vmd|PART|ONCE"
        );
        let full = add(
            Some(MotionScope::Full),
            Some(MotionRepeat::Loop),
            Some(true),
            Some(false),
            Some(2.5),
        );
        assert_eq!(
            line(full),
            "MOTION_ADD|mei|greet|motion/greet.vmd|FULL|LOOP|ON|OFF|2.5"
        );
        assert_eq!(
            error(add(Some(MotionScope::Part), None, None, None, Some(1.0))),
            "MOTION_ADD: argument `priority` is given, but `repeat`, which comes before it on the line, is not"
        );
        let nan = add(
            Some(MotionScope::Part),
            Some(MotionRepeat::Once),
            Some(true),
            Some(true),
            Some(f64::NAN),
        );
        assert_eq!(
            error(nan),
            "MOTION_ADD: argument `priority` is NaN, not a finite number"
        );
        assert_eq!(
            line(Command::MotionChange {
                model: s("mei"),
                motion: s("base"),
                file: s("b.vmd")
            }),
            "MOTION_CHANGE|mei|base|b.vmd"
        );
        assert_eq!(
            line(Command::MotionDelete {
                model: s("mei"),
                motion: s("base")
            }),
            "MOTION_DELETE|mei|base"
        );
    }

    #[test]
    fn movement_commands() {
        let movement = Movement {
            model: s("mei"),
            target: [1.0, 0.0, -3.5],
            frame: None,
            speed: None,
        };
        assert_eq!(
            line(Command::MoveStart(movement.clone())),
            "MOVE_START|mei|1,0,-3.5"
        );
        let local = Movement {
            frame: Some(CoordinateFrame::Local),
            speed: Some(2.0),
            ..movement.clone()
        };
        assert_eq!(
            line(Command::TurnStart(local.clone())),
            "TURN_START|mei|1,0,-3.5|LOCAL|2"
        );
        let global = Movement {
            frame: Some(CoordinateFrame::Global),
            ..movement.clone()
        };
        assert_eq!(
            line(Command::RotateStart(global)),
            "ROTATE_START|mei|1,0,-3.5|GLOBAL"
        );
        let speed_only = Movement {
            speed: Some(1.0),
            ..movement
        };
        assert!(error(Command::MoveStart(speed_only)).contains("`speed` is given, but `frame`"));
        for (command, name) in [
            (Command::MoveStop { model: s("mei") }, "MOVE_STOP"),
            (Command::TurnStop { model: s("mei") }, "TURN_STOP"),
            (Command::RotateStop { model: s("mei") }, "ROTATE_STOP"),
        ] {
            assert_eq!(line(command), format!("{name}|mei"));
        }
        let infinite = Movement {
            model: s("mei"),
            target: [0.0, f64::INFINITY, 0.0],
            frame: None,
            speed: None,
        };
        assert!(error(Command::MoveStart(infinite)).contains("`target` is inf"));
    }

    #[test]
    fn face_and_speech_commands() {
        assert_eq!(
            line(Command::ModelBindFace {
                model: s("mei"),
                morph: s("笑い"),
                value: 0.8,
                seconds: Some(0.5)
            }),
            "MODEL_BINDFACE|mei|笑い|0.8|0.5"
        );
        assert_eq!(
            line(Command::SynthStart {
                model: s("mei"),
                voice: s("mei_voice_normal"),
                text: s("こんにちは")
            }),
            "SYNTH_START|mei|mei_voice_normal|こんにちは"
        );
        assert_eq!(
            line(Command::SynthStop { model: s("mei") }),
            "SYNTH_STOP|mei"
        );
        assert_eq!(
            line(Command::LipsyncStart {
                model: s("mei"),
                phonemes: vec![(s("a"), 100), (s("i"), 150), (s("sil"), 50)]
            }),
            "LIPSYNC_START|mei|a,100,i,150,sil,50"
        );
        assert!(error(Command::LipsyncStart {
            model: s("mei"),
            phonemes: vec![(s("a,i"), 100)]
        })
        .contains("`phonemes` \"a,i\" holds ','"));
        assert_eq!(
            line(Command::LipsyncStop { model: s("mei") }),
            "LIPSYNC_STOP|mei"
        );
        assert_eq!(
            line(Command::SpeakStart {
                model: s("mei"),
                file: s("voice/hello.wav")
            }),
            "SPEAK_START|mei|voice/hello.wav"
        );
        assert_eq!(
            line(Command::SpeakStop { model: s("mei") }),
            "SPEAK_STOP|mei"
        );
        assert_eq!(
            line(Command::SoundStart {
                alias: s("bgm"),
                file: s("sound/bgm.wav")
            }),
            "SOUND_START|bgm|sound/bgm.wav"
        );
        assert_eq!(
            line(Command::SoundStop { alias: s("bgm") }),
            "SOUND_STOP|bgm"
        );
    }

    #[test]
    fn scene_commands() {
        let camera = |time, model: Option<&str>, bone: Option<&str>| Command::Camera {
            position: [0.0, 15.0, 0.0],
            rotation: [0.0, 0.0, 0.0],
            distance: 45.0,
            fovy: 16.0,
            time,
            model: model.map(s),
            bone: bone.map(s),
        };
        assert_eq!(line(camera(None, None, None)), "CAMERA|0,15,0|0,0,0|45|16");
        assert_eq!(
            line(camera(Some(1.5), Some("mei"), Some("頭"))),
            "CAMERA|0,15,0|0,0,0|45|16|1.5|mei|頭"
        );
        assert!(error(camera(None, Some("mei"), None)).contains("`model` is given, but `time`"));
        assert_eq!(
            line(Command::Stage {
                floor: s("images/floor.png"),
                back: s("images/back.png")
            }),
            "STAGE|images/floor.png,images/back.png"
        );
        assert!(error(Command::Stage {
            floor: s("a,b.png"),
            back: s("c.png")
        })
        .starts_with("STAGE: argument `floor`"));
        assert_eq!(
            line(Command::TextAreaAdd {
                alias: s("caption"),
                settings: vec![s("10,2"), s("1.0,1.0"), s("0,0,0,0.5")]
            }),
            "TEXTAREA_ADD|caption|10,2|1.0,1.0|0,0,0,0.5"
        );
        assert_eq!(
            line(Command::TextAreaSet {
                alias: s("caption"),
                text: s("line one\nline|two")
            }),
            "TEXTAREA_SET|caption|line one line｜two"
        );
        assert_eq!(
            line(Command::TextAreaDelete {
                alias: s("caption")
            }),
            "TEXTAREA_DELETE|caption"
        );
        assert_eq!(
            line(Command::PromptShow {
                text: s("Which one?"),
                items: vec![s("yes"), s("no|maybe"), s("")]
            }),
            "PROMPT_SHOW|Which one?|yes|no｜maybe|"
        );
    }

    #[test]
    fn value_timer_plugin_and_key_commands() {
        assert_eq!(
            line(Command::ValueSet {
                variable: s("count"),
                values: vec![s("0")]
            }),
            "VALUE_SET|count|0"
        );
        assert_eq!(
            line(Command::ValueEval {
                variable: s("count"),
                values: vec![s("EQ"), s("3")]
            }),
            "VALUE_EVAL|count|EQ|3"
        );
        assert!(error(Command::ValueSet {
            variable: s("count"),
            values: vec![s("1|2")]
        })
        .starts_with("VALUE_SET: argument `values`"));
        assert_eq!(
            line(Command::KeyValueSet {
                key: s("user"),
                value: s("太郎")
            }),
            "KEYVALUE_SET|user|太郎"
        );
        assert!(error(Command::KeyValueSet {
            key: s("user"),
            value: s("a\nb")
        })
        .starts_with("KEYVALUE_SET: argument `value`"));
        assert_eq!(
            line(Command::TimerStart {
                alias: s("wait"),
                seconds: 3.0
            }),
            "TIMER_START|wait|3"
        );
        assert_eq!(
            line(Command::TimerStop { alias: s("wait") }),
            "TIMER_STOP|wait"
        );
        assert_eq!(
            line(Command::PluginEnable { name: s("Remote") }),
            "PLUGIN_ENABLE|Remote"
        );
        assert_eq!(
            line(Command::PluginDisable { name: s("Remote") }),
            "PLUGIN_DISABLE|Remote"
        );
        assert_eq!(
            line(Command::AvatarControl { enable: true }),
            "AVATAR_CONTROL|ENABLE"
        );
        assert_eq!(
            line(Command::AvatarControl { enable: false }),
            "AVATAR_CONTROL|DISABLE"
        );
        assert_eq!(
            line(Command::RemoteKeyChar { key: s("a") }),
            "REMOTEKEY_CHAR|a"
        );
        assert_eq!(
            line(Command::RemoteKeyDown { key: s("UP") }),
            "REMOTEKEY_DOWN|UP"
        );
        assert_eq!(
            line(Command::RemoteKeyUp { key: s("UP") }),
            "REMOTEKEY_UP|UP"
        );
    }

    #[test]
    fn other_messages_pass_as_they_are_after_the_line_checks() {
        let other = Command::Other(Message::new("MESSAGE", "aaa|bbb"));
        assert_eq!(other.name(), "MESSAGE");
        assert_eq!(line(other), "MESSAGE|aaa|bbb");
        assert_eq!(line(Command::Other(Message::new("NOARGS", ""))), "NOARGS");
        assert!(error(Command::Other(Message::new("A", "x\ny"))).starts_with("A: argument `args`"));
        assert!(error(Command::Other(Message::new("", "x"))).contains("argument `type` is empty"));
        let long = Command::Other(Message::new("A", "x".repeat(MAX_AGENT_LINE_BYTES)));
        assert!(matches!(
            long.to_message(),
            Err(CommandError::TooLong { length, limit: MAX_AGENT_LINE_BYTES, .. })
                if length == MAX_AGENT_LINE_BYTES + 2
        ));
        // A type the encoder wraps in `__AV_MESSAGE,` (13 bytes) counts with its wrapper.
        let fits_bare = "x".repeat(MAX_AGENT_LINE_BYTES - "SND0001|".len());
        assert!(Command::Other(Message::new("MESSAGE", fits_bare.clone()))
            .to_message()
            .is_ok());
        assert!(matches!(
            Command::Other(Message::new("SND0001", fits_bare)).to_message(),
            Err(CommandError::TooLong { length, .. }) if length == MAX_AGENT_LINE_BYTES + 13
        ));
    }

    #[test]
    fn names_are_refused_free_text_is_rewritten() {
        let synth = |model: &str, voice: &str, text: &str| Command::SynthStart {
            model: s(model),
            voice: s(voice),
            text: s(text),
        };
        assert!(error(synth("me|i", "v", "t")).starts_with("SYNTH_START: argument `model`"));
        assert!(error(synth("mei", "v\r", "t")).starts_with("SYNTH_START: argument `voice`"));
        assert!(error(synth("", "v", "t")).contains("`model` is empty"));
        assert_eq!(
            line(synth("mei", "v", "a|b\r\nc\rd\ne\0f")),
            "SYNTH_START|mei|v|a｜b c d e f"
        );
        assert!(error(Command::SpeakStart {
            model: s("mei"),
            file: s("a\nb.wav")
        })
        .starts_with("SPEAK_START: argument `file`"));
    }

    #[test]
    fn a_line_over_the_agents_limit_is_an_error_never_cut() {
        let overhead = "SYNTH_START|m|v|".len();
        let fits = "あ".repeat((MAX_AGENT_LINE_BYTES - overhead) / 3);
        let with_text = |text: &str| Command::SynthStart {
            model: s("m"),
            voice: s("v"),
            text: s(text),
        };
        let message = with_text(&fits).to_message().unwrap();
        assert!(message.to_string().len() <= MAX_AGENT_LINE_BYTES);
        assert_eq!(message.args(), format!("m|v|{fits}"), "whole, not cut");

        let exact = "x".repeat(MAX_AGENT_LINE_BYTES - overhead);
        assert_eq!(
            with_text(&exact).to_message().unwrap().to_string().len(),
            MAX_AGENT_LINE_BYTES
        );
        let over = "x".repeat(MAX_AGENT_LINE_BYTES - overhead + 1);
        assert_eq!(
            error(with_text(&over)),
            "SYNTH_START: the line would be 2048 bytes, longer than the 2047 the agent takes whole"
        );
        // `|` becomes a three-byte character, and the limit counts the line as sent.
        let bars = "|".repeat((MAX_AGENT_LINE_BYTES - overhead) / 3 + 1);
        assert!(matches!(
            with_text(&bars).to_message(),
            Err(CommandError::TooLong { .. })
        ));
    }
}
