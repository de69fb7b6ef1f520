//! Fault suite, connections that fail under a client: the server killed and restarted mid-stream,
//! a reset in the middle of a line, a host name that does not resolve, WebSocket servers that
//! refuse, answer garbage or hang up mid-handshake, a server that breaks the frame rules, and a
//! server that goes silent. Each case states what must hold; in every case a witness peer keeps
//! its round trips going and must lose nothing. The witness sits on a TCP server of the same
//! process as the client under test, except where that would change the case (a kept backlog is
//! kept only while no peer at all is connected): there it sits on the restarted server.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use mmdagent_remote::{
    Config, DisconnectReason, Event, Item, PingPolicy, RetryLimit, RetryPolicy, TcpClientConfig,
    TcpServerConfig, Transport, WebSocketClientConfig, WebSocketServerConfig,
};
use support::witness::{tcp_server_config, Host, Witness};
use support::{accept, WAIT};

/// Shutting down must take less than this (the goal is 50 ms; the bound leaves room for a
/// loaded 2-core machine).
const PROMPT: Duration = Duration::from_secs(1);
const RETRY_INTERVAL: Duration = Duration::from_millis(50);

fn retry(limit: RetryLimit) -> RetryPolicy {
    let mut retry = RetryPolicy::new(limit);
    retry.interval = RETRY_INTERVAL;
    retry
}

fn tcp_client(host: &str, port: u16, limit: RetryLimit) -> TcpClientConfig {
    let mut client = TcpClientConfig::new(host, port);
    client.retry = retry(limit);
    client.connect_timeout = WAIT;
    client
}

fn websocket_client(host: &str, port: u16, path: &str, limit: RetryLimit) -> WebSocketClientConfig {
    let mut client = WebSocketClientConfig::new(host, port, path);
    client.retry = retry(limit);
    client.connect_timeout = WAIT;
    client
}

/// The client under test, with a TCP server for the witness in the same process.
fn client_with_witness(configure: impl FnOnce(&mut Config)) -> (Host, Witness) {
    let mut config = tcp_server_config();
    configure(&mut config);
    let host = Host::start(&config);
    let witness = Witness::tcp(&host, host.tcp_address());
    (host, witness)
}

/// Shuts the host down, asserting it takes less than [`PROMPT`], and prints the figure.
fn shut_down_promptly(host: Host, state: &str) {
    let took = host.shutdown();
    eprintln!("shutdown {state}: {took:?}");
    assert!(took < PROMPT, "shutdown {state} took {took:?}");
}

/// The address of the client's connection at its server, once connected.
fn client_connected(host: &Host, transport: Transport) -> mmdagent_remote::PeerId {
    host.wait_for("the client's connection", |event| match event {
        Event::Connected {
            peer,
            transport: which,
            ..
        } if *which == transport => Some(*peer),
        _ => None,
    })
}

/// The server is killed while it streams numbered lines to the client and the client sends to
/// it; the client gets every whole line sent before the kill, in order, reports the loss, and
/// connects again to the server restarted on the same port, where both directions work. The
/// witness loses nothing meanwhile.
#[test]
fn a_tcp_server_killed_mid_stream_and_restarted_is_reconnected() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let (host, witness) = client_with_witness(|config| {
        config.tcp_client = Some(tcp_client("127.0.0.1", address.port(), RetryLimit::Forever));
    });
    let mut server_side = accept(&listener);
    let peer = client_connected(&host, Transport::TcpClient);
    let mut stream = String::new();
    for number in 0..200 {
        stream.push_str(&format!("S|{number}\n"));
    }
    stream.push_str("S|cut off mid-li");
    server_side.write_all(stream.as_bytes()).unwrap();
    host.remote().send_message("UP", "before").unwrap();
    // Killed: the listener and the connection go at once.
    drop(server_side);
    drop(listener);
    let events = host.collect_until(
        "the loss",
        |event| event.peer() == Some(peer),
        |event| matches!(event, Event::Disconnected { .. }),
    );
    let lines: Vec<String> = events
        .iter()
        .filter_map(|event| match event {
            Event::Item {
                item: Item::Message(message),
                ..
            } => Some(message.to_string()),
            _ => None,
        })
        .collect();
    let expected: Vec<String> = (0..200).map(|number| format!("S|{number}")).collect();
    assert_eq!(&lines[..200], &expected[..], "every whole line, in order");

    let restarted = TcpListener::bind(address).expect("rebind the port");
    let mut server_side = accept(&restarted);
    let peer = client_connected(&host, Transport::TcpClient);
    server_side.write_all(b"AGAIN|1\n").unwrap();
    assert_eq!(host.next_message_from(peer), "AGAIN|1");
    host.remote().send_message("BACK", "2").unwrap();
    server_side.set_read_timeout(Some(WAIT)).unwrap();
    let mut line = String::new();
    BufReader::new(&server_side).read_line(&mut line).unwrap();
    assert_eq!(line, "BACK|2\n");
    witness.finish(&host);
}

/// A TCP server run by this crate, with a witness of its own.
fn tcp_server_host(port: u16) -> (Host, Witness) {
    let mut server = TcpServerConfig::new(port);
    server.bind_address = "127.0.0.1".parse().unwrap();
    let mut config = Config::default();
    config.tcp_server = Some(server);
    let host = Host::start(&config);
    let witness = Witness::tcp(&host, host.tcp_address());
    (host, witness)
}

/// With `keep_while_disconnected`, what the client's host sends while its server is down is kept
/// and arrives first, in order, at the restarted server; the restarted server's witness loses
/// nothing while the backlog arrives.
#[test]
fn with_keep_while_disconnected_the_kept_messages_reach_the_restarted_tcp_server_in_order() {
    let (server, server_witness) = tcp_server_host(0);
    let address = server.tcp_address();
    let mut config = Config::default();
    config.tcp_client = Some(tcp_client("127.0.0.1", address.port(), RetryLimit::Forever));
    config.keep_while_disconnected = 100;
    let client = Host::start(&config);
    client_connected(&client, Transport::TcpClient);
    let at_server = client_connected(&server, Transport::TcpServer);
    client.remote().send_message("LIVE", "1").unwrap();
    assert_eq!(server.next_message_from(at_server), "LIVE|1");
    server_witness.finish(&server);
    let took = server.shutdown();
    eprintln!("the TCP server was shut down in {took:?}");
    client.wait_for("the loss", |event| {
        matches!(event, Event::Disconnected { .. }).then_some(())
    });
    for number in 0..50 {
        client
            .remote()
            .send_message("KEPT", &number.to_string())
            .unwrap();
    }
    assert_eq!(client.remote().stats().kept_while_disconnected, 50);

    let (server, server_witness) = tcp_server_host(address.port());
    let at_server = client_connected(&server, Transport::TcpServer);
    client.remote().send_message("AFTER", "").unwrap();
    for number in 0..50 {
        assert_eq!(
            server.next_message_from(at_server),
            format!("KEPT|{number}")
        );
    }
    assert_eq!(server.next_message_from(at_server), "AFTER");
    server_witness.finish(&server);
}

/// The same over WebSocket: the agent keeps what its host sends while the controller's server
/// is down, and the restarted server gets it first, in order; its witness agent loses nothing.
#[test]
fn with_keep_while_disconnected_the_kept_messages_reach_the_restarted_websocket_server_in_order() {
    let websocket_server = |port: u16| {
        let mut server = WebSocketServerConfig::new(port);
        server.bind_address = "127.0.0.1".parse().unwrap();
        let mut config = Config::default();
        config.websocket_server = Some(server);
        let host = Host::start(&config);
        let witness = Witness::websocket(&host, host.websocket_address());
        (host, witness)
    };
    let (server, server_witness) = websocket_server(0);
    let address = server.websocket_address();
    let mut config = Config::default();
    config.websocket_client = Some(websocket_client(
        "127.0.0.1",
        address.port(),
        "/chat",
        RetryLimit::Forever,
    ));
    config.keep_while_disconnected = 100;
    let client = Host::start(&config);
    client_connected(&client, Transport::WebSocketClient);
    server_witness.finish(&server);
    let took = server.shutdown();
    eprintln!("the WebSocket server was shut down in {took:?}");
    client.wait_for("the loss", |event| {
        matches!(event, Event::Disconnected { .. }).then_some(())
    });
    for number in 0..50 {
        client
            .remote()
            .send_message("KEPT", &number.to_string())
            .unwrap();
    }
    let (server, server_witness) = websocket_server(address.port());
    let at_server = client_connected(&server, Transport::WebSocketServer);
    for number in 0..50 {
        assert_eq!(
            server.next_message_from(at_server),
            format!("KEPT|{number}")
        );
    }
    server_witness.finish(&server);
}

/// A partial line at the end of a stream has one rule (issue 10 item 2), whether the stream ends
/// by an orderly close or by a reset: both are delivered, as the README documents (`finish`
/// delivers the line, as `BufRead::lines` does). The reset is made without `SO_LINGER` (unstable
/// in std, and no new dependency): a socket closed with unread data in its receive buffer sends
/// RST instead of FIN (Linux, BSD, Windows); the peer's `Disconnected` shows it was a reset.
#[test]
fn a_partial_line_is_delivered_whether_the_stream_ends_by_close_or_by_reset() {
    let host = Host::start(&tcp_server_config());
    let address = host.tcp_address();
    let witness = Witness::tcp(&host, address);

    let mut closing = TcpStream::connect(address).unwrap();
    let closing_peer = host.connected(closing.local_addr().unwrap());
    closing.write_all(b"HALF|close").unwrap();
    drop(closing);

    let mut resetting = TcpStream::connect(address).unwrap();
    let resetting_peer = host.connected(resetting.local_addr().unwrap());
    host.remote()
        .send_to(resetting_peer, &support::message("UNREAD", "1"))
        .unwrap();
    // Wait until the line sits unread in the socket's receive buffer, so closing resets.
    let mut peek = [0u8; 1];
    resetting.set_read_timeout(Some(WAIT)).unwrap();
    assert_eq!(resetting.peek(&mut peek).unwrap(), 1);
    resetting.write_all(b"HALF|reset").unwrap();
    drop(resetting);

    let outcome = |peer| {
        host.collect_until(
            "the end of the stream",
            |event: &Event| event.peer() == Some(peer),
            |event| matches!(event, Event::Disconnected { .. }),
        )
    };
    let closed = outcome(closing_peer);
    let reset = outcome(resetting_peer);
    assert!(
        matches!(
            reset.last(),
            Some(Event::Disconnected {
                reason: DisconnectReason::ReadFailed(_),
                ..
            })
        ),
        "not a reset: {reset:?}"
    );
    let delivered = |events: &[Event]| -> Vec<String> {
        events
            .iter()
            .filter_map(|event| match event {
                Event::Item {
                    item: Item::Message(message),
                    ..
                } => Some(message.to_string()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(delivered(&closed), ["HALF|close"]);
    assert_eq!(delivered(&reset), ["HALF|reset"]);
    witness.finish(&host);
}

/// A host name that cannot resolve (`.invalid`, RFC 6761) makes the client give up, after its
/// retries, with a `GaveUp` naming the target; shutting down afterwards is prompt.
#[test]
fn an_unresolvable_host_gives_up_with_an_event() {
    let (host, witness) = client_with_witness(|config| {
        config.tcp_client = Some(tcp_client(
            "no-such-host.invalid",
            60001,
            RetryLimit::Attempts(2),
        ));
    });
    let (target, reason) = host.wait_for("GaveUp", |event| match event {
        Event::GaveUp {
            transport: Transport::TcpClient,
            target,
            reason,
        } => Some((target.clone(), reason.clone())),
        _ => None,
    });
    eprintln!("gave up on {target}: {reason}");
    assert!(target.contains("no-such-host.invalid"), "{target}");
    assert!(!reason.is_empty());
    witness.finish(&host);
    shut_down_promptly(host, "after giving up");
}

/// The WebSocket client's form of the same: it gives up with an event naming the URL.
#[test]
fn an_unresolvable_websocket_host_gives_up_with_an_event() {
    let (host, witness) = client_with_witness(|config| {
        config.websocket_client = Some(websocket_client(
            "no-such-host.invalid",
            9001,
            "/chat",
            RetryLimit::Attempts(1),
        ));
    });
    let target = host.wait_for("GaveUp", |event| match event {
        Event::GaveUp {
            transport: Transport::WebSocketClient,
            target,
            ..
        } => Some(target.clone()),
        _ => None,
    });
    assert!(target.contains("no-such-host.invalid"), "{target}");
    witness.finish(&host);
    shut_down_promptly(host, "after giving up");
}

/// What a bare server answers to each upgrade request it reads.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Status(u16, &'static str),
    Garbage,
    /// Reads the request and closes without a word.
    Close,
    /// Writes half a `101` answer and closes.
    Half101,
}

/// A bare WebSocket server that answers each of `attempts` requests with `answer`; returns the
/// paths it was asked for.
fn bare_refuser(
    listener: TcpListener,
    answer: Answer,
    attempts: usize,
) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut paths = Vec::new();
        for _ in 0..attempts {
            let mut socket = accept(&listener);
            socket.set_read_timeout(Some(WAIT)).unwrap();
            let mut reader = BufReader::new(socket.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            paths.push(line.split(' ').nth(1).unwrap_or("").to_owned());
            while line != "\r\n" {
                line.clear();
                if reader.read_line(&mut line).unwrap() == 0 {
                    break;
                }
            }
            let reply: Vec<u8> = match answer {
                Answer::Status(code, text) => format!(
                    "HTTP/1.1 {code} {text}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                .into_bytes(),
                Answer::Garbage => (0..600u32).map(|n| (n * 37 % 256) as u8).collect(),
                Answer::Close => Vec::new(),
                Answer::Half101 => b"HTTP/1.1 101 Switching Proto".to_vec(),
            };
            socket.write_all(&reply).unwrap();
            drop(socket);
        }
        paths
    })
}

/// The agent (a WebSocket client with one retry) against a server that answers every upgrade
/// with `answer`: it tries twice as configured, gives up with a `GaveUp` whose reason contains
/// `named` (when given), and shuts down promptly; the witness loses nothing. Returns the paths
/// the server was asked for.
fn refused(answer: Answer, named: Option<&str>) -> Vec<String> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let refuser = bare_refuser(listener, answer, 2);
    let (host, witness) = client_with_witness(|config| {
        config.websocket_client = Some(websocket_client(
            "127.0.0.1",
            port,
            "/chat",
            RetryLimit::Attempts(1),
        ));
    });
    let reason = host.wait_for("GaveUp", |event| match event {
        Event::GaveUp {
            transport: Transport::WebSocketClient,
            reason,
            ..
        } => Some(reason.clone()),
        _ => None,
    });
    eprintln!("{answer:?}: gave up: {reason}");
    if let Some(named) = named {
        assert!(reason.contains(named), "{reason}");
    }
    let paths = refuser.join().expect("the bare server");
    witness.finish(&host);
    shut_down_promptly(host, "after a refusal");
    paths
}

#[test]
fn a_websocket_server_answering_404_is_retried_then_given_up() {
    let paths = refused(Answer::Status(404, "Not Found"), Some("404"));
    assert_eq!(paths, ["/chat", "/chat"]);
}

#[test]
fn a_websocket_server_answering_429_moves_the_agent_to_the_next_channel_then_gives_up() {
    let paths = refused(Answer::Status(429, "Too Many Requests"), Some("429"));
    assert_eq!(paths, ["/chat", "/chat-1"]);
}

#[test]
fn a_websocket_server_answering_500_is_retried_then_given_up() {
    let paths = refused(Answer::Status(500, "Internal Server Error"), Some("500"));
    assert_eq!(paths, ["/chat", "/chat"]);
}

#[test]
fn a_websocket_server_answering_garbage_is_retried_then_given_up() {
    refused(Answer::Garbage, None);
}

#[test]
fn a_websocket_server_closing_mid_handshake_is_retried_then_given_up() {
    refused(Answer::Close, None);
}

#[test]
fn a_websocket_server_closing_inside_its_101_answer_is_retried_then_given_up() {
    refused(Answer::Half101, None);
}

/// A bare WebSocket server's end of one upgraded connection.
fn bare_upgrade(listener: &TcpListener) -> tungstenite::WebSocket<TcpStream> {
    let socket = accept(listener);
    socket.set_read_timeout(Some(WAIT)).unwrap();
    tungstenite::accept(socket).expect("upgrade")
}

/// A server that masks its frames breaks RFC 6455 5.1: the agent answers Close 1002, ends the
/// connection with a reason naming the code, and (retrying) connects again; the witness is
/// unaffected.
#[test]
fn a_masked_frame_from_the_server_is_answered_with_close_1002_and_the_agent_reconnects() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (host, witness) = client_with_witness(|config| {
        config.websocket_client = Some(websocket_client(
            "127.0.0.1",
            port,
            "/",
            RetryLimit::Forever,
        ));
    });
    let mut websocket = bare_upgrade(&listener);
    let peer = client_connected(&host, Transport::WebSocketClient);
    let mask = [9u8, 8, 7, 6];
    let mut frame = vec![0x81, 0x80 | 3];
    frame.extend_from_slice(&mask);
    frame.extend(b"HI\n".iter().zip(mask.iter().cycle()).map(|(b, k)| b ^ k));
    websocket.get_mut().write_all(&frame).unwrap();
    let code = loop {
        match websocket.read() {
            Ok(tungstenite::Message::Close(Some(close))) => break u16::from(close.code),
            Ok(_) => continue,
            Err(error) => panic!("no Close before the end: {error}"),
        }
    };
    assert_eq!(code, 1002);
    let reason = host.disconnected(peer);
    assert!(
        matches!(&reason, DisconnectReason::ReadFailed(why) if why.contains("1002")),
        "{reason:?}"
    );
    let mut again = bare_upgrade(&listener);
    let peer = client_connected(&host, Transport::WebSocketClient);
    again.send(tungstenite::Message::text("AGAIN|1\n")).unwrap();
    assert_eq!(host.next_message_from(peer), "AGAIN|1");
    witness.finish(&host);
}

/// Pings every 200 ms of quiet, answered within 300 ms, for the dead-link cases.
fn quick_pings() -> PingPolicy {
    PingPolicy::new(Duration::from_millis(200), Duration::from_millis(300))
}

/// Time allowed on top of interval + deadline before a dead link must be noticed: room for a
/// loaded 2-core machine.
const NOTICE_MARGIN: Duration = Duration::from_secs(1);

/// Fails unless a dead link was `noticed` within `ping`'s interval + deadline and the margin.
fn assert_noticed_in_time(noticed: Duration, ping: PingPolicy, what: &str) {
    eprintln!("{what} after {noticed:?}");
    let limit = ping.interval + ping.deadline + NOTICE_MARGIN;
    assert!(
        noticed < limit,
        "{what} after {noticed:?}, allowed {limit:?}"
    );
}

/// Issue 10 item 3: a WebSocket server that stops answering (it neither reads nor answers pings,
/// as a peer behind a closed laptop lid) is declared dead within ping interval + pong deadline,
/// and the agent connects again; the server counts the connections it gets.
#[test]
fn a_silent_websocket_server_is_declared_dead_and_the_agent_reconnects() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let ping = quick_pings();
    let (host, witness) = client_with_witness(|config| {
        let mut client = websocket_client("127.0.0.1", port, "/", RetryLimit::Forever);
        client.ping = Some(ping);
        config.websocket_client = Some(client);
    });
    let mut connections = 0;
    let silent = bare_upgrade(&listener);
    connections += 1;
    let peer = client_connected(&host, Transport::WebSocketClient);
    let started = Instant::now();
    let reason = host.disconnected(peer);
    assert_noticed_in_time(
        started.elapsed(),
        ping,
        &format!("declared dead ({reason})"),
    );
    match reason {
        DisconnectReason::PingTimeout { silent_for } => assert!(
            silent_for >= ping.interval + ping.deadline,
            "declared dead too soon: {silent_for:?}"
        ),
        other => panic!("not a ping timeout: {other}"),
    }
    let _again = bare_upgrade(&listener);
    connections += 1;
    client_connected(&host, Transport::WebSocketClient);
    assert_eq!(connections, 2, "the agent connected again");
    witness.finish(&host);
    drop(silent);
}

/// Issue 10 item 3, the other way round: an agent that never answers the WebSocket server's
/// pings (it never reads) is dropped within interval + deadline; an idle agent that answers them
/// stays connected all the while.
#[test]
fn a_websocket_agent_that_never_answers_pings_is_dropped_and_one_that_answers_stays() {
    let ping = quick_pings();
    let mut config = tcp_server_config();
    let mut server = WebSocketServerConfig::new(0);
    server.ping = Some(ping);
    config.websocket_server = Some(server);
    let host = Host::start(&config);
    let witness = Witness::tcp(&host, host.tcp_address());
    let address = host.websocket_address();
    let agent = |path: &str| {
        let socket = TcpStream::connect(address).unwrap();
        socket.set_read_timeout(Some(WAIT)).unwrap();
        let local = socket.local_addr().unwrap();
        let (websocket, _) =
            tungstenite::client(format!("ws://{address}{path}").as_str(), socket).unwrap();
        (websocket, host.connected(local))
    };
    let (answering, answering_peer) = agent("/answers");
    // Reading answers pings (tungstenite queues the Pong and sends it on its next read); the
    // thread ends when the server closes the connection at shutdown.
    let reader = std::thread::spawn(move || {
        let mut answering = answering;
        let mut pings = 0;
        while let Ok(message) = answering.read() {
            pings += u32::from(message.is_ping());
        }
        pings
    });
    let (silent, silent_peer) = agent("/silent");
    let started = Instant::now();
    let events = host.collect_until(
        "the silent agent dropped",
        |event| [Some(silent_peer), Some(answering_peer)].contains(&event.peer()),
        |event| matches!(event, Event::Disconnected { peer, .. } if *peer == silent_peer),
    );
    assert_noticed_in_time(started.elapsed(), ping, "silent agent dropped");
    assert!(
        matches!(
            events.last(),
            Some(Event::Disconnected {
                reason: DisconnectReason::PingTimeout { .. },
                ..
            })
        ),
        "{events:?}"
    );
    // Two more rounds of pings for the answering agent: it must stay.
    let later = host.events_within(2 * (ping.interval + ping.deadline));
    let dropped = |events: &[Event]| {
        events.iter().any(
            |event| matches!(event, Event::Disconnected { peer, .. } if *peer == answering_peer),
        )
    };
    assert!(
        !dropped(&events) && !dropped(&later),
        "{events:?} {later:?}"
    );
    witness.finish(&host);
    host.shutdown();
    let pings = reader.join().unwrap();
    assert!(pings >= 2, "the answering agent saw {pings} pings");
    drop(silent);
}
