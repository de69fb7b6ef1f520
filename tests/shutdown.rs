//! Shutting down is prompt in every state a library thread can block in, and leaves none of them
//! running. One test in its own binary, so the thread count is this test's alone.
//!
//! The time bounds are far above what a correct shutdown takes (milliseconds) and far below what a
//! wrong one would (the 60-second sleeps and timeouts configured here), so a busy machine does not
//! make this test flaky.

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use mmdagent_remote::{
    Config, Event, HostOptions, Remote, RetryLimit, RetryPolicy, TcpClientConfig, TcpServerConfig,
    WebSocketClientConfig, WebSocketServerConfig,
};
use support::{eventually, library_threads, message, wait_for, within};

const PROMPT: Duration = Duration::from_secs(5);
const LONG: Duration = Duration::from_secs(60);

fn client(address: SocketAddr) -> TcpClientConfig {
    let mut client = TcpClientConfig::new(address.ip().to_string(), address.port());
    client.retry = RetryPolicy::new(RetryLimit::Forever);
    client.retry.interval = LONG;
    client.connect_timeout = LONG;
    client
}

/// Shuts down within `PROMPT`, or fails the test.
fn shut_down_in_time(remote: Remote, state: &str) {
    let started = Instant::now();
    within(PROMPT, state, move || remote.shutdown())
        .unwrap_or_else(|error| panic!("{state}: {error}"));
    let took = started.elapsed();
    assert!(took < PROMPT, "{state}: shutdown took {took:?}");
}

/// The threads a lookup or a connect runs on, which shutting down walks away from: neither call can
/// be interrupted, and each ends by itself within its own time (here the 60-second connect
/// timeout), holding nothing of the library's. Every other library thread must be gone.
const LEFT_TO_FINISH: [&str; 2] = ["mdr-lookup", "mdr-dial"];

/// The library's threads that still run, but for those left to finish.
fn still_running() -> Vec<String> {
    library_threads()
        .into_iter()
        .filter(|name| !LEFT_TO_FINISH.contains(&name.as_str()))
        .collect()
}

/// Shuts down the last handle in time and checks that no library thread is left but those.
fn shut_down_promptly(remote: Remote, state: &str) {
    shut_down_in_time(remote, state);
    let left = still_running();
    assert!(
        left.is_empty(),
        "{state}: library threads still running: {left:?}"
    );
}

/// A listener whose accept queue is full: the kernel drops further SYNs, so a connection attempt to
/// it hangs, as one to a host that does not answer.
fn unanswering_listener() -> Option<(TcpListener, Vec<TcpStream>, SocketAddr)> {
    let listener = TcpListener::bind("127.0.0.1:0").ok()?;
    let address = listener.local_addr().ok()?;
    let mut held = Vec::new();
    for _ in 0..4096 {
        match TcpStream::connect_timeout(&address, Duration::from_millis(200)) {
            Ok(stream) => held.push(stream),
            Err(_) => return Some((listener, held, address)),
        }
    }
    None
}

/// A thread of one connection: `mdr-r<peer>` or `mdr-w<peer>`, not a client's standing writer.
fn is_peer_thread(name: &str) -> bool {
    let number = name
        .strip_prefix("mdr-r")
        .or_else(|| name.strip_prefix("mdr-w"));
    number.is_some_and(|number| number.starts_with(|c: char| c.is_ascii_digit()))
}

#[test]
fn shutdown_is_prompt_in_every_state_and_leaves_no_thread() {
    // Blocked in accept, with nobody connected.
    let mut config = config_with_server();
    let remote = Remote::start(&config).unwrap();
    eventually("the acceptor to start", || !library_threads().is_empty());
    shut_down_promptly(remote, "idle server");

    // Twenty peers connected, their readers blocked in read, and a client in a retry sleep.
    let unused = support::refused_address();
    config.tcp_client = Some(client(unused));
    let remote = Remote::start(&config).unwrap();
    let address = remote.local_addr().unwrap();
    let peers: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(address).unwrap())
        .collect();
    for _ in 0..20 {
        wait_for(&remote, "a peer to connect", |event| {
            matches!(event, Event::Connected { .. }).then_some(())
        });
    }
    eventually("the client to fail once and sleep", || {
        library_threads()
            .iter()
            .filter(|name| is_peer_thread(name))
            .count()
            == 40
    });
    std::thread::sleep(Duration::from_millis(100));
    remote.send(&message("BYE", "")).unwrap();
    shut_down_promptly(remote, "20 peers and a client retrying");
    for peer in &peers {
        let mut lines = support::LineReader::new(peer);
        assert_eq!(
            lines.line(),
            "BYE",
            "queued messages are written before closing"
        );
        assert!(lines.until_closed().is_empty());
    }

    // A writer blocked on a peer that does not read.
    config.tcp_client = None;
    let mut options = HostOptions::default();
    options.outbound_queue_bytes = 64 << 20;
    let remote = Remote::start_with(&config, options).unwrap();
    let stuck = TcpStream::connect(remote.local_addr().unwrap()).unwrap();
    wait_for(&remote, "the stuck peer", |event| {
        matches!(event, Event::Connected { .. }).then_some(())
    });
    let chunk = "y".repeat(60_000);
    for _ in 0..400 {
        remote.send(&message("FILL", &chunk)).unwrap();
    }
    shut_down_promptly(remote, "writer blocked");
    drop(stuck);

    // A client blocked connecting to a host that does not answer.
    match unanswering_listener() {
        Some((_listener, _held, address)) => {
            let mut config = Config::default();
            config.tcp_client = Some(client(address));
            let remote = Remote::start_with(&config, HostOptions::default()).unwrap();
            std::thread::sleep(Duration::from_millis(500));
            assert!(
                remote.peers().is_empty(),
                "the attempt should still be hanging"
            );
            shut_down_promptly(remote, "client blocked in connect");
        }
        None => eprintln!("skipped the blocked-connect case: could not fill an accept queue here"),
    }

    // A WebSocket server with an agent, and that agent's client, each with a message queued.
    let mut server = WebSocketServerConfig::new(0);
    server.bind_address = "127.0.0.1".parse().unwrap();
    let mut config = Config::default();
    config.websocket_server = Some(server);
    let server = Remote::start(&config).unwrap();
    let address = server.websocket_addr().unwrap();
    let mut client = WebSocketClientConfig::new("127.0.0.1", address.port(), "/chat");
    client.retry = RetryPolicy::new(RetryLimit::Forever);
    client.retry.interval = LONG;
    let mut config = Config::default();
    config.websocket_client = Some(client);
    let agent = Remote::start(&config).unwrap();
    wait_for(&server, "the agent", |event| {
        matches!(event, Event::Connected { .. }).then_some(())
    });
    wait_for(&agent, "the server", |event| {
        matches!(event, Event::Connected { .. }).then_some(())
    });
    agent.send(&message("LAST", "words")).unwrap();
    shut_down_in_time(agent, "WebSocket client connected");
    assert_eq!(
        support::next_message(&server),
        "LAST|words",
        "queued frames are sent before closing"
    );
    server.send(&message("BYE", "")).unwrap();
    shut_down_promptly(server, "WebSocket server with an agent");

    // A WebSocket client in a retry pause.
    let unused = support::refused_address();
    let mut client = WebSocketClientConfig::new("127.0.0.1", unused.port(), "/");
    client.retry = RetryPolicy::new(RetryLimit::Forever);
    client.retry.interval = LONG;
    let mut config = Config::default();
    config.websocket_client = Some(client);
    let agent = Remote::start(&config).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    shut_down_promptly(agent, "WebSocket client retrying");

    // A WebSocket client waiting for an upgrade answer that never comes.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client =
        WebSocketClientConfig::new("127.0.0.1", silent.local_addr().unwrap().port(), "/");
    client.connect_timeout = LONG;
    let mut config = Config::default();
    config.websocket_client = Some(client);
    let agent = Remote::start(&config).unwrap();
    let _held = support::accept(&silent);
    std::thread::sleep(Duration::from_millis(200));
    shut_down_promptly(agent, "WebSocket client in the upgrade");

    // Dropping the handle does the same as shutdown.
    let remote = Remote::start(&config_with_server()).unwrap();
    let mut peer = TcpStream::connect(remote.local_addr().unwrap()).unwrap();
    peer.write_all(b"HELLO\n").unwrap();
    drop(remote);
    assert!(still_running().is_empty(), "{:?}", still_running());
}

fn config_with_server() -> Config {
    let mut config = Config::default();
    let mut server = TcpServerConfig::new(0);
    server.bind_address = "127.0.0.1".parse().unwrap();
    config.tcp_server = Some(server);
    config
}
