//! The WebSocket transports over loopback: the client against this crate's server and against a bare
//! tungstenite server written here, plain and TLS.

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use mmdagent_remote::{
    Config, DisconnectReason, Event, Item, Message, Remote, RetryLimit, Transport,
    WebSocketClientConfig, WebSocketServerConfig,
};
use support::{accept, message, next_message, wait_for, WAIT};
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::StatusCode;
use tungstenite::{Message as Frame, WebSocket};

fn client_config(address: SocketAddr, path: &str, retries: RetryLimit) -> Config {
    let mut client = WebSocketClientConfig::new(address.ip().to_string(), address.port(), path);
    client.retry.limit = retries;
    client.retry.interval = Duration::from_millis(50);
    client.connect_timeout = WAIT;
    let mut config = Config::default();
    config.websocket_client = Some(client);
    config
}

fn start_server(configure: impl FnOnce(&mut WebSocketServerConfig)) -> (Remote, SocketAddr) {
    let mut server = WebSocketServerConfig::new(0);
    configure(&mut server);
    let mut config = Config::default();
    config.websocket_server = Some(server);
    let remote = Remote::start(&config).expect("WebSocket server starts");
    let address = remote.websocket_addr().expect("its address");
    (remote, address)
}

fn connected(remote: &Remote, what: &str) {
    wait_for(remote, what, |event| {
        matches!(event, Event::Connected { .. }).then_some(())
    });
}

/// What a bare tungstenite server saw of the upgrade request.
#[derive(Debug, Default, Clone)]
struct Seen {
    path: String,
    app_type: Option<String>,
}

/// Accepts one agent on a bare tungstenite server, answering the upgrade with `status` (101 goes
/// on to a WebSocket).
fn bare_accept(listener: &TcpListener, status: StatusCode) -> (Option<WebSocket<TcpStream>>, Seen) {
    let stream = accept(listener);
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut seen = Seen::default();
    #[allow(clippy::result_large_err)] // tungstenite's callback signature
    let callback = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        seen.path = request.uri().path().to_owned();
        seen.app_type = request
            .headers()
            .get("X-App-Type")
            .map(|value| value.to_str().unwrap().to_owned());
        if status == StatusCode::SWITCHING_PROTOCOLS {
            Ok(response)
        } else {
            let mut refusal = ErrorResponse::new(None);
            *refusal.status_mut() = status;
            Err(refusal)
        }
    };
    let websocket = tungstenite::accept_hdr(stream, callback).ok();
    (websocket, seen)
}

/// This crate's WebSocket client (the agent) connected to a bare tungstenite server on `/`: the
/// agent, the server's end of the connection, and the listener, for a reconnection.
fn agent_with_bare_server(retries: RetryLimit) -> (Remote, WebSocket<TcpStream>, TcpListener) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let remote =
        Remote::start(&client_config(listener.local_addr().unwrap(), "/", retries)).unwrap();
    let websocket = bare_accept(&listener, StatusCode::SWITCHING_PROTOCOLS)
        .0
        .unwrap();
    connected(&remote, "Connected");
    (remote, websocket, listener)
}

/// Waits for the next disconnection and returns its reason.
fn next_disconnect(remote: &Remote, what: &str) -> DisconnectReason {
    wait_for(remote, what, |event| match event {
        Event::Disconnected { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .0
}

/// Reads the next data frame's text from a bare server's socket.
fn bare_read_text(websocket: &mut WebSocket<TcpStream>) -> String {
    loop {
        match websocket.read().expect("a frame") {
            Frame::Text(text) => return text.to_string(),
            Frame::Binary(bytes) => return String::from_utf8(bytes.to_vec()).unwrap(),
            _ => continue,
        }
    }
}

#[test]
fn client_and_bare_server_exchange_messages_and_the_request_is_the_originals() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let remote = Remote::start(&client_config(
        listener.local_addr().unwrap(),
        "/chat",
        RetryLimit::Attempts(0),
    ))
    .unwrap();
    let (websocket, seen) = bare_accept(&listener, StatusCode::SWITCHING_PROTOCOLS);
    let mut websocket = websocket.expect("upgraded");
    assert_eq!(seen.path, "/chat");
    assert_eq!(seen.app_type.as_deref(), Some("MMDAgent"));
    wait_for(&remote, "Connected", |event| {
        matches!(
            event,
            Event::Connected {
                transport: Transport::WebSocketClient,
                ..
            }
        )
        .then_some(())
    });

    remote.send(&message("MESSAGE", "aaa|bbb")).unwrap();
    assert_eq!(
        bare_read_text(&mut websocket),
        "MESSAGE|aaa|bbb\n",
        "one text frame, newline included"
    );

    // Several lines in one frame, a line across frames, and a binary frame: one stream of lines.
    websocket.send(Frame::text("A|1\nB|2\nC|")).unwrap();
    websocket.send(Frame::text("3\n")).unwrap();
    websocket.send(Frame::binary(b"D|4\n".to_vec())).unwrap();
    for expected in ["A|1", "B|2", "C|3", "D|4"] {
        assert_eq!(next_message(&remote), expected);
    }
}

#[test]
fn an_audio_chunk_in_a_binary_frame_arrives_intact() {
    let (remote, mut websocket, _listener) = agent_with_bare_server(RetryLimit::Attempts(0));
    let samples: Vec<u8> = (0..1280u32).map(|n| (n * 7 % 256) as u8).collect();
    let mut frame = b"SNDFILE\nSND1280".to_vec();
    frame.extend_from_slice(&samples);
    frame.extend_from_slice(b"SNDBRKS\n");
    websocket.send(Frame::binary(frame)).unwrap();
    let mut items = Vec::new();
    while items.len() < 3 {
        if let (Some(item), _) = wait_for(&remote, "audio items", |event| match event {
            Event::Item { item, .. } => Some(Some(item.clone())),
            _ => None,
        }) {
            items.push(item);
        }
    }
    assert_eq!(
        items[0],
        Item::AudioControl(mmdagent_remote::AudioControl::File)
    );
    assert_eq!(items[1], Item::AudioChunk(samples.into()));
    assert_eq!(
        items[2],
        Item::AudioControl(mmdagent_remote::AudioControl::Break)
    );
}

#[test]
fn pings_are_answered_with_the_same_payload() {
    let (_remote, mut websocket, _listener) = agent_with_bare_server(RetryLimit::Attempts(0));
    websocket
        .send(Frame::Ping(b"are you there".to_vec().into()))
        .unwrap();
    websocket.send(Frame::Ping(Vec::new().into())).unwrap();
    let mut pongs = Vec::new();
    while pongs.len() < 2 {
        if let Frame::Pong(payload) = websocket.read().expect("a pong") {
            pongs.push(payload.to_vec());
        }
    }
    assert_eq!(pongs, [b"are you there".to_vec(), Vec::new()]);
}

#[test]
fn a_taken_channel_moves_the_client_to_the_next() {
    let (server, address) = start_server(|server| {
        server.path = Some("/chat".to_owned());
        server.exclusive_paths = true;
    });
    let first = Remote::start(&client_config(address, "/chat", RetryLimit::Attempts(0))).unwrap();
    connected(&first, "the first agent");
    connected(&server, "the first agent at the server");
    let second = Remote::start(&client_config(address, "/chat", RetryLimit::Attempts(3))).unwrap();
    connected(&second, "the second agent, on another channel");

    // The bare server shows which path the client asked for after a 429.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let third = Remote::start(&client_config(
        listener.local_addr().unwrap(),
        "/chat",
        RetryLimit::Attempts(1),
    ))
    .unwrap();
    let (refused, seen) = bare_accept(&listener, StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.is_none());
    assert_eq!(seen.path, "/chat");
    let (accepted, seen) = bare_accept(&listener, StatusCode::SWITCHING_PROTOCOLS);
    assert!(accepted.is_some());
    assert_eq!(seen.path, "/chat-1");
    connected(&third, "the third agent");
}

#[test]
fn running_out_of_retries_gives_up_naming_the_http_status() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let remote = Remote::start(&client_config(
        listener.local_addr().unwrap(),
        "/nowhere",
        RetryLimit::Attempts(1),
    ))
    .unwrap();
    for _ in 0..2 {
        let (websocket, _) = bare_accept(&listener, StatusCode::NOT_FOUND);
        assert!(websocket.is_none());
    }
    let (reason, _) = wait_for(&remote, "GaveUp", |event| match event {
        Event::GaveUp {
            transport: Transport::WebSocketClient,
            reason,
            ..
        } => Some(reason.clone()),
        _ => None,
    });
    assert!(reason.contains("404"), "{reason}");

    let unused = support::refused_address();
    let remote = Remote::start(&client_config(unused, "/", RetryLimit::Attempts(0))).unwrap();
    let (reason, _) = wait_for(&remote, "GaveUp", |event| match event {
        Event::GaveUp { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert!(reason.contains("refused"), "{reason}");
}

#[test]
fn the_client_reconnects_when_its_server_restarts() {
    let (server, address) = start_server(|_| {});
    let client = Remote::start(&client_config(address, "/chat", RetryLimit::Forever)).unwrap();
    connected(&client, "first connection");
    drop(server);
    wait_for(&client, "the loss", |event| {
        matches!(event, Event::Disconnected { .. }).then_some(())
    });

    let mut again = WebSocketServerConfig::new(address.port());
    again.bind_address = address.ip();
    let mut config = Config::default();
    config.websocket_server = Some(again);
    let server = Remote::start(&config).expect("rebind the same port");
    connected(&client, "second connection");
    connected(&server, "the agent back at the server");
    client.send(&message("AGAIN", "1")).unwrap();
    assert_eq!(next_message(&server), "AGAIN|1");
    server.send(&message("BACK", "2")).unwrap();
    assert_eq!(next_message(&client), "BACK|2");
}

#[test]
fn a_frame_over_the_limit_ends_the_connection_and_the_client_comes_back() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = client_config(listener.local_addr().unwrap(), "/", RetryLimit::Forever);
    config.websocket_client.as_mut().unwrap().max_frame_size = 8192;
    let remote = Remote::start(&config).unwrap();
    let mut websocket = bare_accept(&listener, StatusCode::SWITCHING_PROTOCOLS)
        .0
        .unwrap();
    connected(&remote, "Connected");
    websocket.send(Frame::text("x".repeat(100_000))).unwrap();
    let (reason, _) = (next_disconnect(&remote, "Disconnected"), ());
    assert!(
        matches!(&reason, DisconnectReason::ReadFailed(why) if why.contains("too large")),
        "{reason:?}"
    );
    let mut websocket = bare_accept(&listener, StatusCode::SWITCHING_PROTOCOLS)
        .0
        .unwrap();
    connected(&remote, "Connected again");
    websocket.send(Frame::text("STILL|alive\n")).unwrap();
    assert_eq!(next_message(&remote), "STILL|alive");
}

#[test]
fn the_far_side_closing_or_resetting_ends_the_connection_with_a_reason() {
    let (remote, mut websocket, listener) = agent_with_bare_server(RetryLimit::Forever);
    websocket.close(None).unwrap();
    let _ = websocket.flush();
    let (reason, _) = (next_disconnect(&remote, "closed"), ());
    assert_eq!(reason, DisconnectReason::ClosedByPeer);
    while websocket.read().is_ok() {} // let the close handshake finish

    let websocket = bare_accept(&listener, StatusCode::SWITCHING_PROTOCOLS)
        .0
        .unwrap();
    connected(&remote, "Connected again");
    drop(websocket); // the TCP connection goes without a closing handshake
    let (reason, _) = (next_disconnect(&remote, "reset"), ());
    assert!(
        matches!(reason, DisconnectReason::ReadFailed(_)),
        "{reason:?}"
    );
}

#[test]
fn a_hundred_thousand_numbered_messages_each_way_arrive_once_in_order() {
    const COUNT: usize = 100_000;
    let (server, address) = start_server(|_| {});
    let client = Remote::start(&client_config(address, "/chat", RetryLimit::Attempts(0))).unwrap();
    connected(&client, "client");
    connected(&server, "server");
    let receive = |remote: &Remote, name: &str| {
        for expected in 0..COUNT {
            match remote.recv_timeout(WAIT).expect("messages keep coming") {
                Event::Item {
                    item: Item::Message(message),
                    ..
                } => {
                    assert_eq!(
                        (message.name(), message.args()),
                        (name, expected.to_string().as_str())
                    );
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for number in 0..COUNT {
                client
                    .send(&Item::Message(Message::new("UP", number.to_string())))
                    .unwrap();
            }
        });
        scope.spawn(|| {
            for number in 0..COUNT {
                server
                    .send(&Item::Message(Message::new("DOWN", number.to_string())))
                    .unwrap();
            }
        });
        scope.spawn(|| receive(&server, "UP"));
        receive(&client, "DOWN");
    });
    assert_eq!(
        client.stats().slow_peers_disconnected + server.stats().slow_peers_disconnected,
        0
    );
}

fn test_data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

#[cfg(feature = "tls")]
#[test]
fn wss_works_with_the_test_ca_and_fails_clearly_without_it() {
    let (server, address) = start_server(|server| {
        server.tls = Some(mmdagent_remote::TlsIdentity::new(
            test_data("server.pem"),
            test_data("server.key"),
        ));
    });
    let wss = |ca: Option<PathBuf>| {
        let mut client = WebSocketClientConfig::new("localhost", address.port(), "/secure");
        client.tls = true;
        client.ca_file = ca;
        client.connect_timeout = WAIT;
        let mut config = Config::default();
        config.websocket_client = Some(client);
        Remote::start(&config).unwrap()
    };
    let trusted = wss(Some(test_data("ca.pem")));
    connected(&trusted, "wss with the CA");
    connected(&server, "the wss agent");
    trusted.send(&message("SECURE", "hello")).unwrap();
    assert_eq!(next_message(&server), "SECURE|hello");
    server.send(&message("SECURE", "back")).unwrap();
    assert_eq!(next_message(&trusted), "SECURE|back");

    let untrusted = wss(None);
    let (reason, _) = wait_for(&untrusted, "GaveUp", |event| match event {
        Event::GaveUp { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert!(reason.contains("certificate"), "{reason}");
}

#[cfg(not(feature = "tls"))]
#[test]
fn wss_without_the_tls_feature_is_refused_at_start() {
    let mut config = Config::default();
    let mut client = WebSocketClientConfig::new("localhost", 443, "/");
    client.tls = true;
    config.websocket_client = Some(client);
    let error = Remote::start(&config).unwrap_err();
    assert!(error.to_string().contains("`tls` feature"), "{error}");
    let _ = test_data("ca.pem");
}

#[test]
fn the_server_turns_away_one_agent_over_its_limit() {
    let (server, address) = start_server(|server| server.max_peers = 1);
    let first = Remote::start(&client_config(address, "/", RetryLimit::Attempts(0))).unwrap();
    connected(&first, "the first agent");
    connected(&server, "the first agent at the server");
    let second = Remote::start(&client_config(address, "/", RetryLimit::Attempts(0))).unwrap();
    wait_for(&server, "Refused", |event| {
        matches!(event, Event::Refused { max_peers: 1, .. }).then_some(())
    });
    let (reason, _) = wait_for(&second, "GaveUp", |event| match event {
        Event::GaveUp { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    // Told why, with an HTTP status, rather than closed without a word.
    assert!(reason.contains("503"), "{reason}");
    first.send(&message("STILL", "served")).unwrap();
    assert_eq!(next_message(&server), "STILL|served");
}

#[test]
fn shutting_down_sends_what_is_queued_and_a_close_frame() {
    let (remote, mut websocket, _listener) = agent_with_bare_server(RetryLimit::Attempts(0));
    remote.send(&message("GOODBYE", "")).unwrap();
    support::within(WAIT, "shutdown", move || remote.shutdown()).unwrap();
    assert_eq!(bare_read_text(&mut websocket), "GOODBYE\n");
    loop {
        match websocket.read() {
            Ok(Frame::Close(_)) => break,
            Ok(_) => continue,
            Err(error) => panic!("no Close frame before the connection ended: {error}"),
        }
    }
}

#[test]
fn a_frame_in_the_same_read_as_the_handshake_answer_is_delivered_at_once() {
    use std::io::{BufRead, BufReader, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let remote = Remote::start(&client_config(
        listener.local_addr().unwrap(),
        "/",
        RetryLimit::Attempts(0),
    ))
    .unwrap();
    let mut stream = accept(&listener);
    let mut request = BufReader::new(stream.try_clone().unwrap());
    let mut key = String::new();
    loop {
        let mut line = String::new();
        request.read_line(&mut line).unwrap();
        if let Some(value) = line.strip_prefix("Sec-WebSocket-Key:") {
            key = value.trim().to_owned();
        }
        if line == "\r\n" {
            break;
        }
    }
    let accept_key = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept_key}\r\n\r\n"
    )
    .into_bytes();
    let payload = b"HELLO|world\n";
    answer.extend_from_slice(&[0x81, payload.len() as u8]); // one unmasked text frame
    answer.extend_from_slice(payload);
    stream.write_all(&answer).unwrap(); // answer and frame in one write, then silence
    assert_eq!(next_message(&remote), "HELLO|world");
}

#[test]
fn a_peer_that_floods_while_the_host_echoes_is_not_taken_for_slow() {
    const COUNT: usize = 200_000;
    let (server, address) = start_server(|_| {});
    // A queue limit that a steadily drained queue stays far below, and an outbox that only gets a
    // turn now and then (while thousands of messages come in per read) does not. Far below, with
    // room for a writer kept off the processor for a few milliseconds by the test's seven busy
    // threads and the tests beside it: a release build floods about 20,000 messages (256 KiB) in
    // 4 ms, and at that limit this test failed under load while the outbox was drained steadily.
    let mut options = mmdagent_remote::HostOptions::default();
    options.outbound_queue_bytes = 1024 * 1024;
    let client = Remote::start_with(
        &client_config(address, "/", RetryLimit::Attempts(0)),
        options,
    )
    .unwrap();
    connected(&server, "the agent");
    connected(&client, "the server");
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for number in 0..COUNT {
                server.send(&message("M", &number.to_string())).unwrap();
            }
        });
        scope.spawn(|| {
            // The agent's host answers every message, as a dialogue manager might.
            for _ in 0..COUNT {
                match client.recv_timeout(WAIT).expect("the flood keeps coming") {
                    Event::Item {
                        item: Item::Message(message),
                        ..
                    } => {
                        client.send(&Item::Message(message)).unwrap();
                    }
                    other => panic!("the agent saw {other:?}"),
                }
            }
        });
        for expected in 0..COUNT {
            match server.recv_timeout(WAIT).expect("the echoes keep coming") {
                Event::Item {
                    item: Item::Message(message),
                    ..
                } => assert_eq!(message.args(), expected.to_string()),
                other => panic!("the server saw {other:?} after {expected} echoes"),
            }
        }
    });
    assert_eq!(client.stats().slow_peers_disconnected, 0);
}

#[test]
fn shutdown_is_prompt_while_the_peer_sends_but_never_reads() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut options = mmdagent_remote::HostOptions::default();
    options.outbound_queue_bytes = 64 << 20;
    let remote = Remote::start_with(
        &client_config(listener.local_addr().unwrap(), "/", RetryLimit::Attempts(0)),
        options,
    )
    .unwrap();
    let mut websocket = bare_accept(&listener, StatusCode::SWITCHING_PROTOCOLS)
        .0
        .unwrap();
    connected(&remote, "Connected");
    // The host keeps up with events, so the connection's thread is not waiting on the host but
    // stuck writing to the peer, while the peer's heartbeats pile up behind it.
    let events = remote.inbound().clone();
    let drain = std::thread::spawn(move || while events.recv().is_ok() {});
    let chunk = "z".repeat(60_000);
    for _ in 0..400 {
        remote.send(&message("BURST", &chunk)).unwrap(); // far more than the socket buffers hold
    }
    let sender = std::thread::spawn(move || {
        // Keep talking without ever reading, until the connection is gone (or, should shutdown
        // hang, for longer than the test waits, so the peer's going away cannot free it).
        for _ in 0..20_000 {
            if websocket.send(Frame::text("HEARTBEAT\n")).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    support::within(Duration::from_secs(5), "shutdown", move || {
        remote.shutdown()
    })
    .unwrap();
    sender.join().unwrap();
    drain.join().unwrap();
}

/// The agent's end of a connection to a bare server, ws or wss, for the tests of a peer that stops
/// reading: the flush timeout is short, and the outbox holds far more than the socket buffers.
fn agent_for_a_silent_peer(listener: &TcpListener, tls: bool) -> Remote {
    let address = listener.local_addr().unwrap();
    let mut config = client_config(address, "/", RetryLimit::Attempts(0));
    let client = config.websocket_client.as_mut().unwrap();
    if tls {
        client.host = "localhost".to_owned();
        client.tls = true;
        client.ca_file = Some(test_data("ca.pem"));
    }
    let mut options = mmdagent_remote::HostOptions::default();
    options.outbound_queue_bytes = 64 << 20;
    options.flush_timeout = Duration::from_millis(300);
    Remote::start_with(&config, options).unwrap()
}

/// Messages the host pours out before the peer reads: far more than loopback's socket buffers hold,
/// so the connection's writer is blocked while the rest of the test runs.
const POURED: usize = 300;

fn pour(remote: &Remote) {
    let filler = "f".repeat(60_000);
    for number in 0..POURED {
        remote
            .send(&message("POURED", &format!("{number} {filler}")))
            .unwrap();
    }
}

/// While its writer is blocked on a peer that does not read, the agent still reads: a message
/// arrives at once, a ping is answered (after what was queued before it), and a Close ends the
/// connection in order.
fn a_peer_that_stops_reading_is_still_heard<S: std::io::Read + std::io::Write>(
    remote: &Remote,
    websocket: &mut WebSocket<S>,
) {
    pour(remote);
    websocket
        .send(Frame::text("HELLO|while you write\n"))
        .unwrap();
    assert_eq!(next_message(remote), "HELLO|while you write");
    websocket
        .send(Frame::Ping(b"still there?".to_vec().into()))
        .unwrap();
    let mut next = 0;
    loop {
        match websocket.read().expect("a frame") {
            Frame::Text(text) => {
                assert!(
                    text.starts_with(&format!("POURED|{next} ")),
                    "message {next}"
                );
                next += 1;
            }
            Frame::Pong(payload) => {
                assert_eq!(&payload[..], b"still there?");
                break;
            }
            _ => {}
        }
    }
    assert_eq!(
        next, POURED,
        "every poured message, in order, before the pong"
    );
    websocket.close(None).unwrap();
    let _ = websocket.flush();
    assert_eq!(
        next_disconnect(remote, "closed"),
        DisconnectReason::ClosedByPeer
    );
}

/// A Close from a peer that never reads ends the connection within the flush timeout, though the
/// agent's answer cannot be written.
fn a_close_from_a_peer_that_never_reads_ends_the_connection<S: std::io::Read + std::io::Write>(
    remote: &Remote,
    websocket: &mut WebSocket<S>,
) {
    pour(remote);
    websocket.close(None).unwrap();
    let _ = websocket.flush();
    assert_eq!(
        next_disconnect(remote, "closed"),
        DisconnectReason::ClosedByPeer
    );
    let stats = remote.stats();
    assert!(
        stats.dropped_at_disconnect > 0,
        "what could not be written is counted: {stats:?}"
    );
}

#[test]
fn a_ws_peer_that_stops_reading_is_still_heard() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let remote = agent_for_a_silent_peer(&listener, false);
    let mut websocket = bare_accept(&listener, StatusCode::SWITCHING_PROTOCOLS)
        .0
        .unwrap();
    connected(&remote, "Connected");
    a_peer_that_stops_reading_is_still_heard(&remote, &mut websocket);
}

#[test]
fn a_close_from_a_ws_peer_that_never_reads_ends_the_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let remote = agent_for_a_silent_peer(&listener, false);
    let mut websocket = bare_accept(&listener, StatusCode::SWITCHING_PROTOCOLS)
        .0
        .unwrap();
    connected(&remote, "Connected");
    a_close_from_a_peer_that_never_reads_ends_the_connection(&remote, &mut websocket);
}

/// Accepts one agent on a bare tungstenite server over TLS with the test certificate.
#[cfg(feature = "tls")]
fn bare_accept_tls(listener: &TcpListener) -> WebSocket<native_tls::TlsStream<TcpStream>> {
    let identity = native_tls::Identity::from_pkcs8(
        &std::fs::read(test_data("server.pem")).unwrap(),
        &std::fs::read(test_data("server.key")).unwrap(),
    )
    .unwrap();
    let acceptor = native_tls::TlsAcceptor::new(identity).unwrap();
    let stream = accept(listener);
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let stream = acceptor.accept(stream).expect("TLS handshake");
    tungstenite::accept(stream).expect("upgrade")
}

#[cfg(feature = "tls")]
#[test]
fn a_wss_peer_that_stops_reading_is_still_heard() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let remote = agent_for_a_silent_peer(&listener, true);
    let mut websocket = bare_accept_tls(&listener);
    connected(&remote, "Connected");
    a_peer_that_stops_reading_is_still_heard(&remote, &mut websocket);
}

#[cfg(feature = "tls")]
#[test]
fn a_close_from_a_wss_peer_that_never_reads_ends_the_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let remote = agent_for_a_silent_peer(&listener, true);
    let mut websocket = bare_accept_tls(&listener);
    connected(&remote, "Connected");
    a_close_from_a_peer_that_never_reads_ends_the_connection(&remote, &mut websocket);
}

/// Reads frames until the Close, and returns its code.
fn close_code_read<S: std::io::Read + std::io::Write>(websocket: &mut WebSocket<S>) -> u16 {
    loop {
        match websocket.read() {
            Ok(Frame::Close(Some(frame))) => return frame.code.into(),
            Ok(Frame::Close(None)) => panic!("a Close without a code"),
            Ok(_) => continue,
            Err(error) => panic!("no Close frame before the connection ended: {error}"),
        }
    }
}

#[test]
fn a_frame_that_breaks_the_protocol_is_answered_with_close_1002() {
    let (remote, mut websocket, _listener) = agent_with_bare_server(RetryLimit::Attempts(0));
    // A server must not mask its frames (RFC 6455 5.1): a masked text frame, "HI\n".
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | 3];
    frame.extend_from_slice(&mask);
    frame.extend(
        b"HI\n"
            .iter()
            .zip(mask.iter().cycle())
            .map(|(byte, key)| byte ^ key),
    );
    websocket.get_mut().write_all(&frame).unwrap();
    assert_eq!(close_code_read(&mut websocket), 1002);
    let reason = next_disconnect(&remote, "Disconnected");
    assert!(
        matches!(&reason, DisconnectReason::ReadFailed(why) if why.contains("1002")),
        "{reason:?}"
    );
}

#[test]
fn a_message_over_the_limit_is_answered_with_close_1009() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = client_config(listener.local_addr().unwrap(), "/", RetryLimit::Attempts(0));
    config.websocket_client.as_mut().unwrap().max_frame_size = 8192;
    let remote = Remote::start(&config).unwrap();
    let mut websocket = bare_accept(&listener, StatusCode::SWITCHING_PROTOCOLS)
        .0
        .unwrap();
    connected(&remote, "Connected");
    websocket.send(Frame::text("x".repeat(100_000))).unwrap();
    assert_eq!(close_code_read(&mut websocket), 1009);
    next_disconnect(&remote, "Disconnected");
}

#[test]
fn text_that_is_not_utf8_is_answered_with_close_1007() {
    let (remote, mut websocket, _listener) = agent_with_bare_server(RetryLimit::Attempts(0));
    // An unmasked text frame whose payload is not UTF-8.
    websocket
        .get_mut()
        .write_all(&[0x81, 3, 0xff, 0xfe, b'\n'])
        .unwrap();
    assert_eq!(close_code_read(&mut websocket), 1007);
    next_disconnect(&remote, "Disconnected");
}

/// Reads raw frames a client sent (masked) until the socket ends; returns their opcodes.
fn raw_client_opcodes(socket: &mut TcpStream) -> Vec<u8> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let _ = socket.read_to_end(&mut bytes);
    let mut opcodes = Vec::new();
    let mut at = 0;
    while at + 2 <= bytes.len() {
        let opcode = bytes[at] & 0x0f;
        let mut length = usize::from(bytes[at + 1] & 0x7f);
        let mut header = 2;
        if length == 126 {
            length = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
            header = 4;
        } else if length == 127 {
            length = u64::from_be_bytes(bytes[at + 2..at + 10].try_into().unwrap()) as usize;
            header = 10;
        }
        let masked = bytes[at + 1] & 0x80 != 0;
        at += header + if masked { 4 } else { 0 } + length;
        opcodes.push(opcode);
    }
    opcodes
}

#[test]
fn nothing_the_host_sends_follows_the_agents_close() {
    let (remote, websocket, _listener) = agent_with_bare_server(RetryLimit::Attempts(0));
    let mut socket = websocket.into_inner();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    std::thread::scope(|scope| {
        let sending = scope.spawn(|| {
            // Keeps sending until the connection is gone, as a busy host would.
            while remote.peers().len() == 1 {
                let _ = remote.send(&message("BUSY", "x"));
            }
        });
        // A Close from the server (unmasked, code 1000); the agent answers it and must send
        // nothing after its answer, however much the host sends meanwhile.
        socket.write_all(&[0x88, 2, 0x03, 0xe8]).unwrap();
        let opcodes = raw_client_opcodes(&mut socket);
        sending.join().unwrap();
        let close = opcodes.iter().position(|&opcode| opcode == 0x8);
        let close = close.expect("the agent answers the Close");
        assert_eq!(
            close,
            opcodes.len() - 1,
            "{} frames after the agent's Close",
            opcodes.len() - 1 - close
        );
    });
}
