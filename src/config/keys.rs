//! The table of `Plugin_Remote_*` keys this crate understands, their spellings, and the nearest-key
//! suggestion for a key it does not.
//!
//! Adding a key means adding a variant, its spellings in [`Key::ALL`], and its default in
//! [`Key::default_text`]; the help text of the command line is generated from this table.

/// The prefix that marks a key as this plugin's.
pub(crate) const PREFIX: &str = "Plugin_Remote_";

/// A key this crate understands. Old spellings map to the same variant as the new ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    EnableServer,
    ServerMode,
    ListenPort,
    EnableClient,
    ClientMode,
    Hostname,
    Port,
    RetryCount,
    AllLog,
    WebsocketHost,
    WebsocketPort,
    WebsocketDirectory,
    EnableLocalLipsync,
    EnableLocalPassthrough,
    BindAddress,
    MaxPeers,
    MaxLineLength,
    KeepWhileDisconnected,
    RetryInterval,
    RetryForever,
    WebsocketUrl,
    WebsocketCaFile,
    WebsocketAcceptInvalidCertificates,
    RetryIntervalMax,
    WebsocketPingInterval,
    WebsocketPongTimeout,
}

/// A key's documentation, as shown by `--help` and written in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyHelp {
    /// The key's name.
    pub name: &'static str,
    /// What it does, in one line.
    pub meaning: &'static str,
    /// Its default, in words.
    pub default: &'static str,
    /// Whether the original plugin has it (`false`: an extension of this crate).
    pub original: bool,
}

impl Key {
    /// Every key with its documentation, in the order `--help` lists them.
    pub(crate) const ALL: [(Key, KeyHelp); 26] = [
        (Key::EnableServer, help("Plugin_Remote_EnableServer", "TCP server mode: accept controllers", "false", true)),
        (Key::ServerMode, help("Plugin_Remote_ServerMode", "old spelling of EnableServer; server mode is on when either is", "false", true)),
        (Key::ListenPort, help("Plugin_Remote_ListenPort", "port the TCP server listens on", "Plugin_Remote_Port, else 60001", true)),
        (Key::EnableClient, help("Plugin_Remote_EnableClient", "TCP client mode: connect to a controller's server", "false", true)),
        (Key::ClientMode, help("Plugin_Remote_ClientMode", "old spelling of EnableClient; client mode is on when either is", "false", true)),
        (Key::Hostname, help("Plugin_Remote_Hostname", "host the TCP client connects to", "localhost", true)),
        (Key::Port, help("Plugin_Remote_Port", "port the TCP client connects to, and the server's when no ListenPort", "60001", true)),
        (Key::RetryCount, help("Plugin_Remote_RetryCount", "further connection attempts after a failed one", "0", true)),
        (Key::AllLog, help("Plugin_Remote_AllLog", "send every log line to peers instead of only messages", "false", true)),
        (Key::WebsocketHost, help("Plugin_Remote_Websocket_Host", "WebSocket server host; setting it turns WebSocket mode on", "unset", true)),
        (Key::WebsocketPort, help("Plugin_Remote_Websocket_Port", "WebSocket server port; 443 means TLS (wss)", "80", true)),
        (Key::WebsocketDirectory, help("Plugin_Remote_Websocket_Directory", "WebSocket request path (the channel)", "/", true)),
        (Key::EnableLocalLipsync, help("Plugin_Remote_EnableLocalLipsync", "the agent's own lip sync; read and checked, no effect here", "false", true)),
        (Key::EnableLocalPassthrough, help("Plugin_Remote_EnableLocalPassthrough", "the agent's audio passthrough; read and checked, no effect here", "false", true)),
        (Key::BindAddress, help("Plugin_Remote_BindAddress", "address the TCP server binds (IPv4 or IPv6); 127.0.0.1 keeps it local", "0.0.0.0 (all IPv4 interfaces)", false)),
        (Key::MaxPeers, help("Plugin_Remote_MaxPeers", "most controllers the TCP server serves at once", "20", false)),
        (Key::MaxLineLength, help("Plugin_Remote_MaxLineLength", "longest inbound line in bytes; a longer one is dropped and reported", "65536", false)),
        (Key::KeepWhileDisconnected, help("Plugin_Remote_KeepWhileDisconnected", "outbound messages kept while no peer is connected, for the next one (oldest dropped first)", "0 (dropped and counted, as the original drops them)", false)),
        (Key::RetryInterval, help("Plugin_Remote_RetryInterval", "pause between connection attempts: seconds, or a number with ms or s", "0.5", false)),
        (Key::RetryIntervalMax, help("Plugin_Remote_RetryIntervalMax", "longest pause between connection attempts: pauses double from RetryInterval up to it, drawn at random between half and all; a link up this long starts them again", "30s", false)),
        (Key::RetryForever, help("Plugin_Remote_RetryForever", "retry connecting without limit (overrides RetryCount)", "false", false)),
        (Key::WebsocketUrl, help("Plugin_Remote_Websocket_Url", "WebSocket server as ws://host:port/path or wss://host:port/path, instead of Host, Port and Directory", "unset", false)),
        (Key::WebsocketPingInterval, help("Plugin_Remote_Websocket_PingInterval", "quiet time after which a ping is sent to check the link; 0 or off sends none (as the original)", "30s", false)),
        (Key::WebsocketPongTimeout, help("Plugin_Remote_Websocket_PongTimeout", "how long after a ping something must arrive before the link is declared dead and made again", "10s", false)),
        (Key::WebsocketCaFile, help("Plugin_Remote_Websocket_CaFile", "extra CA certificate (PEM) trusted for wss, besides the system's", "unset", false)),
        (Key::WebsocketAcceptInvalidCertificates, help("Plugin_Remote_Websocket_AcceptInvalidCertificates", "skip wss certificate verification (insecure; the original always does)", "false", false)),
    ];

    /// The key a written name stands for (keys are case-sensitive, as in the original).
    pub(crate) fn from_name(name: &str) -> Option<Key> {
        Self::ALL
            .iter()
            .find(|(_, help)| help.name == name)
            .map(|(key, _)| *key)
    }

    /// How the key is spelt.
    pub(crate) fn name(self) -> &'static str {
        self.help().name
    }

    pub(crate) fn help(self) -> &'static KeyHelp {
        Self::ALL
            .iter()
            .find(|(key, _)| *key == self)
            .map(|(_, help)| help)
            .expect("every key is in the table")
    }
}

const fn help(
    name: &'static str,
    meaning: &'static str,
    default: &'static str,
    original: bool,
) -> KeyHelp {
    KeyHelp {
        name,
        meaning,
        default,
        original,
    }
}

/// Every key this crate understands, with what it means and its default.
pub fn known_keys() -> impl Iterator<Item = &'static KeyHelp> {
    Key::ALL.iter().map(|(_, help)| help)
}

/// Whether a written key looks meant for this plugin: it starts with the prefix in any case, so that
/// `plugin_remote_port` is reported rather than ignored.
pub(crate) fn is_plugin_remote_like(key: &str) -> bool {
    let key = key.trim_start();
    key.len() >= PREFIX.len()
        && key.as_bytes()[..PREFIX.len()].eq_ignore_ascii_case(PREFIX.as_bytes())
}

/// Words for an unknown key: the known key it most likely means, and how it differs.
pub(crate) fn explain_unknown(written: &str) -> String {
    let trimmed = written.trim();
    if trimmed != written && Key::from_name(trimmed).is_some() {
        return format!(
            "the key has white space around it and is ignored (MMDAgent-EX ignores it too); \
             write `{trimmed}=` with no spaces"
        );
    }
    if let Some((_, help)) = Key::ALL
        .iter()
        .find(|(_, help)| help.name.eq_ignore_ascii_case(trimmed))
    {
        return format!(
            "unknown key, ignored; keys are case-sensitive: did you mean {}?",
            help.name
        );
    }
    match nearest_key(trimmed) {
        Some(name) => format!("unknown key, ignored; did you mean {name}?"),
        None => "unknown key, ignored (see --help for the keys this version knows)".to_owned(),
    }
}

/// The known spelling closest to `written`, if it is close enough to be a plausible typo: within a
/// third of the part after the prefix, so `Plugin_Remote_ListenPrt` finds `Plugin_Remote_ListenPort`
/// but `Plugin_Remote_Volume` finds nothing.
fn nearest_key(written: &str) -> Option<&'static str> {
    let written = written.to_ascii_lowercase();
    let (distance, name) = known_keys()
        .map(|help| {
            (
                edit_distance(&written, &help.name.to_ascii_lowercase()),
                help.name,
            )
        })
        .min()?;
    let tolerance = (written.len().saturating_sub(PREFIX.len()) / 3).max(1);
    (distance <= tolerance).then_some(name)
}

/// Levenshtein distance over bytes (keys are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, &byte_a) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, &byte_b) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(byte_a != byte_b);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_round_trips_through_its_names() {
        for (key, help) in Key::ALL {
            assert_eq!(Key::from_name(help.name), Some(key));
            assert_eq!(key.name(), help.name);
        }
    }

    #[test]
    fn typos_suggest_the_nearest_key() {
        assert_eq!(
            nearest_key("Plugin_Remote_ListenPrt"),
            Some("Plugin_Remote_ListenPort")
        );
        assert_eq!(
            nearest_key("Plugin_Remote_Hostnme"),
            Some("Plugin_Remote_Hostname")
        );
        assert_eq!(
            nearest_key("Plugin_Remote_WebSocket_Host"),
            Some("Plugin_Remote_Websocket_Host")
        );
        assert_eq!(nearest_key("Plugin_Remote_Volume"), None);
    }

    #[test]
    fn case_and_white_space_mistakes_are_named() {
        assert!(explain_unknown("plugin_remote_port")
            .contains("case-sensitive: did you mean Plugin_Remote_Port?"));
        assert!(explain_unknown("Plugin_Remote_Port ").contains("white space"));
        assert!(explain_unknown("Plugin_Remote_Volume").contains("see --help"));
    }

    #[test]
    fn prefix_is_matched_in_any_case() {
        assert!(is_plugin_remote_like("Plugin_Remote_X"));
        assert!(is_plugin_remote_like("PLUGIN_REMOTE_X"));
        assert!(!is_plugin_remote_like("Plugin_Julius_X"));
        assert!(!is_plugin_remote_like("Plugin_Remote"));
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
