//! The `.mdf` file format: `KEY=VALUE` lines, comments, later lines overriding earlier ones.
//!
//! This module only turns text into the `Plugin_Remote_*` entries it holds, remembering where each
//! came from; it knows nothing of what the values mean (that is `interpret`). It follows the
//! original's rules to the letter so that a file means the same to both: trailing spaces, tabs, CR and
//! LF are stripped; a line whose first character is `#` is a comment; a line without `=` is ignored;
//! the key is everything before the first `=`; keys are case-sensitive.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use crate::config::keys::{self, Key};
use crate::error::{Error, Origin};

/// One `Plugin_Remote_*` line that is in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The key as written, so messages quote the file.
    pub written_key: String,
    /// The value with the original's trailing white space already stripped.
    pub value: String,
    pub origin: Origin,
    /// When it was loaded, counting every line applied: orders entries from different files.
    pub sequence: usize,
}

/// The `Plugin_Remote_*` settings read from one or more `.mdf` files and overrides, in order.
///
/// Load files with [`load_file`](Self::load_file), text with [`load_str`](Self::load_str) and single
/// overrides with [`set`](Self::set); a later value for a key replaces an earlier one. An old
/// spelling (`Plugin_Remote_ServerMode`) is a key of its own, as in the original, where the mode is
/// on when either spelling turns it on. Turn the result into a typed [`Config`](crate::Config) with
/// [`to_config`](Self::to_config).
///
/// Keys that do not start with `Plugin_Remote_` belong to the rest of the agent and are ignored.
#[derive(Debug, Clone, Default)]
pub struct MdfSettings {
    known: Vec<(Key, Entry)>,
    unknown: Vec<Entry>,
    /// How many overrides each source (`--set`, `--listen`...) gave so far, to number them.
    overrides: Vec<(Arc<str>, usize)>,
    loaded: usize,
}

impl MdfSettings {
    /// No settings: every key at its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a `.mdf` file and applies its lines over what is already loaded.
    ///
    /// The file is read as bytes and decoded as UTF-8, with invalid sequences replaced, since an
    /// agent's `.mdf` may hold other text in another encoding; `Plugin_Remote_*` keys are ASCII.
    pub fn load_file(&mut self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(|source| Error::ReadSettings {
            path: path.to_path_buf(),
            source,
        })?;
        self.load_str(
            &path.display().to_string(),
            &String::from_utf8_lossy(&bytes),
        );
        Ok(())
    }

    /// Applies the lines of `text`, naming them `source_name` in messages.
    pub fn load_str(&mut self, source_name: &str, text: &str) {
        let source: Arc<str> = Arc::from(source_name);
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        // `lines()` would also split at a lone CR; the original splits at LF only and strips CRs
        // from the end of each line.
        for (index, line) in text.split('\n').enumerate() {
            let line = line.trim_end_matches([' ', '\t', '\r', '\n']);
            if line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let origin = Origin {
                source: Arc::clone(&source),
                line: index + 1,
            };
            self.insert(key, value, origin);
        }
    }

    /// Sets one key as a command-line override would, after everything loaded so far.
    ///
    /// `assignment` is `KEY=VALUE`; without an `=` it is ignored, as such a line in a file is.
    pub fn set(&mut self, assignment: &str) {
        self.set_from("--set", assignment);
    }

    /// Sets one key as [`set`](Self::set) does, naming `source` (a command-line option, say) as
    /// where it came from in messages, with its position among that source's overrides as the line
    /// number.
    pub fn set_from(&mut self, source: &str, assignment: &str) {
        let line = match self
            .overrides
            .iter_mut()
            .find(|(name, _)| &**name == source)
        {
            Some((_, count)) => {
                *count += 1;
                *count
            }
            None => {
                self.overrides.push((Arc::from(source), 1));
                1
            }
        };
        if let Some((key, value)) = assignment.split_once('=') {
            let origin = Origin {
                source: Arc::from(source),
                line,
            };
            self.insert(key, value.trim_end_matches([' ', '\t', '\r', '\n']), origin);
        }
    }

    /// The value in force for a key; `None` when no line set it.
    pub fn get(&self, key: &str) -> Option<&str> {
        match Key::from_name(key) {
            Some(key) => self.entry(key).map(|entry| entry.value.as_str()),
            None => self
                .unknown
                .iter()
                .rev()
                .find(|entry| entry.written_key == key)
                .map(|entry| entry.value.as_str()),
        }
    }

    pub(crate) fn entry(&self, key: Key) -> Option<&Entry> {
        self.known
            .iter()
            .find(|(known, _)| *known == key)
            .map(|(_, entry)| entry)
    }

    pub(crate) fn unknown_entries(&self) -> &[Entry] {
        &self.unknown
    }

    /// Every known key in force with its entry, in the order the lines were loaded.
    pub(crate) fn known_entries(&self) -> Vec<(Key, &Entry)> {
        let mut entries: Vec<(Key, &Entry)> = self
            .known
            .iter()
            .map(|(key, entry)| (*key, entry))
            .collect();
        entries.sort_by_key(|(_, entry)| entry.sequence);
        entries
    }

    fn insert(&mut self, key: &str, value: &str, origin: Origin) {
        if !keys::is_plugin_remote_like(key) {
            return;
        }
        self.loaded += 1;
        let entry = Entry {
            written_key: key.to_owned(),
            value: value.to_owned(),
            origin,
            sequence: self.loaded,
        };
        match Key::from_name(key) {
            Some(key) => match self.known.iter_mut().find(|(known, _)| *known == key) {
                Some((_, slot)) => *slot = entry,
                None => self.known.push((key, entry)),
            },
            None => {
                self.unknown
                    .retain(|old| old.written_key != entry.written_key);
                self.unknown.push(entry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(text: &str) -> MdfSettings {
        let mut settings = MdfSettings::new();
        settings.load_str("test.mdf", text);
        settings
    }

    #[test]
    fn strips_trailing_white_space_and_carriage_returns() {
        let settings = loaded("Plugin_Remote_Hostname=example.org \t\r\nPlugin_Remote_Port=5\r");
        assert_eq!(settings.get("Plugin_Remote_Hostname"), Some("example.org"));
        assert_eq!(settings.get("Plugin_Remote_Port"), Some("5"));
    }

    #[test]
    fn hash_in_first_column_is_a_comment_and_lines_without_equals_are_ignored() {
        let settings =
            loaded("#Plugin_Remote_Port=1\nPlugin_Remote_Hostname\nPlugin_Remote_AllLog=true");
        assert_eq!(settings.get("Plugin_Remote_Port"), None);
        assert_eq!(settings.get("Plugin_Remote_Hostname"), None);
        assert_eq!(settings.get("Plugin_Remote_AllLog"), Some("true"));
    }

    #[test]
    fn key_ends_at_first_equals_and_value_keeps_the_rest() {
        let settings = loaded("Plugin_Remote_Websocket_Directory=/a=b");
        assert_eq!(
            settings.get("Plugin_Remote_Websocket_Directory"),
            Some("/a=b")
        );
    }

    #[test]
    fn later_line_wins_across_files() {
        let mut settings =
            loaded("Plugin_Remote_Port=1\nPlugin_Remote_EnableServer=true\nPlugin_Remote_Port=2");
        assert_eq!(settings.get("Plugin_Remote_Port"), Some("2"));
        settings.load_str("second.mdf", "Plugin_Remote_EnableServer=false");
        assert_eq!(settings.get("Plugin_Remote_EnableServer"), Some("false"));
        let entry = settings.entry(Key::EnableServer).unwrap();
        assert_eq!(entry.origin.to_string(), "second.mdf:1");
    }

    #[test]
    fn other_plugins_keys_are_ignored_but_unknown_remote_keys_are_kept() {
        let settings = loaded("Plugin_Julius_Conf=dnn\nPlugin_Remote_ListenPrt=5");
        assert_eq!(settings.get("Plugin_Julius_Conf"), None);
        assert_eq!(settings.unknown_entries().len(), 1);
        assert_eq!(settings.get("Plugin_Remote_ListenPrt"), Some("5"));
    }

    #[test]
    fn set_overrides_with_its_own_origin() {
        let mut settings = loaded("Plugin_Remote_Port=1");
        settings.set("Plugin_Remote_Port=2");
        let entry = settings.entry(Key::Port).unwrap();
        assert_eq!(entry.value, "2");
        assert_eq!(entry.origin.to_string(), "--set:1");
    }

    #[test]
    fn byte_order_mark_is_skipped() {
        let settings = loaded("\u{feff}Plugin_Remote_Port=7");
        assert_eq!(settings.get("Plugin_Remote_Port"), Some("7"));
    }
}
