//! The rules that keep an argument intact on its way into the agent, and the error that says which
//! argument broke them.
//!
//! The agent splits a message at every `|`, ends it at a line end, and cuts it at 2,047 bytes. Free
//! text (speech, captions, prompts) is rewritten so none of that can happen to it; every other
//! argument names something (a model, a file, a variable), where a silent rewrite would name
//! something else, so it is refused instead. This module only checks and rewrites strings; it
//! knows no command.

use std::fmt;

/// The longest line the agent takes whole, in bytes, without its line end.
///
/// The agent holds a message in a 2,048-byte buffer (the last byte ends the string) and cuts a
/// longer line at 2,047 bytes, possibly inside a UTF-8 character. This crate assumes the line end
/// is not stored in that buffer, so a line of exactly 2,047 bytes plus `\n` arrives whole.
pub const MAX_AGENT_LINE_BYTES: usize = 2047;

/// What `|` in free text becomes: U+FF5C FULLWIDTH VERTICAL LINE, which reads the same and which
/// the agent does not split at.
pub const BAR_REPLACEMENT: char = '\u{ff5c}';

/// Makes free text safe to send as one argument: each `|` becomes [`BAR_REPLACEMENT`] (`｜`), and
/// each line end (`\r\n`, `\r` or `\n`) and each NUL becomes one space. Everything else, tabs and
/// all UTF-8 included, passes unchanged.
///
/// NUL is replaced because the agent keeps messages as C strings, where it would end the text.
pub fn make_text_safe(text: &str) -> String {
    let mut safe = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '|' => safe.push(BAR_REPLACEMENT),
            '\r' => {
                chars.next_if_eq(&'\n');
                safe.push(' ');
            }
            '\n' | '\0' => safe.push(' '),
            _ => safe.push(c),
        }
    }
    safe
}

/// Why a [`Command`](super::Command) cannot be sent: which argument is wrong and how, or that the
/// whole line is too long for the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    /// One argument cannot be sent as it is.
    Argument {
        /// The command's name on the wire, `MOTION_ADD`.
        command: String,
        /// The argument, as this crate's field is named (`alias`, `file`, `priority`).
        argument: &'static str,
        /// What is wrong, in words.
        problem: String,
    },
    /// The line would be longer than the agent takes whole ([`MAX_AGENT_LINE_BYTES`]); it is never
    /// cut.
    TooLong {
        /// The command's name on the wire.
        command: String,
        /// The line's length in bytes, without line end.
        length: usize,
        /// The limit it broke.
        limit: usize,
    },
}

impl CommandError {
    pub(crate) fn argument(
        command: &str,
        argument: &'static str,
        problem: impl Into<String>,
    ) -> CommandError {
        CommandError::Argument {
            command: command.to_owned(),
            argument,
            problem: problem.into(),
        }
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Argument {
                command,
                argument,
                problem,
            } => write!(f, "{command}: argument `{argument}` {problem}"),
            CommandError::TooLong {
                command,
                length,
                limit,
            } => write!(
                f,
                "{command}: the line would be {length} bytes, longer than the {limit} the agent takes whole"
            ),
        }
    }
}

impl std::error::Error for CommandError {}

impl From<CommandError> for crate::Error {
    fn from(error: CommandError) -> Self {
        crate::Error::InvalidMessage(error.to_string())
    }
}

/// Checks a field that names something (an alias, a file, a key): it must be non-empty and hold no
/// `|`, line end or NUL, which would change what it names. `separator` is also refused when the
/// field sits in a list written with it (a file in `STAGE`'s `floor,back`).
pub(crate) fn check_name(
    command: &str,
    argument: &'static str,
    value: &str,
    separator: Option<char>,
) -> Result<(), CommandError> {
    if value.is_empty() {
        return Err(CommandError::argument(command, argument, "is empty"));
    }
    check_field(command, argument, value, separator)
}

/// [`check_name`] for a field that may be empty (a value, an item of a list).
pub(crate) fn check_field(
    command: &str,
    argument: &'static str,
    value: &str,
    separator: Option<char>,
) -> Result<(), CommandError> {
    let bad = value
        .chars()
        .find(|&c| matches!(c, '|' | '\r' | '\n' | '\0') || Some(c) == separator);
    match bad {
        None => Ok(()),
        Some(c) => Err(CommandError::argument(
            command,
            argument,
            format!("{value:?} holds {c:?}, which the agent would read as a separator or an end"),
        )),
    }
}

/// Writes a number as the agent reads it (`1`, `0.5`, `-2.25`, never with an exponent); a NaN or
/// an infinity is an error.
pub(crate) fn number(
    command: &str,
    argument: &'static str,
    value: f64,
) -> Result<String, CommandError> {
    if value.is_finite() {
        Ok(value.to_string())
    } else {
        Err(CommandError::argument(
            command,
            argument,
            format!("is {value}, not a finite number"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_loses_its_separators_and_line_ends_and_nothing_else() {
        assert_eq!(make_text_safe("a|b"), "a｜b");
        assert_eq!(
            make_text_safe("one\r\ntwo\rthree\nfour"),
            "one two three four"
        );
        assert_eq!(make_text_safe("\n\n"), "  ");
        assert_eq!(make_text_safe("nul\0end"), "nul end");
        assert_eq!(make_text_safe("tab\tこんにちは｜"), "tab\tこんにちは｜");
    }

    #[test]
    fn names_with_separators_are_refused_naming_the_argument() {
        assert!(check_name("X", "alias", "mei", None).is_ok());
        let error = check_name("MODEL_ADD", "alias", "me|i", None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "MODEL_ADD: argument `alias` \"me|i\" holds '|', which the agent would read as a separator or an end"
        );
        for bad in ["a\nb", "a\rb", "a\0b"] {
            assert!(check_name("X", "file", bad, None).is_err(), "{bad:?}");
        }
        assert!(check_name("STAGE", "floor", "a,b.png", Some(',')).is_err());
        assert_eq!(
            check_name("X", "alias", "", None).unwrap_err().to_string(),
            "X: argument `alias` is empty"
        );
        assert!(check_field("X", "value", "", None).is_ok());
    }

    #[test]
    fn numbers_are_written_plainly_and_must_be_finite() {
        assert_eq!(number("X", "n", 1.0).unwrap(), "1");
        assert_eq!(number("X", "n", -0.25).unwrap(), "-0.25");
        assert_eq!(number("X", "n", 1e21).unwrap(), "1000000000000000000000");
        assert!(number("X", "n", f64::NAN).is_err());
        assert!(number("X", "n", f64::INFINITY).is_err());
    }
}
