//! Integration tests for the `.mdf` configuration, through the crate's public API only.
//!
//! Covered: every key of PROTOCOL.md's table and its default, the crate's extension keys, the file
//! rules (comments, overrides, several files, `set`), bad values (each an error naming file, line and
//! key), warnings (unknown keys, loop connections), and a seeded random robustness run.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use mmdagent_remote::{
    known_keys, Config, ConfigWarning, Error, MdfSettings, PingPolicy, RetryLimit, RetryPolicy,
    SettingError, TcpClientConfig, TcpServerConfig, WebSocketClientConfig, DEFAULT_MAX_LINE_LENGTH,
    DEFAULT_MAX_PEERS, DEFAULT_PORT, MAX_LINE_LENGTH_LIMIT,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The name every in-memory text is loaded under.
const FILE: &str = "test.mdf";

fn settings(text: &str) -> MdfSettings {
    let mut settings = MdfSettings::new();
    settings.load_str(FILE, text);
    settings
}

/// `text` loaded as `test.mdf` and interpreted.
fn config(text: &str) -> Result<Config, Error> {
    settings(text).to_config()
}

/// `text` interpreted, which must succeed.
fn ok(text: &str) -> Config {
    config(text).unwrap_or_else(|error| panic!("expected {text:?} to be accepted, got: {error}"))
}

/// `text` interpreted with its warnings, which must succeed.
fn with_warnings(text: &str) -> (Config, Vec<ConfigWarning>) {
    settings(text)
        .to_config_with_warnings()
        .unwrap_or_else(|error| panic!("expected {text:?} to be accepted, got: {error}"))
}

/// The setting error `text` must produce.
fn setting_error(text: &str) -> SettingError {
    match config(text) {
        Ok(config) => panic!("expected {text:?} to be refused, got {config:?}"),
        Err(Error::Setting(setting)) => *setting,
        Err(other) => panic!("expected a setting error for {text:?}, got: {other}"),
    }
}

/// Checks that `text` is refused because of `key` at `test.mdf:line`, with a message containing
/// every one of `words`; returns the message.
fn assert_refused(text: &str, line: usize, key: &str, words: &[&str]) -> String {
    let error = setting_error(text);
    let message = Error::from(error.clone()).to_string();
    assert_eq!(error.origin.source.as_ref(), FILE, "{message}");
    assert_eq!(error.origin.line, line, "{message}");
    assert_eq!(error.key, key, "{message}");
    let place = format!("{FILE}:{line}");
    assert!(message.contains(&place), "{message:?} lacks {place:?}");
    assert!(message.contains(key), "{message:?} lacks {key:?}");
    for word in words {
        assert!(message.contains(word), "{message:?} lacks {word:?}");
    }
    message
}

/// The expected value for "only a TCP server on `port`".
fn server_only(port: u16) -> Config {
    let mut expected = Config::default();
    expected.tcp_server = Some(TcpServerConfig::new(port));
    expected
}

/// The expected value for "only a TCP client of `host:port`".
fn client_only(host: &str, port: u16) -> Config {
    let mut expected = Config::default();
    expected.tcp_client = Some(TcpClientConfig::new(host, port));
    expected
}

fn websocket(host: &str, port: u16, path: &str, tls: bool) -> WebSocketClientConfig {
    let mut websocket = WebSocketClientConfig::new(host, port, path);
    websocket.tls = tls;
    websocket
}

/// The expected value for "only a WebSocket client".
fn websocket_only(websocket: WebSocketClientConfig) -> Config {
    let mut expected = Config::default();
    expected.websocket_client = Some(websocket);
    expected
}

fn retry_policy(limit: RetryLimit, interval: Duration) -> RetryPolicy {
    let mut retry = RetryPolicy::new(limit);
    retry.interval = interval;
    retry
}

fn client_retry(config: &Config) -> RetryPolicy {
    config.tcp_client.as_ref().expect("a TCP client").retry
}

fn bind_address(text: &str) -> IpAddr {
    ok(text).tcp_server.expect("a TCP server").bind_address
}

fn retry_interval(value: &str) -> Duration {
    let text = format!("Plugin_Remote_EnableClient=true\nPlugin_Remote_RetryInterval={value}");
    client_retry(&ok(&text)).interval
}

/// A directory under the system's temporary directory, unique to one test of one process, removed
/// when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "mmdagent-remote-config-{}-{test}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir(path)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        fs::write(&path, contents).expect("write a temporary file");
        path
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// 1. The keys of the original (PROTOCOL.md's table) and their defaults
// ---------------------------------------------------------------------------------------------

#[test]
fn empty_mdf_configures_no_transport_and_all_defaults() {
    for text in ["", "\n\n", "# only a comment\n", "Plugin_Julius_Conf=dnn\n"] {
        let (config, warnings) = with_warnings(text);
        assert_eq!(config, Config::default(), "{text:?}");
        assert!(!config.has_transport());
        assert!(!config.all_log);
        assert_eq!(config.max_line_length, DEFAULT_MAX_LINE_LENGTH);
        assert!(warnings.is_empty(), "{warnings:?}");
    }
}

#[test]
fn documented_defaults_have_the_documented_values() {
    assert_eq!(DEFAULT_PORT, 60001);
    assert_eq!(DEFAULT_MAX_PEERS, 20);
    assert_eq!(RetryPolicy::DEFAULT_INTERVAL, Duration::from_millis(500));
    assert_eq!(
        RetryPolicy::default(),
        RetryPolicy::new(RetryLimit::Attempts(0))
    );
    let server = TcpServerConfig::default();
    assert_eq!(server.port, 60001);
    assert_eq!(server.bind_address, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    assert_eq!(server.max_peers, 20);
    let client = TcpClientConfig::default();
    assert_eq!((client.host.as_str(), client.port), ("localhost", 60001));
    assert_eq!(client.retry.limit, RetryLimit::Attempts(0));
    assert_eq!(client.retry.interval, Duration::from_millis(500));
}

#[test]
fn every_known_key_is_recognised_and_starts_with_the_prefix() {
    let names: Vec<&str> = known_keys().map(|help| help.name).collect();
    for name in [
        "Plugin_Remote_EnableServer",
        "Plugin_Remote_ServerMode",
        "Plugin_Remote_ListenPort",
        "Plugin_Remote_EnableClient",
        "Plugin_Remote_ClientMode",
        "Plugin_Remote_Hostname",
        "Plugin_Remote_Port",
        "Plugin_Remote_RetryCount",
        "Plugin_Remote_AllLog",
        "Plugin_Remote_Websocket_Host",
        "Plugin_Remote_Websocket_Port",
        "Plugin_Remote_Websocket_Directory",
        "Plugin_Remote_BindAddress",
        "Plugin_Remote_MaxPeers",
        "Plugin_Remote_MaxLineLength",
        "Plugin_Remote_KeepWhileDisconnected",
        "Plugin_Remote_RetryInterval",
        "Plugin_Remote_RetryForever",
        "Plugin_Remote_Websocket_Url",
        "Plugin_Remote_Websocket_CaFile",
        "Plugin_Remote_Websocket_AcceptInvalidCertificates",
    ] {
        assert!(names.contains(&name), "{name} missing from known_keys()");
    }
    for name in names {
        assert!(name.starts_with("Plugin_Remote_"), "{name}");
        // An empty value means "unset", so every key can be written without changing anything; a
        // known key must not be warned about.
        let (config, warnings) = with_warnings(&format!("{name}="));
        assert_eq!(config, Config::default(), "{name}");
        assert!(warnings.is_empty(), "{name}: {warnings:?}");
    }
}

#[test]
fn enable_server_listens_on_60001_on_all_ipv4_interfaces() {
    let config = ok("Plugin_Remote_EnableServer=true");
    assert_eq!(config, server_only(60001));
    let server = config.tcp_server.unwrap();
    assert_eq!(server.bind_address, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    assert_eq!(server.max_peers, 20);
}

#[test]
fn enable_server_false_configures_nothing() {
    assert_eq!(ok("Plugin_Remote_EnableServer=false"), Config::default());
}

#[test]
fn old_server_mode_spelling_turns_server_mode_on() {
    assert_eq!(ok("Plugin_Remote_ServerMode=true"), server_only(60001));
}

#[test]
fn server_mode_is_on_when_either_spelling_is_on() {
    for text in [
        "Plugin_Remote_EnableServer=true\nPlugin_Remote_ServerMode=false",
        "Plugin_Remote_EnableServer=false\nPlugin_Remote_ServerMode=true",
        "Plugin_Remote_ServerMode=true\nPlugin_Remote_EnableServer=false",
        "Plugin_Remote_EnableServer=true\nPlugin_Remote_ServerMode=true",
    ] {
        assert_eq!(ok(text), server_only(60001), "{text:?}");
    }
    assert_eq!(
        ok("Plugin_Remote_EnableServer=false\nPlugin_Remote_ServerMode=false"),
        Config::default()
    );
}

#[test]
fn server_listens_on_port_when_no_listen_port() {
    let text = "Plugin_Remote_EnableServer=true\nPlugin_Remote_Port=50001";
    assert_eq!(ok(text), server_only(50001));
}

#[test]
fn listen_port_overrides_port_for_the_server_only() {
    let text = "Plugin_Remote_EnableServer=true\nPlugin_Remote_EnableClient=true\n\
                Plugin_Remote_Hostname=example.org\nPlugin_Remote_Port=50001\n\
                Plugin_Remote_ListenPort=50002";
    let config = ok(text);
    assert_eq!(config.tcp_server, Some(TcpServerConfig::new(50002)));
    assert_eq!(
        config.tcp_client,
        Some(TcpClientConfig::new("example.org", 50001))
    );
    // ListenPort alone, without Port.
    assert_eq!(
        ok("Plugin_Remote_ListenPort=50003\nPlugin_Remote_EnableServer=true"),
        server_only(50003)
    );
}

#[test]
fn enable_client_connects_to_localhost_60001_without_retrying() {
    let config = ok("Plugin_Remote_EnableClient=true");
    assert_eq!(config, client_only("localhost", 60001));
    assert_eq!(
        client_retry(&config),
        retry_policy(RetryLimit::Attempts(0), Duration::from_millis(500))
    );
}

#[test]
fn old_client_mode_spelling_turns_client_mode_on() {
    assert_eq!(
        ok("Plugin_Remote_ClientMode=true"),
        client_only("localhost", 60001)
    );
    assert_eq!(
        ok("Plugin_Remote_EnableClient=false\nPlugin_Remote_ClientMode=true"),
        client_only("localhost", 60001)
    );
    assert_eq!(
        ok("Plugin_Remote_EnableClient=true\nPlugin_Remote_ClientMode=false"),
        client_only("localhost", 60001)
    );
    assert_eq!(
        ok("Plugin_Remote_EnableClient=false\nPlugin_Remote_ClientMode=false"),
        Config::default()
    );
}

#[test]
fn client_uses_hostname_and_port() {
    let text = "Plugin_Remote_EnableClient=true\nPlugin_Remote_Hostname=controller.example\n\
                Plugin_Remote_Port=12345";
    assert_eq!(ok(text), client_only("controller.example", 12345));
}

#[test]
fn client_hostname_may_be_an_ipv6_address_with_or_without_brackets() {
    for host in ["::1", "[::1]"] {
        let text = format!(
            "Plugin_Remote_EnableClient=true\nPlugin_Remote_Hostname={host}\nPlugin_Remote_Port=9"
        );
        assert_eq!(ok(&text), client_only("::1", 9), "{host}");
    }
}

#[test]
fn retry_count_sets_further_attempts() {
    let config = ok("Plugin_Remote_EnableClient=true\nPlugin_Remote_RetryCount=5");
    assert_eq!(client_retry(&config).limit, RetryLimit::Attempts(5));
    assert!(client_retry(&config).allows(5));
    assert!(!client_retry(&config).allows(6));
    let config = ok("Plugin_Remote_EnableClient=true\nPlugin_Remote_RetryCount=0");
    assert_eq!(client_retry(&config).limit, RetryLimit::Attempts(0));
    let config = ok("Plugin_Remote_EnableClient=true\nPlugin_Remote_RetryCount=4294967295");
    assert_eq!(client_retry(&config).limit, RetryLimit::Attempts(u32::MAX));
}

#[test]
fn all_log_is_off_by_default_and_on_when_set() {
    assert!(!ok("Plugin_Remote_EnableServer=true").all_log);
    let mut expected = server_only(60001);
    expected.all_log = true;
    assert_eq!(
        ok("Plugin_Remote_EnableServer=true\nPlugin_Remote_AllLog=true"),
        expected
    );
    assert!(!ok("Plugin_Remote_AllLog=false").all_log);
    // AllLog alone is allowed (it configures no transport).
    assert!(ok("Plugin_Remote_AllLog=yes").all_log);
}

#[test]
fn websocket_host_alone_gives_ws_port_80_path_slash() {
    let config = ok("Plugin_Remote_Websocket_Host=example.org");
    assert_eq!(
        config,
        websocket_only(websocket("example.org", 80, "/", false))
    );
    let client = config.websocket_client.unwrap();
    assert_eq!(client.url(), "ws://example.org:80/");
    assert_eq!(client.retry, RetryPolicy::default());
    assert_eq!(client.ca_file, None);
    assert!(!client.accept_invalid_certificates);
}

#[test]
fn websocket_port_443_means_tls() {
    let config = ok("Plugin_Remote_Websocket_Host=example.org\nPlugin_Remote_Websocket_Port=443");
    assert_eq!(
        config,
        websocket_only(websocket("example.org", 443, "/", true))
    );
    assert_eq!(
        config.websocket_client.unwrap().url(),
        "wss://example.org:443/"
    );
}

#[test]
fn websocket_port_other_than_443_is_plain() {
    let config = ok("Plugin_Remote_Websocket_Host=example.org\nPlugin_Remote_Websocket_Port=8443");
    assert_eq!(
        config,
        websocket_only(websocket("example.org", 8443, "/", false))
    );
}

#[test]
fn websocket_directory_sets_the_request_path() {
    let text = "Plugin_Remote_Websocket_Host=example.org\nPlugin_Remote_Websocket_Port=9001\n\
                Plugin_Remote_Websocket_Directory=/chat/room-1";
    let config = ok(text);
    assert_eq!(
        config,
        websocket_only(websocket("example.org", 9001, "/chat/room-1", false))
    );
    assert_eq!(
        config.websocket_client.unwrap().url(),
        "ws://example.org:9001/chat/room-1"
    );
}

#[test]
fn websocket_host_may_be_bracketed_ipv6() {
    let config = ok("Plugin_Remote_Websocket_Host=[::1]\nPlugin_Remote_Websocket_Port=9001");
    assert_eq!(config, websocket_only(websocket("::1", 9001, "/", false)));
    assert_eq!(config.websocket_client.unwrap().url(), "ws://[::1]:9001/");
}

#[test]
fn websocket_port_and_directory_without_host_configure_nothing() {
    let text = "Plugin_Remote_Websocket_Port=443\nPlugin_Remote_Websocket_Directory=/x";
    assert_eq!(ok(text), Config::default());
}

#[test]
fn empty_websocket_host_does_not_turn_websocket_on() {
    assert_eq!(ok("Plugin_Remote_Websocket_Host="), Config::default());
    assert_eq!(ok("Plugin_Remote_Websocket_Host=  \t"), Config::default());
}

#[test]
fn websocket_and_tcp_clients_share_the_retry_settings() {
    let text = "Plugin_Remote_Websocket_Host=example.org\nPlugin_Remote_RetryCount=3\n\
                Plugin_Remote_RetryInterval=2";
    let retry = ok(text).websocket_client.unwrap().retry;
    assert_eq!(
        retry,
        retry_policy(RetryLimit::Attempts(3), Duration::from_secs(2))
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Extension keys
// ---------------------------------------------------------------------------------------------

#[test]
fn bind_address_accepts_ipv4_and_ipv6_with_or_without_brackets() {
    let server = "Plugin_Remote_EnableServer=true\nPlugin_Remote_BindAddress=";
    assert_eq!(
        bind_address(&format!("{server}127.0.0.1")),
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    );
    assert_eq!(
        bind_address(&format!("{server}0.0.0.0")),
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    );
    assert_eq!(
        bind_address(&format!("{server}::1")),
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    );
    assert_eq!(
        bind_address(&format!("{server}[::1]")),
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    );
    assert_eq!(
        bind_address(&format!("{server}::")),
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    );
}

#[test]
fn bind_address_keeps_the_port_and_peer_limit() {
    let config = ok(
        "Plugin_Remote_EnableServer=true\nPlugin_Remote_BindAddress=::1\n\
                     Plugin_Remote_ListenPort=7000",
    );
    let mut expected = TcpServerConfig::new(7000);
    expected.bind_address = IpAddr::V6(Ipv6Addr::LOCALHOST);
    assert_eq!(config.tcp_server, Some(expected));
}

#[test]
fn max_peers_sets_the_server_limit() {
    let config = ok("Plugin_Remote_EnableServer=true\nPlugin_Remote_MaxPeers=3");
    assert_eq!(config.tcp_server.unwrap().max_peers, 3);
    let config = ok("Plugin_Remote_EnableServer=true\nPlugin_Remote_MaxPeers=10000");
    assert_eq!(config.tcp_server.unwrap().max_peers, 10_000);
}

#[test]
fn max_line_length_sets_the_limit() {
    assert_eq!(ok("Plugin_Remote_MaxLineLength=1024").max_line_length, 1024);
    assert_eq!(ok("Plugin_Remote_MaxLineLength=1").max_line_length, 1);
    assert_eq!(
        ok(&format!(
            "Plugin_Remote_MaxLineLength={MAX_LINE_LENGTH_LIMIT}"
        ))
        .max_line_length,
        MAX_LINE_LENGTH_LIMIT
    );
    assert_eq!(ok("").max_line_length, 64 * 1024);
}

#[test]
fn retry_interval_accepts_seconds_and_suffixed_forms() {
    assert_eq!(retry_interval("0.5"), Duration::from_millis(500));
    assert_eq!(retry_interval("2"), Duration::from_secs(2));
    assert_eq!(retry_interval("500ms"), Duration::from_millis(500));
    assert_eq!(retry_interval("1.5s"), Duration::from_millis(1500));
    assert_eq!(retry_interval("10ms"), Duration::from_millis(10));
    assert_eq!(retry_interval("3600"), Duration::from_secs(3600));
    assert_eq!(retry_interval("250 ms"), Duration::from_millis(250));
}

#[test]
fn retry_forever_overrides_retry_count() {
    let config = ok(
        "Plugin_Remote_EnableClient=true\nPlugin_Remote_RetryCount=2\n\
                     Plugin_Remote_RetryForever=true",
    );
    assert_eq!(client_retry(&config).limit, RetryLimit::Forever);
    assert!(client_retry(&config).allows(u64::MAX));
    let config = ok(
        "Plugin_Remote_EnableClient=true\nPlugin_Remote_RetryCount=2\n\
                     Plugin_Remote_RetryForever=false",
    );
    assert_eq!(client_retry(&config).limit, RetryLimit::Attempts(2));
}

#[test]
fn websocket_url_ws_defaults_to_port_80_and_slash() {
    assert_eq!(
        ok("Plugin_Remote_Websocket_Url=ws://example.org"),
        websocket_only(websocket("example.org", 80, "/", false))
    );
}

#[test]
fn websocket_url_wss_defaults_to_port_443_with_tls() {
    assert_eq!(
        ok("Plugin_Remote_Websocket_Url=wss://example.org"),
        websocket_only(websocket("example.org", 443, "/", true))
    );
}

#[test]
fn websocket_url_takes_port_and_path() {
    let config = ok("Plugin_Remote_Websocket_Url=ws://example.org:9001/chat/room");
    assert_eq!(
        config,
        websocket_only(websocket("example.org", 9001, "/chat/room", false))
    );
    assert_eq!(
        config.websocket_client.unwrap().url(),
        "ws://example.org:9001/chat/room"
    );
}

#[test]
fn websocket_url_scheme_decides_tls_not_the_port() {
    // With the URL form, ws:// on port 443 stays plain and wss:// on another port is TLS.
    assert_eq!(
        ok("Plugin_Remote_Websocket_Url=ws://example.org:443/"),
        websocket_only(websocket("example.org", 443, "/", false))
    );
    assert_eq!(
        ok("Plugin_Remote_Websocket_Url=wss://example.org:8443/x"),
        websocket_only(websocket("example.org", 8443, "/x", true))
    );
    assert_eq!(
        ok("Plugin_Remote_Websocket_Url=WSS://example.org/"),
        websocket_only(websocket("example.org", 443, "/", true))
    );
}

#[test]
fn websocket_url_accepts_bracketed_ipv6_hosts() {
    let config = ok("Plugin_Remote_Websocket_Url=wss://[::1]:8443/x");
    assert_eq!(config, websocket_only(websocket("::1", 8443, "/x", true)));
    assert_eq!(config.websocket_client.unwrap().url(), "wss://[::1]:8443/x");
    assert_eq!(
        ok("Plugin_Remote_Websocket_Url=ws://[::1]/"),
        websocket_only(websocket("::1", 80, "/", false))
    );
    assert_eq!(
        ok("Plugin_Remote_Websocket_Url=wss://[::1]"),
        websocket_only(websocket("::1", 443, "/", true))
    );
}

#[test]
fn websocket_url_query_becomes_part_of_the_path() {
    assert_eq!(
        ok("Plugin_Remote_Websocket_Url=ws://example.org?room=1"),
        websocket_only(websocket("example.org", 80, "/?room=1", false))
    );
}

#[test]
fn websocket_url_makes_port_and_directory_ignored_with_warnings() {
    let (config, warnings) = with_warnings(
        "Plugin_Remote_Websocket_Url=ws://example.org:9001/a\n\
         Plugin_Remote_Websocket_Port=443\nPlugin_Remote_Websocket_Directory=/b",
    );
    assert_eq!(
        config,
        websocket_only(websocket("example.org", 9001, "/a", false))
    );
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert_eq!(warnings[0].key, "Plugin_Remote_Websocket_Port");
    assert_eq!(warnings[0].origin.to_string(), "test.mdf:2");
    assert!(warnings[0].message.contains("ignored"), "{}", warnings[0]);
    assert_eq!(warnings[1].key, "Plugin_Remote_Websocket_Directory");
    assert_eq!(warnings[1].origin.to_string(), "test.mdf:3");
}

#[test]
fn websocket_ca_file_is_kept_for_wss() {
    let (config, warnings) = with_warnings(
        "Plugin_Remote_Websocket_Url=wss://example.org/\n\
         Plugin_Remote_Websocket_CaFile=/etc/ssl/my ca.pem",
    );
    let client = config.websocket_client.unwrap();
    assert_eq!(client.ca_file, Some(PathBuf::from("/etc/ssl/my ca.pem")));
    assert!(!client.accept_invalid_certificates);
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn websocket_accept_invalid_certificates_is_off_by_default_and_can_be_turned_on() {
    let client = ok("Plugin_Remote_Websocket_Url=wss://example.org/")
        .websocket_client
        .unwrap();
    assert!(!client.accept_invalid_certificates);
    let client = ok(
        "Plugin_Remote_Websocket_Host=example.org\nPlugin_Remote_Websocket_Port=443\n\
                     Plugin_Remote_Websocket_AcceptInvalidCertificates=true",
    )
    .websocket_client
    .unwrap();
    assert!(client.accept_invalid_certificates);
    assert!(client.tls);
}

#[test]
fn tls_only_keys_on_a_plain_websocket_are_warned_about() {
    let (config, warnings) = with_warnings(
        "Plugin_Remote_Websocket_Host=example.org\n\
         Plugin_Remote_Websocket_CaFile=ca.pem\n\
         Plugin_Remote_Websocket_AcceptInvalidCertificates=true",
    );
    assert!(config.websocket_client.is_some());
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert_eq!(warnings[0].origin.to_string(), "test.mdf:2");
    assert_eq!(warnings[1].origin.to_string(), "test.mdf:3");
    for warning in &warnings {
        assert!(warning.message.contains("no effect"), "{warning}");
        assert!(
            warning.message.contains("ws://example.org:80/"),
            "{warning}"
        );
    }
}

#[test]
fn local_lipsync_and_passthrough_are_read_and_checked_without_effect() {
    let text = "Plugin_Remote_EnableLocalLipsync=true\nPlugin_Remote_EnableLocalPassthrough=false";
    let (config, warnings) = with_warnings(text);
    assert_eq!(config, Config::default());
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_refused(
        "Plugin_Remote_EnableLocalLipsync=maybe",
        1,
        "Plugin_Remote_EnableLocalLipsync",
        &["not a boolean"],
    );
}

// ---------------------------------------------------------------------------------------------
// 3. File rules
// ---------------------------------------------------------------------------------------------

#[test]
fn hash_in_first_column_is_a_comment() {
    assert_eq!(ok("#Plugin_Remote_EnableServer=true"), Config::default());
    assert_eq!(
        ok("# Plugin_Remote_EnableServer=true\nPlugin_Remote_EnableClient=true"),
        client_only("localhost", 60001)
    );
}

#[test]
fn a_bad_value_in_a_comment_is_not_an_error() {
    assert_eq!(ok("#Plugin_Remote_Port=abc"), Config::default());
}

#[test]
fn lines_without_equals_are_ignored() {
    let text = "Plugin_Remote_EnableServer\nPlugin_Remote_Port 5\nrandom words\n\
                Plugin_Remote_EnableClient=true";
    let (config, warnings) = with_warnings(text);
    assert_eq!(config, client_only("localhost", 60001));
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn trailing_spaces_tabs_and_carriage_returns_are_stripped() {
    let text = "Plugin_Remote_EnableClient=true \t\r\nPlugin_Remote_Hostname=example.org\t \r\n\
                Plugin_Remote_Port=7000   \r\n";
    assert_eq!(ok(text), client_only("example.org", 7000));
    // The value after stripping is what error messages quote.
    let error = setting_error("Plugin_Remote_Port=abc \t\r\n");
    assert_eq!(error.value, "abc");
}

#[test]
fn crlf_files_work_like_lf_files() {
    let text = "Plugin_Remote_EnableServer=true\r\nPlugin_Remote_ListenPort=6000\r\n";
    assert_eq!(ok(text), server_only(6000));
}

#[test]
fn the_key_ends_at_the_first_equals_sign() {
    let text = "Plugin_Remote_Websocket_Host=example.org\n\
                Plugin_Remote_Websocket_Directory=/a=b";
    assert_eq!(
        ok(text),
        websocket_only(websocket("example.org", 80, "/a=b", false))
    );
}

#[test]
fn a_later_line_wins() {
    let text = "Plugin_Remote_EnableServer=true\nPlugin_Remote_Port=1000\nPlugin_Remote_Port=2000";
    assert_eq!(ok(text), server_only(2000));
    let text = "Plugin_Remote_EnableServer=true\nPlugin_Remote_EnableServer=false";
    assert_eq!(ok(text), Config::default());
    // A bad value that is overridden later is no error.
    let text = "Plugin_Remote_Port=abc\nPlugin_Remote_Port=3000\nPlugin_Remote_EnableClient=true";
    assert_eq!(ok(text), client_only("localhost", 3000));
}

#[test]
fn an_empty_value_puts_a_key_back_to_its_default() {
    let text = "Plugin_Remote_EnableServer=true\nPlugin_Remote_Port=1000\nPlugin_Remote_Port=";
    assert_eq!(ok(text), server_only(60001));
}

#[test]
fn keys_of_other_plugins_are_ignored_without_warning() {
    let text = "Plugin_Julius_Conf=dnn\nPlugin_Julius_Port=abc\nPlugin_Remote_EnableServer=true\n\
                Plugin_Remote=1\nRemote_Port=0";
    let (config, warnings) = with_warnings(text);
    assert_eq!(config, server_only(60001));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(settings(text).get("Plugin_Julius_Conf"), None);
}

#[test]
fn a_byte_order_mark_is_skipped() {
    assert_eq!(
        ok("\u{feff}Plugin_Remote_EnableServer=true"),
        server_only(60001)
    );
}

#[test]
fn get_returns_the_value_in_force() {
    let settings = settings("Plugin_Remote_Port=1\nPlugin_Remote_Port=2 \t");
    assert_eq!(settings.get("Plugin_Remote_Port"), Some("2"));
    assert_eq!(settings.get("Plugin_Remote_Hostname"), None);
}

#[test]
fn set_overrides_what_files_say() {
    let mut settings = settings("Plugin_Remote_EnableServer=true\nPlugin_Remote_Port=1000");
    settings.set("Plugin_Remote_Port=2000");
    assert_eq!(settings.to_config().unwrap(), server_only(2000));
    settings.set("Plugin_Remote_EnableServer=false");
    assert_eq!(settings.to_config().unwrap(), Config::default());
}

#[test]
fn set_without_equals_is_ignored_and_trailing_space_is_stripped() {
    let mut settings = settings("Plugin_Remote_EnableClient=true");
    settings.set("Plugin_Remote_Port");
    settings.set("Plugin_Remote_Port=4000 \t\r");
    assert_eq!(
        settings.to_config().unwrap(),
        client_only("localhost", 4000)
    );
}

#[test]
fn a_bad_set_value_is_reported_as_from_the_command_line() {
    let mut settings = settings("Plugin_Remote_Port=1000");
    settings.set("Plugin_Remote_Hostname=example.org");
    settings.set("Plugin_Remote_Port=abc");
    let error = settings.to_config().unwrap_err();
    let message = error.to_string();
    assert!(message.contains("--set:2"), "{message}");
    assert!(message.contains("Plugin_Remote_Port=abc"), "{message}");
    assert!(message.contains("not a port number"), "{message}");
}

#[test]
fn a_later_file_loaded_after_set_still_overrides_it() {
    // Order is what counts: set, then load, and the file wins.
    let mut settings = MdfSettings::new();
    settings.set("Plugin_Remote_Port=1000");
    settings.load_str(
        "later.mdf",
        "Plugin_Remote_Port=2000\nPlugin_Remote_EnableServer=1",
    );
    assert_eq!(settings.to_config().unwrap(), server_only(2000));
}

#[test]
fn several_files_are_loaded_in_order_later_ones_winning() {
    let dir = TempDir::new("several_files");
    let first = dir.write(
        "first.mdf",
        "Plugin_Remote_EnableClient=true\nPlugin_Remote_Hostname=first.example\n\
         Plugin_Remote_Port=1000\n",
    );
    let second = dir.write(
        "second.mdf",
        "# the second file\nPlugin_Remote_Port=2000\r\n",
    );
    let mut settings = MdfSettings::new();
    settings.load_file(&first).unwrap();
    settings.load_file(&second).unwrap();
    assert_eq!(
        settings.to_config().unwrap(),
        client_only("first.example", 2000)
    );

    // The other order: the first file's port wins.
    let mut settings = MdfSettings::new();
    settings.load_file(&second).unwrap();
    settings.load_file(&first).unwrap();
    assert_eq!(
        settings.to_config().unwrap(),
        client_only("first.example", 1000)
    );
}

#[test]
fn config_from_mdf_files_reads_them_in_order() {
    let dir = TempDir::new("from_mdf_files");
    let base = dir.write(
        "base.mdf",
        "Plugin_Julius_Conf=dnn\nPlugin_Remote_EnableServer=true\nPlugin_Remote_Port=1000\n",
    );
    let local = dir.write("local.mdf", "Plugin_Remote_ListenPort=3000\n");
    assert_eq!(
        Config::from_mdf_files([&base, &local]).unwrap(),
        server_only(3000)
    );
    assert_eq!(Config::from_mdf_files([&base]).unwrap(), server_only(1000));
    assert_eq!(
        Config::from_mdf_files(Vec::<PathBuf>::new()).unwrap(),
        Config::default()
    );
}

#[test]
fn an_error_in_a_file_names_the_file_path_and_line() {
    let dir = TempDir::new("error_names_path");
    let path = dir.write(
        "bad.mdf",
        "Plugin_Remote_EnableServer=true\n\nPlugin_Remote_ListenPort=70000\n",
    );
    let error = Config::from_mdf_files([&path]).unwrap_err();
    let message = error.to_string();
    let place = format!("{}:3", path.display());
    assert!(message.contains(&place), "{message:?} lacks {place:?}");
    assert!(message.contains("Plugin_Remote_ListenPort"), "{message}");
    assert!(message.contains("not a port number"), "{message}");
    match error {
        Error::Setting(setting) => {
            assert_eq!(setting.origin.line, 3);
            assert_eq!(setting.value, "70000");
        }
        other => panic!("expected a setting error, got {other:?}"),
    }
}

#[test]
fn a_missing_file_is_a_read_settings_error_naming_the_path() {
    let dir = TempDir::new("missing_file");
    let missing = dir.path().join("does-not-exist.mdf");

    let mut settings = MdfSettings::new();
    let error = settings.load_file(&missing).unwrap_err();
    assert!(
        matches!(&error, Error::ReadSettings { path, .. } if *path == missing),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("cannot read settings file"), "{message}");
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );
    assert!(std::error::Error::source(&error).is_some());

    // Through from_mdf_files, after a good file.
    let good = dir.write("good.mdf", "Plugin_Remote_EnableServer=true\n");
    let error = Config::from_mdf_files([good, missing.clone()]).unwrap_err();
    assert!(
        matches!(&error, Error::ReadSettings { path, .. } if *path == missing),
        "{error:?}"
    );
}

#[test]
fn a_file_with_bytes_that_are_not_utf8_still_loads() {
    let dir = TempDir::new("not_utf8");
    // Shift_JIS text in another plugin's key, as a Japanese agent's .mdf may hold.
    let mut contents = b"Plugin_Other_Text=\x82\xa0\x82\xa2\n".to_vec();
    contents.extend_from_slice(b"Plugin_Remote_EnableServer=true\nPlugin_Remote_Port=4000\n");
    let path = dir.write("sjis.mdf", contents);
    assert_eq!(Config::from_mdf_files([path]).unwrap(), server_only(4000));
}

// ---------------------------------------------------------------------------------------------
// 4. Bad input
// ---------------------------------------------------------------------------------------------

const BAD_PORTS: [&str; 7] = [
    "abc",
    "0",
    "65536",
    "-1",
    "80x",
    "1.5",
    "99999999999999999999",
];

#[test]
fn bad_listen_port_is_refused() {
    for port in BAD_PORTS {
        let text = format!("Plugin_Remote_EnableServer=true\nPlugin_Remote_ListenPort={port}");
        let message = assert_refused(
            &text,
            2,
            "Plugin_Remote_ListenPort",
            &["not a port number", "1 to 65535"],
        );
        assert!(message.contains(&format!("={port}")), "{message}");
    }
}

#[test]
fn bad_port_is_refused() {
    for port in BAD_PORTS {
        let text = format!("Plugin_Remote_EnableClient=true\n\nPlugin_Remote_Port={port}");
        assert_refused(
            &text,
            3,
            "Plugin_Remote_Port",
            &["not a port number", "1 to 65535"],
        );
    }
}

#[test]
fn bad_websocket_port_is_refused() {
    for port in BAD_PORTS {
        let text = format!(
            "Plugin_Remote_Websocket_Port={port}\nPlugin_Remote_Websocket_Host=example.org"
        );
        assert_refused(
            &text,
            1,
            "Plugin_Remote_Websocket_Port",
            &["not a port number", "1 to 65535"],
        );
    }
}

#[test]
fn bad_port_inside_websocket_url_is_refused() {
    for port in ["abc", "0", "65536", "-1", ""] {
        let text = format!("Plugin_Remote_Websocket_Url=ws://example.org:{port}/chat");
        assert_refused(
            &text,
            1,
            "Plugin_Remote_Websocket_Url",
            &["not a WebSocket URL", "port"],
        );
    }
}

#[test]
fn port_extremes_are_accepted() {
    assert_eq!(
        ok("Plugin_Remote_EnableServer=true\nPlugin_Remote_ListenPort=1"),
        server_only(1)
    );
    assert_eq!(
        ok("Plugin_Remote_EnableServer=true\nPlugin_Remote_ListenPort=65535"),
        server_only(65535)
    );
    assert_eq!(
        ok("Plugin_Remote_Websocket_Url=ws://h:65535"),
        websocket_only(websocket("h", 65535, "/", false))
    );
}

#[test]
fn bad_retry_count_is_refused() {
    for count in ["abc", "-1", "1.5", "4294967296", "three"] {
        let text = format!("Plugin_Remote_EnableClient=true\nPlugin_Remote_RetryCount={count}");
        assert_refused(
            &text,
            2,
            "Plugin_Remote_RetryCount",
            &["not a number of retries", "Plugin_Remote_RetryForever"],
        );
    }
}

#[test]
fn booleans_accept_true_false_yes_no_on_off_1_0_in_any_case() {
    for on in ["true", "TRUE", "True", "yes", "YES", "on", "On", "1"] {
        let text = format!("Plugin_Remote_EnableServer={on}");
        assert_eq!(ok(&text), server_only(60001), "{on}");
    }
    for off in [
        "false", "False", "FALSE", "no", "No", "off", "Off", "OFF", "0",
    ] {
        // Unlike the original, where anything but exactly `false` is on.
        let text = format!("Plugin_Remote_EnableServer={off}");
        assert_eq!(ok(&text), Config::default(), "{off}");
        let text = format!("Plugin_Remote_ServerMode={off}");
        assert_eq!(ok(&text), Config::default(), "{off}");
    }
}

#[test]
fn booleans_outside_the_list_are_refused() {
    for key in [
        "Plugin_Remote_EnableServer",
        "Plugin_Remote_ServerMode",
        "Plugin_Remote_EnableClient",
        "Plugin_Remote_ClientMode",
        "Plugin_Remote_AllLog",
        "Plugin_Remote_RetryForever",
        "Plugin_Remote_EnableLocalLipsync",
        "Plugin_Remote_EnableLocalPassthrough",
    ] {
        for value in ["maybe", "2", "tru", "enabled", "-1", "真"] {
            let text = format!("# comment\n{key}={value}");
            assert_refused(&text, 2, key, &["not a boolean", "true or false"]);
        }
    }
}

#[test]
fn accept_invalid_certificates_boolean_is_checked() {
    let text = "Plugin_Remote_Websocket_Url=wss://example.org/\n\
                Plugin_Remote_Websocket_AcceptInvalidCertificates=maybe";
    assert_refused(
        text,
        2,
        "Plugin_Remote_Websocket_AcceptInvalidCertificates",
        &["not a boolean"],
    );
}

#[test]
fn websocket_with_tcp_server_is_refused_naming_the_keys_to_remove() {
    let text = "Plugin_Remote_EnableServer=true\nPlugin_Remote_Websocket_Host=example.org";
    let message = assert_refused(
        text,
        2,
        "Plugin_Remote_Websocket_Host",
        &[
            "WebSocket and TCP/IP cannot be configured together",
            "remove Plugin_Remote_EnableServer (test.mdf:1)",
            "or remove Plugin_Remote_Websocket_Host",
        ],
    );
    assert!(!message.contains("EnableClient"), "{message}");
}

#[test]
fn websocket_with_tcp_client_is_refused_naming_the_keys_to_remove() {
    let text =
        "Plugin_Remote_Websocket_Url=ws://example.org/\n# note\nPlugin_Remote_ClientMode=yes";
    assert_refused(
        text,
        1,
        "Plugin_Remote_Websocket_Url",
        &[
            "cannot be configured together",
            "Plugin_Remote_ClientMode (test.mdf:3)",
            "remove Plugin_Remote_Websocket_Url",
        ],
    );
}

#[test]
fn websocket_with_tcp_server_and_client_names_both() {
    let text = "Plugin_Remote_EnableServer=true\nPlugin_Remote_EnableClient=true\n\
                Plugin_Remote_Hostname=other.example\nPlugin_Remote_Websocket_Host=example.org";
    assert_refused(
        text,
        4,
        "Plugin_Remote_Websocket_Host",
        &[
            "cannot be configured together",
            "Plugin_Remote_EnableServer (test.mdf:1) and Plugin_Remote_EnableClient (test.mdf:2)",
        ],
    );
}

#[test]
fn websocket_with_a_loop_client_is_still_refused() {
    // The loop check switches the client off, but its line still conflicts with WebSocket.
    let text = "Plugin_Remote_EnableServer=true\nPlugin_Remote_EnableClient=true\n\
                Plugin_Remote_Websocket_Host=example.org";
    assert_refused(
        text,
        3,
        "Plugin_Remote_Websocket_Host",
        &["Plugin_Remote_EnableClient (test.mdf:2)"],
    );
}

#[test]
fn websocket_with_tcp_switched_off_is_fine() {
    let text = "Plugin_Remote_EnableServer=false\nPlugin_Remote_ClientMode=off\n\
                Plugin_Remote_Websocket_Host=example.org";
    assert_eq!(
        ok(text),
        websocket_only(websocket("example.org", 80, "/", false))
    );
}

#[test]
fn websocket_with_both_server_spellings_names_both_keys_to_remove() {
    let text = "Plugin_Remote_EnableServer=true\nPlugin_Remote_ServerMode=true\n\
                Plugin_Remote_Websocket_Host=example.org";
    assert_refused(
        text,
        3,
        "Plugin_Remote_Websocket_Host",
        &[
            "cannot be configured together",
            "Plugin_Remote_EnableServer (test.mdf:1)",
            "Plugin_Remote_ServerMode (test.mdf:2)",
        ],
    );
}

#[test]
fn websocket_url_together_with_websocket_host_is_refused() {
    let text =
        "Plugin_Remote_Websocket_Url=ws://a.example/\nPlugin_Remote_Websocket_Host=b.example";
    assert_refused(
        text,
        2,
        "Plugin_Remote_Websocket_Host",
        &[
            "also given as a URL",
            "Plugin_Remote_Websocket_Url at test.mdf:1",
            "keep one of the two",
        ],
    );
}

#[test]
fn bad_websocket_urls_are_refused() {
    for (url, words) in [
        ("http://example.org/", "scheme"),
        ("example.org", "scheme"),
        ("ws://", "host"),
        ("ws:///path", "host"),
        ("ws://user@example.org/", "user name"),
        ("ws://[::1/", "closing ]"),
        ("ws://example.org/a#frag", "fragment"),
        ("ws://example.org/a\tb", "control"),
    ] {
        let text = format!("Plugin_Remote_Websocket_Url={url}");
        assert_refused(
            &text,
            1,
            "Plugin_Remote_Websocket_Url",
            &["not a WebSocket URL", words],
        );
    }
}

#[test]
fn websocket_url_with_junk_after_ipv6_bracket_is_refused() {
    assert_refused(
        "Plugin_Remote_Websocket_Url=ws://[::1]junk/chat",
        1,
        "Plugin_Remote_Websocket_Url",
        &["not a WebSocket URL"],
    );
}

#[test]
fn websocket_url_host_is_checked_like_websocket_host() {
    for url in ["ws://exa mple.org/", "ws://h\u{0}/", "ws://host#frag"] {
        let text = format!("Plugin_Remote_Websocket_Url={url}");
        assert_refused(
            &text,
            1,
            "Plugin_Remote_Websocket_Url",
            &["not a WebSocket URL"],
        );
    }
}

#[test]
fn host_with_a_port_in_it_is_refused() {
    assert_refused(
        "Plugin_Remote_Websocket_Host=example.org:8080",
        1,
        "Plugin_Remote_Websocket_Host",
        &["not a host name or address"],
    );
    assert_refused(
        "Plugin_Remote_EnableClient=true\nPlugin_Remote_Hostname=example.org:8080",
        2,
        "Plugin_Remote_Hostname",
        &["not a host name or address"],
    );
}

#[test]
fn websocket_directory_with_a_fragment_is_refused() {
    let text = "Plugin_Remote_Websocket_Host=example.org\nPlugin_Remote_Websocket_Directory=/a#b";
    assert_refused(
        text,
        2,
        "Plugin_Remote_Websocket_Directory",
        &["not a request path"],
    );
}

#[test]
fn bad_bind_address_is_refused() {
    for address in [
        "localhost",
        "256.0.0.1",
        "1.2.3",
        "::g",
        "[::1",
        "0.0.0.0:80",
    ] {
        let text = format!("Plugin_Remote_EnableServer=true\nPlugin_Remote_BindAddress={address}");
        assert_refused(
            &text,
            2,
            "Plugin_Remote_BindAddress",
            &["not an IP address"],
        );
    }
}

#[test]
fn bad_max_peers_is_refused() {
    for peers in ["0", "-1", "10001", "many", "2.5"] {
        let text = format!("Plugin_Remote_EnableServer=true\nPlugin_Remote_MaxPeers={peers}");
        assert_refused(
            &text,
            2,
            "Plugin_Remote_MaxPeers",
            &["not a peer limit", "1 to 10000"],
        );
    }
}

#[test]
fn bad_max_line_length_is_refused() {
    let too_long = (MAX_LINE_LENGTH_LIMIT + 1).to_string();
    for length in ["0", "-5", "64k", too_long.as_str()] {
        let text = format!("Plugin_Remote_MaxLineLength={length}");
        assert_refused(
            &text,
            1,
            "Plugin_Remote_MaxLineLength",
            &["not a line length", "from 1 to"],
        );
    }
}

#[test]
fn bad_retry_interval_is_refused() {
    for interval in [
        "0", "0.001", "5ms", "9ms", "3601", "3601s", "1e300", "-1", "-0.5s", "abc", "ms", "s",
        "2h", "inf", "NaN", "0.5 sec",
    ] {
        let text =
            format!("Plugin_Remote_EnableClient=true\nPlugin_Remote_RetryInterval={interval}");
        assert_refused(
            &text,
            2,
            "Plugin_Remote_RetryInterval",
            &["not an interval", "10ms to 3600s"],
        );
    }
}

#[test]
fn retry_interval_max_is_read_and_checked() {
    let text = "Plugin_Remote_EnableClient=true\nPlugin_Remote_RetryIntervalMax=5s";
    assert_eq!(client_retry(&ok(text)).max_interval, Duration::from_secs(5));
    assert_eq!(
        client_retry(&ok("Plugin_Remote_EnableClient=true")).max_interval,
        RetryPolicy::DEFAULT_MAX_INTERVAL
    );
    let below = "Plugin_Remote_EnableClient=true\nPlugin_Remote_RetryInterval=2\n\
                 Plugin_Remote_RetryIntervalMax=1";
    assert_refused(
        below,
        3,
        "Plugin_Remote_RetryIntervalMax",
        &[
            "shorter than the retry interval",
            "Plugin_Remote_RetryInterval",
        ],
    );
    for bad in ["0", "5ms", "3601", "abc", "-1"] {
        let text = format!("Plugin_Remote_EnableClient=true\nPlugin_Remote_RetryIntervalMax={bad}");
        assert_refused(
            &text,
            2,
            "Plugin_Remote_RetryIntervalMax",
            &["not an interval", "10ms to 3600s"],
        );
    }
}

#[test]
fn websocket_pings_are_on_by_default_and_can_be_tuned_or_turned_off() {
    let ping = |extra: &str| {
        let text = format!("Plugin_Remote_Websocket_Host=example.org\n{extra}");
        ok(&text).websocket_client.expect("a WebSocket client").ping
    };
    assert_eq!(ping(""), Some(PingPolicy::default()));
    assert_eq!(
        ping("Plugin_Remote_Websocket_PingInterval=5s\nPlugin_Remote_Websocket_PongTimeout=500ms"),
        Some(PingPolicy::new(
            Duration::from_secs(5),
            Duration::from_millis(500)
        ))
    );
    assert_eq!(ping("Plugin_Remote_Websocket_PingInterval=0"), None);
    assert_eq!(ping("Plugin_Remote_Websocket_PingInterval=off"), None);
    let (_, warnings) = settings(
        "Plugin_Remote_Websocket_Host=example.org\nPlugin_Remote_Websocket_PingInterval=off\n\
         Plugin_Remote_Websocket_PongTimeout=3",
    )
    .to_config_with_warnings()
    .unwrap();
    assert!(
        warnings.iter().any(
            |warning| warning.key == "Plugin_Remote_Websocket_PongTimeout"
                && warning.message.contains("turns pings off")
        ),
        "{warnings:?}"
    );
    for (key, bad) in [
        ("Plugin_Remote_Websocket_PingInterval", "5ms"),
        ("Plugin_Remote_Websocket_PingInterval", "abc"),
        ("Plugin_Remote_Websocket_PongTimeout", "0"),
        ("Plugin_Remote_Websocket_PongTimeout", "3601s"),
    ] {
        let text = format!("Plugin_Remote_Websocket_Host=example.org\n{key}={bad}");
        assert_refused(&text, 2, key, &["not an interval"]);
    }
}

#[test]
fn bad_websocket_directory_is_refused() {
    let text = "Plugin_Remote_Websocket_Host=example.org\nPlugin_Remote_Websocket_Directory=chat";
    assert_refused(
        text,
        2,
        "Plugin_Remote_Websocket_Directory",
        &["not a request path", "must start with `/`", "/chat"],
    );
    let text = "Plugin_Remote_Websocket_Host=example.org\nPlugin_Remote_Websocket_Directory=/a b";
    assert_refused(
        text,
        2,
        "Plugin_Remote_Websocket_Directory",
        &["not a request path", "spaces"],
    );
}

#[test]
fn bad_hostnames_are_refused() {
    for host in [
        "exa mple.org",
        "example.org/chat",
        "user@example.org",
        "a?b",
    ] {
        let text = format!("Plugin_Remote_EnableClient=true\nPlugin_Remote_Hostname={host}");
        assert_refused(
            &text,
            2,
            "Plugin_Remote_Hostname",
            &["not a host name or address"],
        );
        let text = format!("Plugin_Remote_Websocket_Host={host}");
        assert_refused(
            &text,
            1,
            "Plugin_Remote_Websocket_Host",
            &["not a host name or address"],
        );
    }
}

#[test]
fn setting_error_fields_hold_origin_key_and_value() {
    let error = setting_error("\n\nPlugin_Remote_RetryCount=-3");
    assert_eq!(error.origin.to_string(), "test.mdf:3");
    assert_eq!(error.key, "Plugin_Remote_RetryCount");
    assert_eq!(error.value, "-3");
    assert!(error.problem.contains("not a number of retries"));
    assert_eq!(
        error.to_string(),
        format!("test.mdf:3: Plugin_Remote_RetryCount=-3: {}", error.problem)
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Warnings
// ---------------------------------------------------------------------------------------------

#[test]
fn misspelt_key_is_warned_about_with_a_suggestion() {
    let (config, warnings) =
        with_warnings("Plugin_Remote_EnableServer=true\nPlugin_Remote_ListenPrt=50001");
    assert_eq!(config, server_only(60001));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning = &warnings[0];
    assert_eq!(warning.key, "Plugin_Remote_ListenPrt");
    assert_eq!(warning.origin.to_string(), "test.mdf:2");
    let text = warning.to_string();
    assert!(text.contains("test.mdf:2"), "{text}");
    assert!(text.contains("Plugin_Remote_ListenPrt"), "{text}");
    assert!(text.contains("unknown key"), "{text}");
    assert!(
        text.contains("did you mean Plugin_Remote_ListenPort?"),
        "{text}"
    );
}

#[test]
fn key_in_the_wrong_case_is_warned_about_and_ignored() {
    let (config, warnings) = with_warnings("Plugin_Remote_EnableClient=true\nplugin_remote_port=5");
    assert_eq!(config, client_only("localhost", 60001));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let text = warnings[0].to_string();
    assert!(
        text.starts_with("test.mdf:2: plugin_remote_port: "),
        "{text}"
    );
    assert!(text.contains("case-sensitive"), "{text}");
    assert!(text.contains("did you mean Plugin_Remote_Port?"), "{text}");
}

#[test]
fn key_with_white_space_around_it_is_warned_about() {
    let (config, warnings) = with_warnings("Plugin_Remote_EnableServer =true");
    assert_eq!(config, Config::default());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].message.contains("white space"),
        "{}",
        warnings[0]
    );
}

#[test]
fn unknown_key_far_from_every_known_one_gets_no_suggestion() {
    let (_, warnings) = with_warnings("Plugin_Remote_Volume=11");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].message.contains("unknown key"),
        "{}",
        warnings[0]
    );
    assert!(
        !warnings[0].message.contains("did you mean"),
        "{}",
        warnings[0]
    );
}

#[test]
fn an_unknown_key_is_warned_about_once_at_its_last_line() {
    let (_, warnings) = with_warnings("Plugin_Remote_Prot=1\nPlugin_Remote_Prot=2");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].origin.line, 2);
}

#[test]
fn warnings_come_in_line_order() {
    let (_, warnings) = with_warnings(
        "Plugin_Remote_Zzz=1\nPlugin_Remote_EnableServer=true\nPlugin_Remote_EnableClient=true\n\
         Plugin_Remote_Aaa=1",
    );
    let lines: Vec<usize> = warnings.iter().map(|w| w.origin.line).collect();
    assert_eq!(lines, [1, 3, 4], "{warnings:?}");
}

fn assert_loop(text: &str) {
    let (config, warnings) = with_warnings(text);
    assert!(config.tcp_server.is_some(), "{text:?}");
    assert_eq!(config.tcp_client, None, "{text:?}");
    let loops: Vec<&ConfigWarning> = warnings
        .iter()
        .filter(|warning| warning.message.contains("loop"))
        .collect();
    assert_eq!(loops.len(), 1, "{text:?}: {warnings:?}");
    assert!(
        loops[0].message.contains("client mode is switched off"),
        "{}",
        loops[0]
    );
}

fn assert_no_loop(text: &str) {
    let (config, warnings) = with_warnings(text);
    assert!(config.tcp_server.is_some(), "{text:?}");
    assert!(config.tcp_client.is_some(), "{text:?}");
    assert!(warnings.is_empty(), "{text:?}: {warnings:?}");
}

#[test]
fn loop_connection_to_localhost_switches_the_client_off() {
    let text = "Plugin_Remote_EnableServer=true\nPlugin_Remote_EnableClient=true";
    let (config, warnings) = with_warnings(text);
    assert_eq!(config, server_only(60001));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning = &warnings[0];
    assert_eq!(warning.origin.to_string(), "test.mdf:2");
    assert_eq!(warning.key, "Plugin_Remote_EnableClient");
    let text = warning.to_string();
    assert!(text.contains("test.mdf:2"), "{text}");
    assert!(text.contains("loop connection"), "{text}");
    assert!(text.contains("localhost:60001"), "{text}");
    assert!(text.contains("client mode is switched off"), "{text}");
}

#[test]
fn loop_connection_is_detected_for_loopback_addresses() {
    for host in ["localhost", "LocalHost", "127.0.0.1", "::1", "[::1]"] {
        assert_loop(&format!(
            "Plugin_Remote_EnableServer=true\nPlugin_Remote_ClientMode=true\n\
             Plugin_Remote_Hostname={host}"
        ));
    }
}

#[test]
fn loop_connection_uses_the_servers_listen_port() {
    assert_loop(
        "Plugin_Remote_ServerMode=true\nPlugin_Remote_EnableClient=true\n\
         Plugin_Remote_Port=50001\nPlugin_Remote_ListenPort=50001",
    );
    assert_loop(
        "Plugin_Remote_EnableServer=true\nPlugin_Remote_EnableClient=true\n\
         Plugin_Remote_Port=50001",
    );
}

#[test]
fn loop_connection_is_detected_for_ipv4_mapped_loopback() {
    assert_loop(
        "Plugin_Remote_EnableServer=true\nPlugin_Remote_EnableClient=true\n\
         Plugin_Remote_Hostname=::ffff:127.0.0.1",
    );
}

#[test]
fn a_different_port_is_not_a_loop() {
    assert_no_loop(
        "Plugin_Remote_EnableServer=true\nPlugin_Remote_EnableClient=true\n\
         Plugin_Remote_ListenPort=50002",
    );
    let config = ok(
        "Plugin_Remote_EnableServer=true\nPlugin_Remote_EnableClient=true\n\
                     Plugin_Remote_ListenPort=50002",
    );
    assert_eq!(config.tcp_server, Some(TcpServerConfig::new(50002)));
    assert_eq!(
        config.tcp_client,
        Some(TcpClientConfig::new("localhost", 60001))
    );
}

#[test]
fn a_different_host_is_not_a_loop() {
    for host in ["controller.example", "192.0.2.7", "2001:db8::1"] {
        assert_no_loop(&format!(
            "Plugin_Remote_EnableServer=true\nPlugin_Remote_EnableClient=true\n\
             Plugin_Remote_Hostname={host}"
        ));
    }
}

#[test]
fn client_alone_on_localhost_is_not_a_loop() {
    let (config, warnings) = with_warnings("Plugin_Remote_EnableClient=true");
    assert_eq!(config, client_only("localhost", 60001));
    assert!(warnings.is_empty(), "{warnings:?}");
}

// ---------------------------------------------------------------------------------------------
// 6. Randomised robustness
// ---------------------------------------------------------------------------------------------

/// A xorshift64 generator: enough to vary inputs, and the same every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const KNOWN_KEYS: [&str; 26] = [
    "Plugin_Remote_EnableServer",
    "Plugin_Remote_ServerMode",
    "Plugin_Remote_ListenPort",
    "Plugin_Remote_EnableClient",
    "Plugin_Remote_ClientMode",
    "Plugin_Remote_Hostname",
    "Plugin_Remote_Port",
    "Plugin_Remote_RetryCount",
    "Plugin_Remote_AllLog",
    "Plugin_Remote_Websocket_Host",
    "Plugin_Remote_Websocket_Port",
    "Plugin_Remote_Websocket_Directory",
    "Plugin_Remote_EnableLocalLipsync",
    "Plugin_Remote_EnableLocalPassthrough",
    "Plugin_Remote_BindAddress",
    "Plugin_Remote_MaxPeers",
    "Plugin_Remote_MaxLineLength",
    "Plugin_Remote_KeepWhileDisconnected",
    "Plugin_Remote_RetryInterval",
    "Plugin_Remote_RetryForever",
    "Plugin_Remote_Websocket_Url",
    "Plugin_Remote_Websocket_CaFile",
    "Plugin_Remote_Websocket_AcceptInvalidCertificates",
    "Plugin_Remote_RetryIntervalMax",
    "Plugin_Remote_Websocket_PingInterval",
    "Plugin_Remote_Websocket_PongTimeout",
];

const NEAR_MISS_KEYS: [&str; 12] = [
    "Plugin_Remote_ListenPrt",
    "plugin_remote_port",
    "PLUGIN_REMOTE_ENABLESERVER",
    "Plugin_Remote_Port ",
    " Plugin_Remote_Port",
    "Plugin_Remote_",
    "Plugin_Remote_WebSocket_Host",
    "Plugin_Remote_Websocket_Url_",
    "Plugin_Remote_Volume",
    "Plugin_Remote_Ｐort",
    "Plugin_Julius_Conf",
    "",
];

const VALUES: [&str; 58] = [
    "true",
    "false",
    "TRUE",
    "Off",
    "yes",
    "no",
    "1",
    "0",
    "2",
    "maybe",
    "",
    " ",
    "\t",
    "80",
    "443",
    "60001",
    "65535",
    "65536",
    "-1",
    "+5",
    "4294967296",
    "localhost",
    "127.0.0.1",
    "::1",
    "[::1]",
    "[::1",
    "example.org",
    "exa mple",
    "/",
    "/chat",
    "chat",
    "/a b",
    "ws://h",
    "wss://h",
    "ws://h:0",
    "wss://[::1]:8443/x",
    "ws://[::1]junk",
    "ws://:80",
    "ws://u@h/",
    "WS://H:1/?q",
    "0.5",
    "2",
    "500ms",
    "1.5s",
    "10ms",
    "1e309",
    "NaN",
    "-0",
    "-0ms",
    "inf",
    "ms",
    "0.0000001",
    "日本語",
    "é",
    "\u{0}",
    "\u{7f}",
    "=",
    "#",
];

fn random_value(rng: &mut XorShift) -> String {
    match rng.below(10) {
        0 => {
            // Random characters, ASCII and not.
            let length = rng.below(20);
            (0..length)
                .map(|_| match rng.below(4) {
                    0 => char::from(rng.below(128) as u8),
                    1 => char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('\u{fffd}'),
                    _ => char::from(b' ' + rng.below(95) as u8),
                })
                .collect()
        }
        1 => {
            // Very long.
            let unit = rng.pick(&["9", "a", "/", "日", "ws://", "[", ":"]);
            unit.repeat(1 + rng.below(20_000))
        }
        2 => format!("{}", rng.next() as i64),
        3 => format!("{}{}", rng.pick(&VALUES), rng.pick(&VALUES)),
        _ => rng.pick(&VALUES).to_owned(),
    }
}

fn random_line(rng: &mut XorShift) -> String {
    let key = match rng.below(10) {
        0..=5 => rng.pick(&KNOWN_KEYS).to_owned(),
        6 | 7 => rng.pick(&NEAR_MISS_KEYS).to_owned(),
        8 => format!("#{}", rng.pick(&KNOWN_KEYS)),
        _ => random_value(rng),
    };
    let line = if rng.chance(90) {
        format!("{key}={}", random_value(rng))
    } else {
        key
    };
    match rng.below(6) {
        0 => format!("{line}\r"),
        1 => format!("{line} \t "),
        _ => line,
    }
}

fn random_settings(rng: &mut XorShift) -> (MdfSettings, String) {
    let mut settings = MdfSettings::new();
    let mut description = String::new();
    for file in 0..1 + rng.below(3) {
        let lines: Vec<String> = (0..rng.below(6)).map(|_| random_line(rng)).collect();
        let mut text = lines.join("\n");
        if rng.chance(10) {
            text.insert(0, '\u{feff}');
        }
        let name = format!("random-{file}.mdf");
        settings.load_str(&name, &text);
        description.push_str(&format!("--- {name}\n{text}\n"));
    }
    for _ in 0..rng.below(3) {
        let assignment = random_line(rng);
        settings.set(&assignment);
        description.push_str(&format!("--- set {assignment}\n"));
    }
    (settings, description)
}

/// What must hold of every configuration the crate accepts.
fn check_invariants(config: &Config, warnings: &[ConfigWarning], input: &str) {
    let context = || format!("input:\n{input}\nconfig: {config:?}");
    if let Some(server) = &config.tcp_server {
        assert_ne!(server.port, 0, "{}", context());
        assert!((1..=10_000).contains(&server.max_peers), "{}", context());
    }
    if let Some(client) = &config.tcp_client {
        assert_ne!(client.port, 0, "{}", context());
        assert!(!client.host.is_empty(), "{}", context());
        let interval = client.retry.interval;
        assert!(
            (Duration::from_millis(10)..=Duration::from_secs(3600)).contains(&interval),
            "{}",
            context()
        );
        if let Some(server) = &config.tcp_server {
            let loops = server.port == client.port
                && ["localhost", "127.0.0.1", "::1"].contains(&client.host.as_str());
            assert!(!loops, "a loop connection was kept: {}", context());
        }
    }
    if let Some(websocket) = &config.websocket_client {
        assert_ne!(websocket.port, 0, "{}", context());
        assert!(websocket.path.starts_with('/'), "{}", context());
        assert!(!websocket.host.is_empty(), "{}", context());
        assert!(
            config.tcp_server.is_none() && config.tcp_client.is_none(),
            "WebSocket and TCP both configured: {}",
            context()
        );
    }
    assert!(
        (1..=MAX_LINE_LENGTH_LIMIT).contains(&config.max_line_length),
        "{}",
        context()
    );
    for warning in warnings {
        let text = warning.to_string();
        assert!(text.starts_with(&warning.origin.to_string()), "{text}");
        assert!(!warning.message.is_empty(), "{}", context());
    }
}

#[test]
fn random_mdf_texts_never_panic_and_accepted_ones_are_consistent() {
    // The generator's key list must follow the crate's, so new keys get fuzzed too.
    let mut crate_keys: Vec<&str> = known_keys().map(|help| help.name).collect();
    let mut fuzzed_keys = KNOWN_KEYS.to_vec();
    crate_keys.sort_unstable();
    fuzzed_keys.sort_unstable();
    assert_eq!(fuzzed_keys, crate_keys, "update KNOWN_KEYS");

    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..2_000 {
        let (settings, input) = random_settings(&mut rng);
        match settings.to_config_with_warnings() {
            Ok((config, warnings)) => {
                accepted += 1;
                check_invariants(&config, &warnings, &input);
                // The same settings give the same answer.
                let (again, warnings_again) = settings.to_config_with_warnings().unwrap();
                assert_eq!((config, warnings), (again, warnings_again));
            }
            Err(error) => {
                refused += 1;
                let message = error.to_string();
                let Error::Setting(setting) = &error else {
                    panic!("only setting errors are possible without files: {message}");
                };
                assert!(
                    message.starts_with(&setting.origin.to_string()),
                    "{message}"
                );
                assert!(message.contains(&setting.key), "{message}");
                assert!(!setting.problem.is_empty(), "{message}");
            }
        }
    }
    // The generator must exercise both outcomes, or it tests little.
    assert!(accepted > 100, "only {accepted} of 2000 accepted");
    assert!(refused > 100, "only {refused} of 2000 refused");
}

#[test]
fn values_of_modes_that_are_off_are_still_checked() {
    for (text, key) in [
        ("Plugin_Remote_ListenPort=abc", "Plugin_Remote_ListenPort"),
        (
            "Plugin_Remote_RetryForever=true\nPlugin_Remote_RetryCount=abc",
            "Plugin_Remote_RetryCount",
        ),
        (
            "Plugin_Remote_Websocket_Port=http",
            "Plugin_Remote_Websocket_Port",
        ),
    ] {
        let message = config(text).unwrap_err().to_string();
        assert!(message.contains(key), "{text}: {message}");
    }
}

#[test]
fn the_first_bad_value_in_load_order_is_the_one_reported() {
    let mut settings = MdfSettings::new();
    settings.load_str("b.mdf", "Plugin_Remote_Port=x");
    settings.load_str("a.mdf", "Plugin_Remote_MaxPeers=0");
    let message = settings.to_config().unwrap_err().to_string();
    assert!(
        message.starts_with("b.mdf:1: Plugin_Remote_Port=x"),
        "{message}"
    );
}

#[test]
fn keep_while_disconnected_is_zero_by_default_and_takes_a_count() {
    assert_eq!(ok("").keep_while_disconnected, 0);
    assert_eq!(
        ok("Plugin_Remote_KeepWhileDisconnected=100").keep_while_disconnected,
        100
    );
    for bad in ["-1", "many", "1000001"] {
        let text = format!("Plugin_Remote_KeepWhileDisconnected={bad}");
        assert_refused(
            &text,
            1,
            "Plugin_Remote_KeepWhileDisconnected",
            &["not a number of messages"],
        );
    }
}

#[test]
fn a_key_for_a_transport_that_does_not_run_is_a_warning_that_says_why() {
    let (config, warnings) = with_warnings(
        "Plugin_Remote_EnableClient=true\nPlugin_Remote_ListenPort=5000\nPlugin_Remote_MaxPeers=3\n\
         Plugin_Remote_Websocket_Directory=/chat\n",
    );
    assert!(config.tcp_server.is_none());
    let said: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(said.len(), 3, "{said:#?}");
    assert!(said[0].contains("test.mdf:2: Plugin_Remote_ListenPort: no effect: no TCP server runs"));
    assert!(said[1].contains("Plugin_Remote_MaxPeers: no effect: no TCP server runs"));
    assert!(said[2].contains("Plugin_Remote_Websocket_Directory: no effect: no WebSocket client"));

    let (_, warnings) = with_warnings("Plugin_Remote_Port=5000\nPlugin_Remote_RetryCount=2\n");
    let said: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert!(
        said[0].contains("neither a TCP server nor a TCP client runs"),
        "{said:#?}"
    );
    assert!(said[1].contains("no client runs"), "{said:#?}");

    let (_, warnings) =
        with_warnings("Plugin_Remote_EnableServer=true\nPlugin_Remote_ListenPort=5000\n");
    assert!(warnings.is_empty(), "{warnings:#?}");
}
