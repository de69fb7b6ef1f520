//! What the `Plugin_Remote_*` values mean: from [`MdfSettings`] to a typed [`Config`].
//!
//! Every value is checked here, and a bad one becomes an [`Error::Setting`] naming the file, line,
//! key and what is wrong; nothing here panics on input. Where the original is lenient in a way that
//! hides mistakes (`False` counting as true, a port of `abc` counting as 0), this module refuses
//! instead; the README lists each such difference.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::address::{parse_host, parse_ip, parse_port, split_host_and_port};
use crate::config::keys::{self, Key};
use crate::config::mdf::{Entry, MdfSettings};
use crate::config::{
    Config, PingPolicy, RetryLimit, RetryPolicy, TcpClientConfig, TcpServerConfig,
    WebSocketClientConfig, DEFAULT_PORT, MAX_LINE_LENGTH_LIMIT,
};
use crate::error::{Error, Origin, SettingError};

/// Something in the settings that is allowed but probably not what was meant: an unknown key, or a
/// client that would connect to its own server. The configuration is still usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// Where the line is.
    pub origin: Origin,
    /// The key as written.
    pub key: String,
    /// What is odd about it and what was done.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.origin, self.key, self.message)
    }
}

impl MdfSettings {
    /// Interprets the settings as a [`Config`], logging each warning at `warn` level.
    ///
    /// Fails on the first value that cannot be used, naming its file, line and key.
    pub fn to_config(&self) -> Result<Config, Error> {
        let (config, warnings) = self.to_config_with_warnings()?;
        for warning in warnings {
            log::warn!("{warning}");
        }
        Ok(config)
    }

    /// Interprets the settings as a [`Config`] and returns the warnings instead of logging them.
    ///
    /// Every value present is checked, whether or not its mode is on, so a mistake is found before
    /// the day the mode is turned on; the first bad one, in the order the lines were loaded, is the
    /// error.
    pub fn to_config_with_warnings(&self) -> Result<(Config, Vec<ConfigWarning>), Error> {
        let values = Values { settings: self };
        for (key, entry) in self.known_entries() {
            if !entry.value.trim().is_empty() {
                check_value(key, entry.value.trim()).map_err(|problem| invalid(entry, problem))?;
            }
        }
        // Each warning with its line's load sequence, to be listed in the order the lines were read.
        let mut warnings: Vec<(usize, ConfigWarning)> = self
            .unknown_entries()
            .iter()
            .map(|entry| warning(entry, keys::explain_unknown(&entry.written_key)))
            .collect();

        let retry = RetryPolicy {
            limit: if values.flag(Key::RetryForever)? {
                RetryLimit::Forever
            } else {
                RetryLimit::Attempts(
                    values
                        .read(Key::RetryCount, parse_retry_count)?
                        .unwrap_or(0),
                )
            },
            interval: values
                .read(Key::RetryInterval, parse_interval)?
                .unwrap_or(RetryPolicy::DEFAULT_INTERVAL),
            max_interval: RetryPolicy::DEFAULT_MAX_INTERVAL,
        };
        let retry = values.retry_interval_max(retry)?;
        let port = values.read(Key::Port, parse_port)?.unwrap_or(DEFAULT_PORT);

        let server_switches = values.switches(Key::EnableServer, Key::ServerMode)?;
        let tcp_server = if server_switches.is_empty() {
            None
        } else {
            let mut server =
                TcpServerConfig::new(values.read(Key::ListenPort, parse_port)?.unwrap_or(port));
            if let Some(address) = values.read(Key::BindAddress, parse_ip)? {
                server.bind_address = address;
            }
            if let Some(max_peers) = values.read(Key::MaxPeers, parse_max_peers)? {
                server.max_peers = max_peers;
            }
            Some(server)
        };

        let client_switches = values.switches(Key::EnableClient, Key::ClientMode)?;
        let mut tcp_client = if client_switches.is_empty() {
            None
        } else {
            let host = values
                .read(Key::Hostname, parse_host)?
                .unwrap_or_else(|| "localhost".to_owned());
            let mut client = TcpClientConfig::new(host, port);
            client.retry = retry;
            Some(client)
        };

        if let (Some(server), Some(client)) = (&tcp_server, &tcp_client) {
            if is_loop_connection(server, client) {
                warnings.push(warning(
                    client_switches[0],
                    format!(
                        "loop connection: the client would connect to this agent's own server at {}:{}; \
                         client mode is switched off, as MMDAgent-EX does",
                        client.host, client.port
                    ),
                ));
                tcp_client = None;
            }
        }

        let websocket_client = values.websocket(retry, &mut warnings)?;
        if let Some((websocket_entry, _)) = &websocket_client {
            let tcp_switches: Vec<&Entry> = server_switches
                .iter()
                .chain(&client_switches)
                .copied()
                .collect();
            if !tcp_switches.is_empty() {
                return Err(conflict(websocket_entry, &tcp_switches));
            }
        }

        let no_effect = |keys: &[Key], why: &str, warnings: &mut Vec<(usize, ConfigWarning)>| {
            for &key in keys {
                if let Some(entry) = values.entry(key) {
                    warnings.push(warning(entry, format!("no effect: {why}")));
                }
            }
        };
        if server_switches.is_empty() {
            let why = format!(
                "no TCP server runs ({} is not on)",
                Key::EnableServer.name()
            );
            no_effect(
                &[Key::ListenPort, Key::BindAddress, Key::MaxPeers],
                &why,
                &mut warnings,
            );
        }
        if client_switches.is_empty() {
            let why = format!(
                "no TCP client runs ({} is not on)",
                Key::EnableClient.name()
            );
            no_effect(&[Key::Hostname], &why, &mut warnings);
            if server_switches.is_empty() {
                no_effect(
                    &[Key::Port],
                    "neither a TCP server nor a TCP client runs",
                    &mut warnings,
                );
            }
        }
        if websocket_client.is_none() {
            let why = format!(
                "no WebSocket client runs (neither {} nor {} is set)",
                Key::WebsocketHost.name(),
                Key::WebsocketUrl.name()
            );
            let websocket_keys = [
                Key::WebsocketPort,
                Key::WebsocketDirectory,
                Key::WebsocketCaFile,
                Key::WebsocketAcceptInvalidCertificates,
                Key::WebsocketPingInterval,
                Key::WebsocketPongTimeout,
            ];
            no_effect(&websocket_keys, &why, &mut warnings);
            if client_switches.is_empty() {
                let retry_keys = [
                    Key::RetryCount,
                    Key::RetryInterval,
                    Key::RetryIntervalMax,
                    Key::RetryForever,
                ];
                no_effect(
                    &retry_keys,
                    "no client runs, so nothing connects or retries",
                    &mut warnings,
                );
            }
        }

        let config = Config {
            tcp_server,
            tcp_client,
            websocket_client: websocket_client.map(|(_, websocket)| websocket),
            websocket_server: None,
            all_log: values.flag(Key::AllLog)?,
            max_line_length: values
                .read(Key::MaxLineLength, parse_max_line_length)?
                .unwrap_or(crate::config::DEFAULT_MAX_LINE_LENGTH),
            keep_while_disconnected: values
                .read(Key::KeepWhileDisconnected, parse_keep)?
                .unwrap_or(0),
        };
        warnings.sort_by_key(|(sequence, _)| *sequence);
        Ok((
            config,
            warnings.into_iter().map(|(_, warning)| warning).collect(),
        ))
    }
}

/// Whether a value is one its key can take. Every key is here, so a new key must say how it is
/// checked.
fn check_value(key: Key, text: &str) -> Result<(), String> {
    match key {
        Key::EnableServer
        | Key::ServerMode
        | Key::EnableClient
        | Key::ClientMode
        | Key::AllLog
        | Key::EnableLocalLipsync
        | Key::EnableLocalPassthrough
        | Key::RetryForever
        | Key::WebsocketAcceptInvalidCertificates => parse_bool(text).map(drop),
        Key::ListenPort | Key::Port | Key::WebsocketPort => parse_port(text).map(drop),
        Key::RetryCount => parse_retry_count(text).map(drop),
        Key::Hostname | Key::WebsocketHost => parse_host(text).map(drop),
        Key::WebsocketDirectory => parse_path(text).map(drop),
        Key::BindAddress => parse_ip(text).map(drop),
        Key::MaxPeers => parse_max_peers(text).map(drop),
        Key::MaxLineLength => parse_max_line_length(text).map(drop),
        Key::KeepWhileDisconnected => parse_keep(text).map(drop),
        Key::RetryInterval | Key::RetryIntervalMax | Key::WebsocketPongTimeout => {
            parse_interval(text).map(drop)
        }
        Key::WebsocketPingInterval => parse_ping_interval(text).map(drop),
        Key::WebsocketUrl => parse_websocket_url(text).map(drop),
        Key::WebsocketCaFile => Ok(()),
    }
}

/// Typed reads over the loaded settings, turning a bad value into an error that names its line.
struct Values<'a> {
    settings: &'a MdfSettings,
}

impl<'a> Values<'a> {
    /// The entry for `key` unless it is absent or its value is empty: an empty value means "not set",
    /// so a later file can put a key back to its default.
    fn entry(&self, key: Key) -> Option<&'a Entry> {
        self.settings
            .entry(key)
            .filter(|entry| !entry.value.trim().is_empty())
    }

    fn read<T>(&self, key: Key, parse: fn(&str) -> Result<T, String>) -> Result<Option<T>, Error> {
        self.read_with_entry(key, parse)
            .map(|found| found.map(|(value, _)| value))
    }

    fn read_with_entry<T>(
        &self,
        key: Key,
        parse: fn(&str) -> Result<T, String>,
    ) -> Result<Option<(T, &'a Entry)>, Error> {
        let Some(entry) = self.entry(key) else {
            return Ok(None);
        };
        match parse(entry.value.trim()) {
            Ok(value) => Ok(Some((value, entry))),
            Err(problem) => Err(invalid(entry, problem)),
        }
    }

    fn flag(&self, key: Key) -> Result<bool, Error> {
        Ok(self.read(key, parse_bool)?.unwrap_or(false))
    }

    /// The lines that turn on a mode with a current and an old spelling; the mode is on when either
    /// is, as in the original.
    fn switches(&self, current: Key, old: Key) -> Result<Vec<&'a Entry>, Error> {
        let mut on = Vec::new();
        for key in [current, old] {
            if let Some((true, entry)) = self.read_with_entry(key, parse_bool)? {
                on.push(entry);
            }
        }
        Ok(on)
    }

    /// `retry` with its longest pause from `Plugin_Remote_RetryIntervalMax`, which must not be
    /// shorter than the interval in effect.
    fn retry_interval_max(&self, mut retry: RetryPolicy) -> Result<RetryPolicy, Error> {
        if let Some((longest, entry)) =
            self.read_with_entry(Key::RetryIntervalMax, parse_interval)?
        {
            if longest < retry.interval {
                return Err(invalid(
                    entry,
                    format!(
                        "shorter than the retry interval ({:?}, {}): the longest pause must be at least the first",
                        retry.interval,
                        Key::RetryInterval.name()
                    ),
                ));
            }
            retry.max_interval = longest;
        }
        Ok(retry)
    }

    /// The ping policy of the WebSocket client: the defaults, unless
    /// `Plugin_Remote_Websocket_PingInterval` turns pings off or either key changes a time.
    fn ping(
        &self,
        warnings: &mut Vec<(usize, ConfigWarning)>,
    ) -> Result<Option<PingPolicy>, Error> {
        let interval = self.read(Key::WebsocketPingInterval, parse_ping_interval)?;
        let deadline = self.read(Key::WebsocketPongTimeout, parse_interval)?;
        match interval {
            Some(None) => {
                if let Some(entry) = self.entry(Key::WebsocketPongTimeout) {
                    let message = format!(
                        "no effect: {} turns pings off",
                        Key::WebsocketPingInterval.name()
                    );
                    warnings.push(warning(entry, message));
                }
                Ok(None)
            }
            interval => {
                let mut ping = PingPolicy::default();
                if let Some(Some(interval)) = interval {
                    ping.interval = interval;
                }
                if let Some(deadline) = deadline {
                    ping.deadline = deadline;
                }
                Ok(Some(ping))
            }
        }
    }

    /// The WebSocket client, from either the URL form or the Host/Port/Directory form, with the line
    /// that turned it on.
    fn websocket(
        &self,
        retry: RetryPolicy,
        warnings: &mut Vec<(usize, ConfigWarning)>,
    ) -> Result<Option<(&'a Entry, WebSocketClientConfig)>, Error> {
        let url = self.read_with_entry(Key::WebsocketUrl, parse_websocket_url)?;
        let host = self.read_with_entry(Key::WebsocketHost, parse_host)?;
        let (mut websocket, entry) = match (url, host) {
            (Some(_), Some((_, host_entry))) => {
                return Err(invalid(
                    host_entry,
                    format!(
                    "the WebSocket server is also given as a URL by {} at {}; keep one of the two",
                    Key::WebsocketUrl.name(),
                    self.entry(Key::WebsocketUrl)
                        .map(|e| e.origin.to_string())
                        .unwrap_or_default()
                ),
                ))
            }
            (Some((websocket, entry)), None) => {
                for ignored in [Key::WebsocketPort, Key::WebsocketDirectory] {
                    if let Some(ignored_entry) = self.entry(ignored) {
                        let message = format!(
                            "ignored: {} gives the whole address",
                            Key::WebsocketUrl.name()
                        );
                        warnings.push(warning(ignored_entry, message));
                    }
                }
                (websocket, entry)
            }
            (None, Some((host, entry))) => {
                let port = self.read(Key::WebsocketPort, parse_port)?.unwrap_or(80);
                let path = self
                    .read(Key::WebsocketDirectory, parse_path)?
                    .unwrap_or_else(|| "/".to_owned());
                (WebSocketClientConfig::new(host, port, path), entry)
            }
            (None, None) => return Ok(None),
        };
        websocket.retry = retry;
        websocket.ping = self.ping(warnings)?;
        websocket.ca_file = self.read(Key::WebsocketCaFile, |path| Ok(PathBuf::from(path)))?;
        websocket.accept_invalid_certificates =
            self.flag(Key::WebsocketAcceptInvalidCertificates)?;
        if !websocket.tls {
            for tls_only in [
                Key::WebsocketCaFile,
                Key::WebsocketAcceptInvalidCertificates,
            ] {
                if let Some(tls_entry) = self.entry(tls_only) {
                    let message =
                        format!("no effect: {} is not a TLS (wss) address", websocket.url());
                    warnings.push(warning(tls_entry, message));
                }
            }
        }
        Ok(Some((entry, websocket)))
    }
}

fn warning(entry: &Entry, message: String) -> (usize, ConfigWarning) {
    let warning = ConfigWarning {
        origin: entry.origin.clone(),
        key: entry.written_key.clone(),
        message,
    };
    (entry.sequence, warning)
}

fn invalid(entry: &Entry, problem: String) -> Error {
    SettingError {
        origin: entry.origin.clone(),
        key: entry.written_key.clone(),
        value: entry.value.clone(),
        problem,
    }
    .into()
}

fn conflict(websocket: &Entry, tcp_switches: &[&Entry]) -> Error {
    let tcp_lines: Vec<String> = tcp_switches
        .iter()
        .map(|entry| format!("{} ({})", entry.written_key, entry.origin))
        .collect();
    invalid(
        websocket,
        format!(
            "WebSocket and TCP/IP cannot be configured together; remove {} for WebSocket, \
             or remove {} for TCP/IP",
            tcp_lines.join(" and "),
            websocket.written_key
        ),
    )
}

/// Whether a TCP client would reach the same agent's own server. The original knows only
/// `localhost` and `127.0.0.1`; this also knows the rest of the loopback range, `::1`, and the
/// address the server binds.
fn is_loop_connection(server: &TcpServerConfig, client: &TcpClientConfig) -> bool {
    if server.port != client.port {
        return false;
    }
    let host = client.host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost"
        || host.parse::<IpAddr>().is_ok_and(|address| {
            let address = address.to_canonical();
            address.is_loopback() || address == server.bind_address.to_canonical()
        })
}

fn parse_bool(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => {
            Err("not a boolean: write true or false (yes/no, on/off and 1/0 also work)".to_owned())
        }
    }
}

fn parse_retry_count(text: &str) -> Result<u32, String> {
    text.parse::<u32>().map_err(|_| {
        format!(
            "not a number of retries: write a whole number from 0 to {} ({}=true retries without end)",
            u32::MAX,
            Key::RetryForever.name()
        )
    })
}

fn parse_max_peers(text: &str) -> Result<usize, String> {
    const MOST: usize = 10_000;
    match text.parse::<usize>() {
        Ok(count) if (1..=MOST).contains(&count) => Ok(count),
        _ => Err(format!(
            "not a peer limit: write a whole number from 1 to {MOST}"
        )),
    }
}

fn parse_max_line_length(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(length) if (1..=MAX_LINE_LENGTH_LIMIT).contains(&length) => Ok(length),
        _ => Err(format!(
            "not a line length: write a number of bytes from 1 to {MAX_LINE_LENGTH_LIMIT}"
        )),
    }
}

fn parse_keep(text: &str) -> Result<usize, String> {
    const MOST: usize = 1_000_000;
    match text.parse::<usize>() {
        Ok(count) if count <= MOST => Ok(count),
        _ => Err(format!(
            "not a number of messages: write a whole number from 0 to {MOST}"
        )),
    }
}

/// `0.5`, `2` (seconds), `500ms` or `1.5s`; between 10 ms and an hour, so a retry loop can neither
/// hammer a server nor look hung.
fn parse_interval(text: &str) -> Result<Duration, String> {
    const LEAST: Duration = Duration::from_millis(10);
    const MOST: Duration = Duration::from_secs(3600);
    let problem = || {
        "not an interval: write seconds (0.5), or a number with ms or s (500ms, 2s), from 10ms to 3600s".to_owned()
    };
    let (number, scale) = if let Some(number) = text.strip_suffix("ms") {
        (number, 0.001)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1.0)
    } else {
        (text, 1.0)
    };
    let seconds = number.trim().parse::<f64>().map_err(|_| problem())? * scale;
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(problem());
    }
    let interval = Duration::from_secs_f64(seconds.min(MOST.as_secs_f64() * 2.0));
    if (LEAST..=MOST).contains(&interval) {
        Ok(interval)
    } else {
        Err(problem())
    }
}

/// An interval as [`parse_interval`] reads it, or `0` or `off` for no pings at all.
fn parse_ping_interval(text: &str) -> Result<Option<Duration>, String> {
    if text.eq_ignore_ascii_case("off") || text.parse::<f64>().is_ok_and(|number| number == 0.0) {
        return Ok(None);
    }
    parse_interval(text)
        .map(Some)
        .map_err(|problem| format!("{problem}; or 0 or off for no pings"))
}

fn parse_path(text: &str) -> Result<String, String> {
    if !text.starts_with('/') {
        return Err(format!(
            "not a request path: it must start with `/`, as in /{text}"
        ));
    }
    if text
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '#')
    {
        return Err(
            "not a request path: it must not contain spaces, control characters or #".to_owned(),
        );
    }
    Ok(text.to_owned())
}

/// `ws://host[:port][/path]` or `wss://...`, with `[v6]` hosts.
fn parse_websocket_url(text: &str) -> Result<WebSocketClientConfig, String> {
    let problem = |what: &str| {
        format!("not a WebSocket URL ({what}): write ws://host:port/path or wss://host:port/path")
    };
    let (tls, rest) = if let Some(rest) = strip_prefix_ignore_case(text, "wss://") {
        (true, rest)
    } else if let Some(rest) = strip_prefix_ignore_case(text, "ws://") {
        (false, rest)
    } else {
        return Err(problem("the scheme must be ws:// or wss://"));
    };
    let path_start = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(path_start);
    let path = match path {
        "" => "/".to_owned(),
        path if path.starts_with('?') => format!("/{path}"),
        path => path.to_owned(),
    };
    if path.contains('#') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(problem(
            "the path has a fragment, a space or a control character",
        ));
    }
    let (host, port) = split_host_and_port(authority).map_err(|why| problem(&why))?;
    let host = parse_host(host).map_err(|_| {
        problem("the host is missing, has a user name, or has characters a host cannot")
    })?;
    let port = match port {
        Some(port) => {
            parse_port(port).map_err(|_| problem("the port is not a number from 1 to 65535"))?
        }
        None if tls => 443,
        None => 80,
    };
    let mut websocket = WebSocketClientConfig::new(host, port, path);
    websocket.tls = tls;
    Ok(websocket)
}

fn strip_prefix_ignore_case<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}
