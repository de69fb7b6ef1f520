//! Fault suite, shutting down in every state a transport can be in: listening, in an upgrade (as
//! server and as client), connected with data queued for a peer that does not read, waiting to
//! retry, and resolving a name. Each must return within [`PROMPT`] (the goal is 50 ms; the bound
//! leaves room for a loaded 2-core machine) and prints the figure.
//!
//! In every case a witness peer on the same process's TCP server keeps its round trips going
//! until just before the shutdown (it then stops sending, so that nothing it sent is still
//! unread when the host closes, which would reset its connection), and must then receive what
//! was queued for it, `LAST|...`, and a clean end of stream: a shutdown writes what is queued
//! before it closes.
//!
//! `tests/shutdown.rs` checks the same states with a 5 s bound and that no library thread is left.

mod support;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use mmdagent_remote::{
    Config, Event, HostOptions, RetryLimit, RetryPolicy, TcpClientConfig, Transport,
    WebSocketClientConfig, WebSocketServerConfig,
};
use support::witness::{tcp_server_config, Host, Witness};
use support::{accept, refused_address};

const PROMPT: Duration = Duration::from_secs(1);
/// Far longer than any bound here: a shutdown that waited for one of these would fail.
const LONG: Duration = Duration::from_secs(60);

fn retry_forever(interval: Duration) -> RetryPolicy {
    let mut retry = RetryPolicy::new(RetryLimit::Forever);
    retry.interval = interval;
    retry
}

/// The host under test: `configure` adds the transport in the state to test to a TCP server
/// that serves the witness.
fn host_with_witness(options: HostOptions, configure: impl FnOnce(&mut Config)) -> (Host, Witness) {
    let mut config = tcp_server_config();
    configure(&mut config);
    let host = Host::start_with(&config, options);
    let witness = Witness::tcp(&host, host.tcp_address());
    (host, witness)
}

/// Stops the witness's sending, queues `LAST|<state>` for it, shuts down (asserting less than
/// [`PROMPT`]) and checks what the witness got.
fn shut_down(host: Host, mut witness: Witness, state: &str) {
    witness.wait_rounds(witness.report_rounds() + 3);
    witness.quiesce();
    host.remote().send_message("LAST", state).unwrap();
    let took = host.shutdown();
    eprintln!("shutdown while {state}: {took:?}");
    witness.after_shutdown(&format!("LAST|{state}"));
    assert!(took < PROMPT, "shutdown while {state} took {took:?}");
}

#[test]
fn shutdown_while_listening_is_prompt() {
    let (host, witness) = host_with_witness(HostOptions::default(), |config| {
        config.websocket_server = Some(WebSocketServerConfig::new(0));
    });
    shut_down(host, witness, "listening");
}

/// A client connected to the WebSocket server and sent half its upgrade request; the server's
/// handshake timeout is a minute.
#[test]
fn shutdown_while_the_websocket_server_is_in_an_upgrade_is_prompt() {
    let (host, witness) = host_with_witness(HostOptions::default(), |config| {
        let mut server = WebSocketServerConfig::new(0);
        server.handshake_timeout = LONG;
        config.websocket_server = Some(server);
    });
    let mut half = TcpStream::connect(host.websocket_address()).unwrap();
    half.write_all(b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    shut_down(host, witness, "the WebSocket server is in an upgrade");
    drop(half);
}

/// The WebSocket client connected and sent its upgrade; the server never answers, and the
/// connect timeout is a minute.
#[test]
fn shutdown_while_the_websocket_client_waits_for_its_upgrade_is_prompt() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let (host, witness) = host_with_witness(HostOptions::default(), |config| {
        let mut client = WebSocketClientConfig::new("127.0.0.1", port, "/chat");
        client.connect_timeout = LONG;
        config.websocket_client = Some(client);
    });
    let _held = accept(&silent);
    shut_down(host, witness, "the WebSocket client waits for its upgrade");
}

/// A TCP peer that never reads, with megabytes queued for it (the outbox bound is raised so it is
/// not dropped first). Closing waits for what is queued at most `flush_timeout`, 1 s by default;
/// here 200 ms, so the shutdown must still be within the bound.
#[test]
fn shutdown_with_data_queued_for_a_peer_that_does_not_read_is_prompt() {
    let mut options = HostOptions::default();
    options.outbound_queue_bytes = 64 << 20;
    options.flush_timeout = Duration::from_millis(200);
    let (host, witness) = host_with_witness(options, |_| {});
    let stuck = TcpStream::connect(host.tcp_address()).unwrap();
    let stuck_peer = host.connected(stuck.local_addr().unwrap());
    let chunk = "q".repeat(60_000);
    for _ in 0..200 {
        host.remote()
            .send_to(stuck_peer, &support::message("QUEUED", &chunk))
            .unwrap();
    }
    shut_down(
        host,
        witness,
        "12 MB are queued for a peer that does not read",
    );
    drop(stuck);
}

/// The WebSocket client is connected to a bare server that does not read, with megabytes queued.
#[test]
fn shutdown_with_data_queued_for_a_websocket_server_that_does_not_read_is_prompt() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut options = HostOptions::default();
    options.outbound_queue_bytes = 64 << 20;
    options.flush_timeout = Duration::from_millis(200);
    let (host, witness) = host_with_witness(options, |config| {
        config.websocket_client = Some(WebSocketClientConfig::new("127.0.0.1", port, "/"));
    });
    let server = tungstenite::accept(accept(&listener)).expect("upgrade");
    let agent = host.wait_for("the WebSocket connection", |event| match event {
        Event::Connected {
            peer,
            transport: Transport::WebSocketClient,
            ..
        } => Some(*peer),
        _ => None,
    });
    let chunk = "q".repeat(60_000);
    for _ in 0..200 {
        host.remote()
            .send_to(agent, &support::message("QUEUED", &chunk))
            .unwrap();
    }
    shut_down(host, witness, "12 MB are queued for a WebSocket server");
    drop(server);
}

/// The TCP client failed to connect and waits a minute before it tries again.
#[test]
fn shutdown_while_a_client_waits_to_retry_is_prompt() {
    let unused = refused_address();
    let (host, witness) = host_with_witness(HostOptions::default(), |config| {
        let mut client = TcpClientConfig::new(unused.ip().to_string(), unused.port());
        client.retry = retry_forever(LONG);
        config.tcp_client = Some(client);
    });
    // Its first attempt is refused at once; the witness's rounds take longer than that.
    shut_down(host, witness, "a client waits to retry");
}

/// The TCP and WebSocket clients try a name that does not resolve (`.invalid`, RFC 6761) again
/// and again, 10 ms apart, so the shutdown finds them resolving or about to. (A lookup that
/// hangs cannot be made from outside the library; its unit tests stand on a resolver that never
/// answers.)
#[test]
fn shutdown_while_clients_resolve_a_name_is_prompt() {
    let (host, witness) = host_with_witness(HostOptions::default(), |config| {
        let mut client = TcpClientConfig::new("fault-suite.invalid", 60001);
        client.retry = retry_forever(Duration::from_millis(10));
        config.tcp_client = Some(client);
        let mut client = WebSocketClientConfig::new("fault-suite.invalid", 9001, "/chat");
        client.retry = retry_forever(Duration::from_millis(10));
        config.websocket_client = Some(client);
    });
    shut_down(host, witness, "clients resolve a name");
}
