//! The events a controller receives from the agent, typed.
//!
//! [`AgentEvent::parse`] reads a [`Message`]; it never fails. A name it does not know, or a known
//! name whose arguments do not have the expected shape, is kept whole as [`AgentEvent::Other`], so
//! nothing the agent says is lost or guessed at.

use crate::codec::{Item, Message};
use crate::hub::Event;

/// An event the agent emits, with its arguments.
///
/// ```
/// use mmdagent_remote::Message;
/// use mmdagent_remote::agent::AgentEvent;
///
/// let stop = AgentEvent::parse(&Message::parse("SYNTH_EVENT_STOP|mei"));
/// assert_eq!(stop, AgentEvent::SynthStopped { model: "mei".into() });
/// let odd = AgentEvent::parse(&Message::parse("CURRENT_TIME|noon"));
/// assert!(matches!(odd, AgentEvent::Other(_)));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AgentEvent {
    /// `SYNTH_EVENT_START|model`: the model began speaking.
    SynthStarted {
        /// The model's alias.
        model: String,
    },
    /// `SYNTH_EVENT_STOP|model`: the model finished (or stopped) speaking.
    SynthStopped {
        /// The model's alias.
        model: String,
    },
    /// `RECOG_EVENT_START`: the recogniser heard speech begin.
    RecogStarted,
    /// `RECOG_EVENT_STOP|text`: what the recogniser heard; everything after the first `|`, kept
    /// whole (it may be empty).
    RecogStopped {
        /// The recognised text.
        text: String,
    },
    /// `LIPSYNC_EVENT_START|model`.
    LipsyncStarted {
        /// The model's alias.
        model: String,
    },
    /// `LIPSYNC_EVENT_STOP|model`.
    LipsyncStopped {
        /// The model's alias.
        model: String,
    },
    /// `SPEAK_EVENT_START|model`: a WAV file began playing.
    SpeakStarted {
        /// The model's alias.
        model: String,
    },
    /// `SPEAK_EVENT_STOP|model`.
    SpeakStopped {
        /// The model's alias.
        model: String,
    },
    /// `MOTION_EVENT_ADD|model|motion`.
    MotionAdded {
        /// The model's alias.
        model: String,
        /// The motion's alias.
        motion: String,
    },
    /// `MOTION_EVENT_CHANGE|model|motion`.
    MotionChanged {
        /// The model's alias.
        model: String,
        /// The motion's alias.
        motion: String,
    },
    /// `MOTION_EVENT_DELETE|model|motion`: the motion ended or was deleted.
    MotionDeleted {
        /// The model's alias.
        model: String,
        /// The motion's alias.
        motion: String,
    },
    /// `MOTION_EVENT_LOOP|model|motion`: a looping motion went round.
    MotionLooped {
        /// The model's alias.
        model: String,
        /// The motion's alias.
        motion: String,
    },
    /// `MODEL_EVENT_ADD|alias`.
    ModelAdded {
        /// The model's alias.
        alias: String,
    },
    /// `MODEL_EVENT_CHANGE|alias`.
    ModelChanged {
        /// The model's alias.
        alias: String,
    },
    /// `MODEL_EVENT_DELETE|alias`.
    ModelDeleted {
        /// The model's alias.
        alias: String,
    },
    /// `TIMER_EVENT_START|alias`.
    TimerStarted {
        /// The timer's alias.
        alias: String,
    },
    /// `TIMER_EVENT_STOP|alias`: the timer ran out.
    TimerStopped {
        /// The timer's alias.
        alias: String,
    },
    /// `TIMER_EVENT_CANCELLED|alias`: the timer was stopped before it ran out.
    TimerCancelled {
        /// The timer's alias.
        alias: String,
    },
    /// `PROMPT_EVENT_SELECTED|n`: the user chose item `n`, as the agent numbers them. This crate
    /// assumes they count from 0, as the items of `PROMPT_SHOW` are listed (`item0`, `item1`...);
    /// the message reference does not say. A non-number is kept as [`AgentEvent::Other`].
    PromptSelected {
        /// The chosen item's number.
        index: usize,
    },
    /// `KEY|name`: a key was pressed in the agent's window.
    Key {
        /// The key's name as the agent writes it.
        name: String,
    },
    /// `TAPPED|x|y`: the screen was tapped. The reference does not say whether coordinates are
    /// whole, so they are read as numbers with a fraction.
    Tapped {
        /// Horizontal position.
        x: f64,
        /// Vertical position.
        y: f64,
    },
    /// `CURRENT_TIME|hh|mm`, sent on connecting and every minute.
    CurrentTime {
        /// 0 to 23.
        hour: u8,
        /// 0 to 59.
        minute: u8,
    },
    /// `PLUGIN_EVENT_ENABLE|name`.
    PluginEnabled {
        /// The plugin's name.
        name: String,
    },
    /// `PLUGIN_EVENT_DISABLE|name`.
    PluginDisabled {
        /// The plugin's name.
        name: String,
    },
    /// `AVATAR_EVENT_IDLE|START` (`idle: true`, after about 15 s without input) or `|STOP`.
    AvatarIdle {
        /// Whether the agent has just become idle.
        idle: bool,
    },
    /// `AVATAR|START`: a peer started external avatar control (`__AV_START`).
    AvatarStarted,
    /// `AVATAR|END`: external avatar control ended.
    AvatarEnded,
    /// `AVATAR_EVENT_CONTROL|ENABLED` or `|DISABLED`.
    AvatarControl {
        /// Whether external avatar control is now on.
        enabled: bool,
    },
    /// `REMOTE_EVENT_CONNECTED|host`: a controller connected to the agent's server.
    RemoteConnected {
        /// The controller's address, as the agent writes it.
        host: String,
    },
    /// `REMOTE_EVENT_DISCONNECTED|host`.
    RemoteDisconnected {
        /// The controller's address.
        host: String,
    },
    /// Any other message, or a known one whose arguments do not fit, kept whole.
    Other(Message<'static>),
}

impl AgentEvent {
    /// The event a message stands for; never fails (see [`AgentEvent::Other`]).
    pub fn parse(message: &Message<'_>) -> AgentEvent {
        parse_known(message.name(), message.args())
            .unwrap_or_else(|| AgentEvent::Other(message.clone().into_owned()))
    }

    /// The agent event inside a host [`Event`], if it is a message.
    pub fn from_event(event: &Event) -> Option<AgentEvent> {
        match event {
            Event::Item {
                item: Item::Message(message),
                ..
            } => Some(AgentEvent::parse(message)),
            _ => None,
        }
    }
}

/// The typed event, or `None` when the name is unknown or the arguments do not fit.
fn parse_known(name: &str, args: &str) -> Option<AgentEvent> {
    let one = || single(args).map(str::to_owned);
    let two = || {
        let (first, second) = args.split_once('|')?;
        let second = single(second)?;
        (!first.is_empty()).then(|| (first.to_owned(), second.to_owned()))
    };
    let motion =
        |make: fn(String, String) -> AgentEvent| two().map(|(model, motion)| make(model, motion));
    Some(match name {
        "SYNTH_EVENT_START" => AgentEvent::SynthStarted { model: one()? },
        "SYNTH_EVENT_STOP" => AgentEvent::SynthStopped { model: one()? },
        "RECOG_EVENT_START" if args.is_empty() => AgentEvent::RecogStarted,
        "RECOG_EVENT_STOP" => AgentEvent::RecogStopped {
            text: args.to_owned(),
        },
        "LIPSYNC_EVENT_START" => AgentEvent::LipsyncStarted { model: one()? },
        "LIPSYNC_EVENT_STOP" => AgentEvent::LipsyncStopped { model: one()? },
        "SPEAK_EVENT_START" => AgentEvent::SpeakStarted { model: one()? },
        "SPEAK_EVENT_STOP" => AgentEvent::SpeakStopped { model: one()? },
        "MOTION_EVENT_ADD" => motion(|model, motion| AgentEvent::MotionAdded { model, motion })?,
        "MOTION_EVENT_CHANGE" => {
            motion(|model, motion| AgentEvent::MotionChanged { model, motion })?
        }
        "MOTION_EVENT_DELETE" => {
            motion(|model, motion| AgentEvent::MotionDeleted { model, motion })?
        }
        "MOTION_EVENT_LOOP" => motion(|model, motion| AgentEvent::MotionLooped { model, motion })?,
        "MODEL_EVENT_ADD" => AgentEvent::ModelAdded { alias: one()? },
        "MODEL_EVENT_CHANGE" => AgentEvent::ModelChanged { alias: one()? },
        "MODEL_EVENT_DELETE" => AgentEvent::ModelDeleted { alias: one()? },
        "TIMER_EVENT_START" => AgentEvent::TimerStarted { alias: one()? },
        "TIMER_EVENT_STOP" => AgentEvent::TimerStopped { alias: one()? },
        "TIMER_EVENT_CANCELLED" => AgentEvent::TimerCancelled { alias: one()? },
        "PROMPT_EVENT_SELECTED" => AgentEvent::PromptSelected {
            index: single(args)?.parse().ok()?,
        },
        "KEY" => AgentEvent::Key { name: one()? },
        "TAPPED" => {
            let (x, y) = two()?;
            let (x, y): (f64, f64) = (x.parse().ok()?, y.parse().ok()?);
            if !(x.is_finite() && y.is_finite()) {
                return None;
            }
            AgentEvent::Tapped { x, y }
        }
        "CURRENT_TIME" => {
            let (hour, minute) = two()?;
            let (hour, minute): (u8, u8) = (hour.parse().ok()?, minute.parse().ok()?);
            if hour > 23 || minute > 59 {
                return None;
            }
            AgentEvent::CurrentTime { hour, minute }
        }
        "PLUGIN_EVENT_ENABLE" => AgentEvent::PluginEnabled { name: one()? },
        "PLUGIN_EVENT_DISABLE" => AgentEvent::PluginDisabled { name: one()? },
        "AVATAR_EVENT_IDLE" => match args {
            "START" => AgentEvent::AvatarIdle { idle: true },
            "STOP" => AgentEvent::AvatarIdle { idle: false },
            _ => return None,
        },
        "AVATAR" => match args {
            "START" => AgentEvent::AvatarStarted,
            "END" => AgentEvent::AvatarEnded,
            _ => return None,
        },
        "AVATAR_EVENT_CONTROL" => match args {
            "ENABLED" => AgentEvent::AvatarControl { enabled: true },
            "DISABLED" => AgentEvent::AvatarControl { enabled: false },
            _ => return None,
        },
        "REMOTE_EVENT_CONNECTED" => AgentEvent::RemoteConnected { host: one()? },
        "REMOTE_EVENT_DISCONNECTED" => AgentEvent::RemoteDisconnected { host: one()? },
        _ => return None,
    })
}

/// `args` when it is one non-empty field (no `|`).
fn single(args: &str) -> Option<&str> {
    (!args.is_empty() && !args.contains('|')).then_some(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> AgentEvent {
        AgentEvent::parse(&Message::parse(line))
    }

    fn s(text: &str) -> String {
        text.to_owned()
    }

    #[test]
    fn every_known_event_is_typed() {
        let cases = [
            (
                "SYNTH_EVENT_START|mei",
                AgentEvent::SynthStarted { model: s("mei") },
            ),
            (
                "SYNTH_EVENT_STOP|0",
                AgentEvent::SynthStopped { model: s("0") },
            ),
            ("RECOG_EVENT_START", AgentEvent::RecogStarted),
            (
                "RECOG_EVENT_STOP|こんにちは",
                AgentEvent::RecogStopped {
                    text: s("こんにちは"),
                },
            ),
            ("RECOG_EVENT_STOP", AgentEvent::RecogStopped { text: s("") }),
            (
                "LIPSYNC_EVENT_START|mei",
                AgentEvent::LipsyncStarted { model: s("mei") },
            ),
            (
                "LIPSYNC_EVENT_STOP|mei",
                AgentEvent::LipsyncStopped { model: s("mei") },
            ),
            (
                "SPEAK_EVENT_START|mei",
                AgentEvent::SpeakStarted { model: s("mei") },
            ),
            (
                "SPEAK_EVENT_STOP|mei",
                AgentEvent::SpeakStopped { model: s("mei") },
            ),
            (
                "MOTION_EVENT_ADD|mei|greet",
                AgentEvent::MotionAdded {
                    model: s("mei"),
                    motion: s("greet"),
                },
            ),
            (
                "MOTION_EVENT_CHANGE|mei|base",
                AgentEvent::MotionChanged {
                    model: s("mei"),
                    motion: s("base"),
                },
            ),
            (
                "MOTION_EVENT_DELETE|mei|greet",
                AgentEvent::MotionDeleted {
                    model: s("mei"),
                    motion: s("greet"),
                },
            ),
            (
                "MOTION_EVENT_LOOP|mei|base",
                AgentEvent::MotionLooped {
                    model: s("mei"),
                    motion: s("base"),
                },
            ),
            (
                "MODEL_EVENT_ADD|mei",
                AgentEvent::ModelAdded { alias: s("mei") },
            ),
            (
                "MODEL_EVENT_CHANGE|mei",
                AgentEvent::ModelChanged { alias: s("mei") },
            ),
            (
                "MODEL_EVENT_DELETE|mei",
                AgentEvent::ModelDeleted { alias: s("mei") },
            ),
            (
                "TIMER_EVENT_START|t",
                AgentEvent::TimerStarted { alias: s("t") },
            ),
            (
                "TIMER_EVENT_STOP|t",
                AgentEvent::TimerStopped { alias: s("t") },
            ),
            (
                "TIMER_EVENT_CANCELLED|t",
                AgentEvent::TimerCancelled { alias: s("t") },
            ),
            (
                "PROMPT_EVENT_SELECTED|2",
                AgentEvent::PromptSelected { index: 2 },
            ),
            ("KEY|a", AgentEvent::Key { name: s("a") }),
            ("TAPPED|120|45.5", AgentEvent::Tapped { x: 120.0, y: 45.5 }),
            (
                "CURRENT_TIME|09|05",
                AgentEvent::CurrentTime { hour: 9, minute: 5 },
            ),
            (
                "PLUGIN_EVENT_ENABLE|Remote",
                AgentEvent::PluginEnabled { name: s("Remote") },
            ),
            (
                "PLUGIN_EVENT_DISABLE|Remote",
                AgentEvent::PluginDisabled { name: s("Remote") },
            ),
            (
                "AVATAR_EVENT_IDLE|START",
                AgentEvent::AvatarIdle { idle: true },
            ),
            (
                "AVATAR_EVENT_IDLE|STOP",
                AgentEvent::AvatarIdle { idle: false },
            ),
            ("AVATAR|START", AgentEvent::AvatarStarted),
            ("AVATAR|END", AgentEvent::AvatarEnded),
            (
                "AVATAR_EVENT_CONTROL|ENABLED",
                AgentEvent::AvatarControl { enabled: true },
            ),
            (
                "AVATAR_EVENT_CONTROL|DISABLED",
                AgentEvent::AvatarControl { enabled: false },
            ),
            (
                "REMOTE_EVENT_CONNECTED|127.0.0.1",
                AgentEvent::RemoteConnected {
                    host: s("127.0.0.1"),
                },
            ),
            (
                "REMOTE_EVENT_DISCONNECTED|127.0.0.1",
                AgentEvent::RemoteDisconnected {
                    host: s("127.0.0.1"),
                },
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(parse(line), expected, "{line}");
        }
    }

    #[test]
    fn recognised_text_is_kept_whole() {
        assert_eq!(
            parse("RECOG_EVENT_STOP|a|b c"),
            AgentEvent::RecogStopped { text: s("a|b c") }
        );
    }

    #[test]
    fn known_names_with_arguments_that_do_not_fit_stay_whole() {
        for line in [
            "SYNTH_EVENT_STOP",
            "SYNTH_EVENT_STOP|mei|extra",
            "RECOG_EVENT_START|x",
            "MOTION_EVENT_ADD|mei",
            "MOTION_EVENT_ADD||greet",
            "MOTION_EVENT_ADD|mei|greet|x",
            "PROMPT_EVENT_SELECTED|-1",
            "PROMPT_EVENT_SELECTED|one",
            "TAPPED|1",
            "TAPPED|x|2",
            "TAPPED|NaN|2",
            "CURRENT_TIME|24|00",
            "CURRENT_TIME|12|60",
            "CURRENT_TIME|12",
            "AVATAR_EVENT_IDLE|start",
            "AVATAR|BEGIN",
            "AVATAR_EVENT_CONTROL|ON",
            "KEY",
            "UNKNOWN_EVENT|a|b",
            "",
        ] {
            let message = Message::parse(line);
            assert_eq!(
                AgentEvent::parse(&message),
                AgentEvent::Other(message.clone().into_owned()),
                "{line:?}"
            );
        }
    }

    #[test]
    fn host_events_give_their_message() {
        let event = Event::Item {
            peer: crate::hub::PeerId(1),
            item: Item::Message(Message::parse("KEY|x")),
        };
        assert_eq!(
            AgentEvent::from_event(&event),
            Some(AgentEvent::Key { name: s("x") })
        );
    }
}
