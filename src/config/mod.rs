//! Typed settings for the transports, and how they are read from `.mdf` files.
//!
//! [`Config`] and its parts are plain structs with documented defaults: build them in code, or read
//! them from `.mdf` files with [`MdfSettings`]. Nothing here opens a socket or resolves a name.

mod address;
mod interpret;
mod keys;
mod mdf;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use address::{AddressError, HostPort, ListenAddress};
pub use interpret::ConfigWarning;
pub use keys::{known_keys, KeyHelp};
pub use mdf::MdfSettings;

use crate::error::Error;

/// The port the original listens on and connects to when none is configured.
pub const DEFAULT_PORT: u16 = 60001;

/// The default longest inbound line, in bytes (the original's read buffer is 8192 bytes; this is
/// eight times that, so long LLM replies fit, and still bounds each connection's memory).
pub const DEFAULT_MAX_LINE_LENGTH: usize = 64 * 1024;

/// The largest accepted [`Config::max_line_length`]: a bound on memory per connection.
pub const MAX_LINE_LENGTH_LIMIT: usize = 64 * 1024 * 1024;

/// The default number of controllers a TCP server serves at once (the original's fixed limit).
pub const DEFAULT_MAX_PEERS: usize = 20;

/// Which transports to run and how; what a set of `.mdf` files says.
///
/// The default runs nothing, as an `.mdf` without `Plugin_Remote_*` keys does.
///
/// ```
/// use mmdagent_remote::{Config, TcpServerConfig};
///
/// let mut config = Config::default();
/// config.tcp_server = Some(TcpServerConfig::new(50001));
/// assert_eq!(config.tcp_server.as_ref().unwrap().port, 50001);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Accept controllers over TCP (`Plugin_Remote_EnableServer`).
    pub tcp_server: Option<TcpServerConfig>,
    /// Connect to a controller's TCP server (`Plugin_Remote_EnableClient`).
    pub tcp_client: Option<TcpClientConfig>,
    /// Connect to a controller's WebSocket server (`Plugin_Remote_Websocket_Host` or `_Url`).
    pub websocket_client: Option<WebSocketClientConfig>,
    /// Serve WebSocket for agents to connect to: the controller's side, which the original has not
    /// (so no `.mdf` key sets it).
    pub websocket_server: Option<WebSocketServerConfig>,
    /// Send every log line to peers instead of only messages (`Plugin_Remote_AllLog`). The crate
    /// does not produce log lines for peers itself; this tells the host application what to send.
    pub all_log: bool,
    /// The longest inbound line in bytes, newline not counted (`Plugin_Remote_MaxLineLength`,
    /// default [`DEFAULT_MAX_LINE_LENGTH`]). A longer line is dropped and reported.
    pub max_line_length: usize,
    /// How many outbound messages to keep while no peer is connected, to deliver in order to the
    /// next peer that connects (`Plugin_Remote_KeepWhileDisconnected`). Default 0: they are dropped,
    /// counted and logged, as the original drops them. When more wait, the oldest are dropped.
    pub keep_while_disconnected: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tcp_server: None,
            tcp_client: None,
            websocket_client: None,
            websocket_server: None,
            all_log: false,
            max_line_length: DEFAULT_MAX_LINE_LENGTH,
            keep_while_disconnected: 0,
        }
    }
}

impl Config {
    /// Reads `.mdf` files in order, later ones overriding, and interprets them.
    ///
    /// Warnings (an unknown key, a loop connection) are logged; use [`MdfSettings`] directly to
    /// receive them as values instead.
    pub fn from_mdf_files<P: AsRef<Path>>(
        paths: impl IntoIterator<Item = P>,
    ) -> Result<Config, Error> {
        let mut settings = MdfSettings::new();
        for path in paths {
            settings.load_file(path)?;
        }
        settings.to_config()
    }

    /// Whether any transport is configured.
    pub fn has_transport(&self) -> bool {
        self.tcp_server.is_some()
            || self.tcp_client.is_some()
            || self.websocket_client.is_some()
            || self.websocket_server.is_some()
    }
}

/// The agent as a TCP server that controllers connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TcpServerConfig {
    /// The address to bind (`Plugin_Remote_BindAddress`). Default `0.0.0.0`, every IPv4
    /// interface, as the original; `127.0.0.1` or `::1` keep the server local, `::` takes IPv6.
    pub bind_address: IpAddr,
    /// The port to listen on (`Plugin_Remote_ListenPort`, else `Plugin_Remote_Port`, else
    /// [`DEFAULT_PORT`]). Port 0, possible only from code, picks a free port.
    pub port: u16,
    /// The most controllers served at once (`Plugin_Remote_MaxPeers`, default
    /// [`DEFAULT_MAX_PEERS`]). A connection gives its place back as soon as its peer stops
    /// sending; one over the limit waits a quarter of a second for a place, and is then closed.
    pub max_peers: usize,
}

impl TcpServerConfig {
    /// A server on every IPv4 interface at `port`, with the default peer limit.
    pub fn new(port: u16) -> Self {
        TcpServerConfig {
            bind_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port,
            max_peers: DEFAULT_MAX_PEERS,
        }
    }
}

impl Default for TcpServerConfig {
    fn default() -> Self {
        TcpServerConfig::new(DEFAULT_PORT)
    }
}

/// The agent as a TCP client of a controller's server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TcpClientConfig {
    /// The host to connect to, a name or an address (`Plugin_Remote_Hostname`, default `localhost`).
    pub host: String,
    /// The port to connect to (`Plugin_Remote_Port`, default [`DEFAULT_PORT`]).
    pub port: u16,
    /// When to try again after a failed attempt or a lost connection.
    pub retry: RetryPolicy,
    /// How long one connection attempt may wait for the server to answer (default
    /// [`DEFAULT_CONNECT_TIMEOUT`]).
    pub connect_timeout: Duration,
}

/// How long a connection attempt waits for an answer by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an agent may take by default to finish its TLS handshake and upgrade with this crate's
/// WebSocket server: short, since an agent on a working link upgrades in milliseconds and a
/// connection that idles in its handshake only holds a thread.
pub const DEFAULT_SERVER_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

impl TcpClientConfig {
    /// A client of `host:port` that does not retry, as the original by default.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        TcpClientConfig {
            host: host.into(),
            port,
            retry: RetryPolicy::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

impl Default for TcpClientConfig {
    fn default() -> Self {
        TcpClientConfig::new("localhost", DEFAULT_PORT)
    }
}

/// The agent as a WebSocket client of a controller's server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebSocketClientConfig {
    /// The server's host (`Plugin_Remote_Websocket_Host`, or the host of `_Url`).
    pub host: String,
    /// The server's port (`Plugin_Remote_Websocket_Port`, default 80; or the port of `_Url`,
    /// default 80 for `ws://` and 443 for `wss://`).
    pub port: u16,
    /// The request path, the "channel" (`Plugin_Remote_Websocket_Directory`, default `/`).
    pub path: String,
    /// Whether to speak TLS (wss): port 443 with the Host form, the scheme with the URL form.
    pub tls: bool,
    /// When to try again after a failed attempt or a lost connection.
    pub retry: RetryPolicy,
    /// An extra CA certificate file (PEM) to trust besides the system's
    /// (`Plugin_Remote_Websocket_CaFile`).
    pub ca_file: Option<PathBuf>,
    /// Skip certificate verification (`Plugin_Remote_Websocket_AcceptInvalidCertificates`).
    /// Off by default: the original accepts any certificate; this crate does only when asked.
    pub accept_invalid_certificates: bool,
    /// How long connecting, the TLS handshake and the WebSocket upgrade may take together before
    /// the attempt counts as failed (default [`DEFAULT_CONNECT_TIMEOUT`]).
    pub connect_timeout: Duration,
    /// The largest frame (and message) accepted from the server, in bytes; a larger one ends the
    /// connection (default [`DEFAULT_MAX_FRAME_SIZE`]; the original's is 8192).
    pub max_frame_size: usize,
    /// How the link is checked for life (`Plugin_Remote_Websocket_PingInterval` and
    /// `_PongTimeout`); `None`: never, as the original. On by default, see [`PingPolicy`].
    pub ping: Option<PingPolicy>,
}

/// The default largest WebSocket frame accepted: 1 MiB.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 1 << 20;

/// The port of the user guide's WebSocket examples.
pub const DEFAULT_WEBSOCKET_PORT: u16 = 9001;

/// A WebSocket server that agents connect to, as the user guide's Python servers are.
///
/// ```
/// use mmdagent_remote::WebSocketServerConfig;
///
/// let mut server = WebSocketServerConfig::new(9001);
/// server.path = Some("/chat".to_owned());
/// server.exclusive_paths = true; // a second agent on /chat is told 429 and moves to /chat-1
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebSocketServerConfig {
    /// The address to bind. Default `127.0.0.1`, as the user guide's examples serve `localhost`.
    pub bind_address: IpAddr,
    /// The port to listen on (default [`DEFAULT_WEBSOCKET_PORT`]; 0 picks a free one).
    pub port: u16,
    /// The request path served; `path-1`, `path-2`... are served too, being where an agent goes
    /// when told a channel is taken. `None` (the default) serves any path. Other paths get 404.
    pub path: Option<String>,
    /// Answer `429 Too Many Requests` when a path already has an agent, as relays do.
    pub exclusive_paths: bool,
    /// The most agents served at once (default 20). An agent takes its place once its upgrade
    /// request is read, so a connection that never finishes its handshake holds none; one over
    /// the limit waits a quarter of a second for a place and is then answered
    /// `503 Service Unavailable` with the reason. At most 64 connections (or `max_peers`, if more)
    /// are in their handshake at once; past that a new one is closed at once.
    pub max_peers: usize,
    /// Serve wss with this certificate and key.
    pub tls: Option<TlsIdentity>,
    /// The largest frame (and message) accepted, in bytes (default [`DEFAULT_MAX_FRAME_SIZE`]).
    pub max_frame_size: usize,
    /// How the link is checked for life; `None`: never. On by default, see [`PingPolicy`].
    pub ping: Option<PingPolicy>,
    /// How long the TLS handshake and the upgrade may take (default
    /// [`DEFAULT_SERVER_HANDSHAKE_TIMEOUT`]): a connection that has not finished by then is closed.
    pub handshake_timeout: Duration,
}

impl WebSocketServerConfig {
    /// A plain (ws) server on `127.0.0.1:port`, any path, up to 20 agents.
    pub fn new(port: u16) -> Self {
        WebSocketServerConfig {
            bind_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
            path: None,
            exclusive_paths: false,
            max_peers: DEFAULT_MAX_PEERS,
            tls: None,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            ping: Some(PingPolicy::default()),
            handshake_timeout: DEFAULT_SERVER_HANDSHAKE_TIMEOUT,
        }
    }
}

impl Default for WebSocketServerConfig {
    fn default() -> Self {
        WebSocketServerConfig::new(DEFAULT_WEBSOCKET_PORT)
    }
}

/// A certificate chain and its private key, both PEM files, for serving wss.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsIdentity {
    /// The server's certificate, followed by any intermediate certificates.
    pub certificate_chain: PathBuf,
    /// The private key, PKCS #8 (`-----BEGIN PRIVATE KEY-----`).
    pub private_key: PathBuf,
}

impl TlsIdentity {
    /// An identity from a certificate chain file and a key file.
    pub fn new(certificate_chain: impl Into<PathBuf>, private_key: impl Into<PathBuf>) -> Self {
        TlsIdentity {
            certificate_chain: certificate_chain.into(),
            private_key: private_key.into(),
        }
    }
}

impl WebSocketClientConfig {
    /// A client of `ws://host:port/path`, or `wss://` when `port` is 443 as in the original.
    pub fn new(host: impl Into<String>, port: u16, path: impl Into<String>) -> Self {
        WebSocketClientConfig {
            host: host.into(),
            port,
            path: path.into(),
            tls: port == 443,
            retry: RetryPolicy::default(),
            ca_file: None,
            accept_invalid_certificates: false,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            ping: Some(PingPolicy::default()),
        }
    }

    /// The server's address as a URL, for messages and the upgrade request.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{host}:{}{}", self.port, self.path)
    }
}

/// How often and how soon to try connecting again.
///
/// The default makes no further attempt, as the original (`Plugin_Remote_RetryCount=0`). When
/// there are retries, the pauses grow: the `n`-th pause after a failure is drawn at random
/// between half and all of `interval × 2^(n-1)`, capped at `max_interval` ("equal jitter"), so the
/// first pause is at most `interval` (0.5 s, the original's fixed pause), and a thousand agents
/// restarted with their server spread their attempts instead of coming back in the same
/// millisecond. The count starts again once a link has stayed up for `max_interval`; a link
/// lost sooner is followed by the next pause, so a server that accepts and at once closes is not
/// hammered.
///
/// Dead links are found by WebSocket pings ([`PingPolicy`]). TCP keepalive is not available:
/// the standard library has no call for `SO_KEEPALIVE` or its idle time, and this crate uses no
/// unsafe code and no socket crate. Over TCP, a peer that closed or crashed is noticed at once
/// (its kernel answers with FIN or RST); one that vanished without a word (a closed laptop lid,
/// an expired NAT entry) is noticed only when the host sends to it and the writes fail or back up
/// to the peer's outbox bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// How many further attempts after a failed one.
    pub limit: RetryLimit,
    /// The longest first pause (`Plugin_Remote_RetryInterval`, default 0.5 s).
    pub interval: Duration,
    /// The longest pause, however many attempts failed (`Plugin_Remote_RetryIntervalMax`,
    /// default [`RetryPolicy::DEFAULT_MAX_INTERVAL`]); also how long a link must stay up for the
    /// pauses to start again from `interval`. Less than `interval` counts as `interval`.
    pub max_interval: Duration,
}

impl RetryPolicy {
    /// The original's pause between attempts.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(500);

    /// The default longest pause: long enough to spare a server that is coming back, short
    /// enough that an agent is back within half a minute of it.
    pub const DEFAULT_MAX_INTERVAL: Duration = Duration::from_secs(30);

    /// A policy with `limit` further attempts at the default intervals.
    pub fn new(limit: RetryLimit) -> Self {
        RetryPolicy {
            limit,
            interval: Self::DEFAULT_INTERVAL,
            max_interval: Self::DEFAULT_MAX_INTERVAL,
        }
    }

    /// Whether the `retry`-th further attempt (counting from 1) may be made.
    pub fn allows(&self, retry: u64) -> bool {
        match self.limit {
            RetryLimit::Attempts(count) => retry <= u64::from(count),
            RetryLimit::Forever => true,
        }
    }

    /// The longest pause: `max_interval`, or `interval` if that is longer.
    pub fn longest_pause(&self) -> Duration {
        self.max_interval.max(self.interval)
    }
}

/// How a WebSocket connection checks that its link is alive: when nothing has arrived for
/// `interval`, it sends a Ping; when nothing (a Pong or anything else) has arrived `deadline`
/// after that, the link is declared dead and closed
/// ([`DisconnectReason::PingTimeout`](crate::DisconnectReason::PingTimeout)), and a client
/// connects again. A write that makes no progress for `interval + deadline` ends the connection
/// too.
///
/// On by default (30 s, then 10 s), although the original sends no pings: every WebSocket
/// server answers them (RFC 6455 5.5.2), and without them a peer behind a closed laptop lid or
/// an expired NAT entry stays "connected" for hours. An idle link costs one small frame and one
/// wake-up of its writer per interval; TCP connections have no timer at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PingPolicy {
    /// How long the link may be quiet before a Ping is sent (default 30 s).
    pub interval: Duration,
    /// How long after the Ping something must arrive (default 10 s).
    pub deadline: Duration,
}

impl PingPolicy {
    /// The default quiet time before a Ping.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
    /// The default wait for an answer.
    pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);

    /// A Ping after `interval` of quiet, answered within `deadline`.
    pub fn new(interval: Duration, deadline: Duration) -> Self {
        PingPolicy { interval, deadline }
    }
}

impl Default for PingPolicy {
    fn default() -> Self {
        PingPolicy::new(Self::DEFAULT_INTERVAL, Self::DEFAULT_DEADLINE)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::new(RetryLimit::Attempts(0))
    }
}

/// How many further connection attempts a [`RetryPolicy`] allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryLimit {
    /// This many after a failed attempt (`Plugin_Remote_RetryCount`).
    Attempts(u32),
    /// Without end (`Plugin_Remote_RetryForever=true`).
    Forever,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_policy_counts_further_attempts() {
        let none = RetryPolicy::default();
        assert!(!none.allows(1));
        let two = RetryPolicy::new(RetryLimit::Attempts(2));
        assert!(two.allows(1) && two.allows(2) && !two.allows(3));
        assert!(RetryPolicy::new(RetryLimit::Forever).allows(u64::MAX));
    }

    #[test]
    fn websocket_url_brackets_ipv6_and_shows_the_scheme() {
        assert_eq!(
            WebSocketClientConfig::new("localhost", 9001, "/chat").url(),
            "ws://localhost:9001/chat"
        );
        assert_eq!(
            WebSocketClientConfig::new("::1", 443, "/").url(),
            "wss://[::1]:443/"
        );
    }
}
