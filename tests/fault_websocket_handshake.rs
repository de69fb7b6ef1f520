//! Fault suite, this crate's WebSocket server against clients that break the rules: every kind of
//! malformed upgrade request, an upgrade never finished, and frames that break RFC 6455 after a
//! good upgrade. Each case states what must hold; in every case a witness agent connected to the
//! same server keeps its round trips going and must lose nothing.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use mmdagent_remote::{Config, DisconnectReason, Event, WebSocketServerConfig};
use support::witness::{Host, Witness};
use support::WAIT;
use tungstenite::{Message as Frame, WebSocket};

/// How soon a malformed request must be turned away: far less than the handshake timeout the
/// server is given here, so a server that only waited the timeout out fails.
const PROMPT: Duration = Duration::from_secs(2);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

fn host(configure: impl FnOnce(&mut WebSocketServerConfig)) -> Host {
    let mut server = WebSocketServerConfig::new(0);
    server.handshake_timeout = HANDSHAKE_TIMEOUT;
    configure(&mut server);
    let mut config = Config::default();
    config.websocket_server = Some(server);
    Host::start(&config)
}

/// What came back to a raw request, and how long until the connection ended.
struct Answer {
    bytes: Vec<u8>,
    ended_after: Duration,
}

/// Sends `request` on a new connection and reads until the server ends it (failing after
/// [`WAIT`]). A reset counts as an end: the server may close with the request's rest unread.
fn send_raw(address: SocketAddr, request: &[u8]) -> Answer {
    let mut socket = TcpStream::connect(address).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    let started = Instant::now();
    let _ = socket.write_all(request);
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match socket.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => bytes.extend_from_slice(&buffer[..read]),
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the server kept a malformed upgrade open for {WAIT:?}")
            }
            Err(_) => break, // reset
        }
    }
    Answer {
        bytes,
        ended_after: started.elapsed(),
    }
}

/// A malformed upgrade request is turned away within [`PROMPT`]: never a `101`, an HTTP answer if
/// any is a 4xx, no `Connected` event; and the witness agent is unaffected.
fn malformed_upgrade(request: &[u8]) {
    let host = host(|_| {});
    let address = host.websocket_address();
    let witness = Witness::websocket(&host, address);
    let answer = send_raw(address, request);
    let text = String::from_utf8_lossy(&answer.bytes);
    eprintln!(
        "answered {:?} and closed after {:?}",
        text.lines().next().unwrap_or(""),
        answer.ended_after
    );
    assert!(
        answer.ended_after < PROMPT,
        "turned away only after {:?}",
        answer.ended_after
    );
    assert!(!text.contains(" 101 "), "upgraded: {text}");
    if !answer.bytes.is_empty() {
        let status = text.split(' ').nth(1).unwrap_or("");
        assert!(
            text.starts_with("HTTP/1.1 4") && status.len() == 3,
            "not a 4xx answer: {text}"
        );
    }
    let connected: Vec<Event> = host
        .events_within(Duration::from_millis(50))
        .into_iter()
        .filter(|event| matches!(event, Event::Connected { .. }))
        .collect();
    assert!(connected.is_empty(), "{connected:?}");
    witness.finish(&host);
}

fn request(first_line: &str, headers: &[&str]) -> Vec<u8> {
    let mut request = format!("{first_line}\r\nHost: 127.0.0.1\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request.into_bytes()
}

const GOOD_HEADERS: [&str; 4] = [
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
];

#[test]
fn an_upgrade_that_is_not_http_is_turned_away_promptly() {
    malformed_upgrade(b"HELLO THERE\r\n\r\n");
}

#[test]
fn garbage_bytes_instead_of_an_upgrade_are_turned_away_promptly() {
    let garbage: Vec<u8> = (0..4096u32).map(|n| (n * 131 % 251) as u8).collect();
    malformed_upgrade(&garbage);
}

#[test]
fn an_upgrade_without_sec_websocket_key_is_turned_away_promptly() {
    malformed_upgrade(&request("GET /chat HTTP/1.1", &GOOD_HEADERS[..3]));
}

#[test]
fn an_upgrade_with_a_malformed_key_is_turned_away_promptly() {
    let mut headers = GOOD_HEADERS.to_vec();
    headers[3] = "Sec-WebSocket-Key: short";
    malformed_upgrade(&request("GET /chat HTTP/1.1", &headers));
}

#[test]
fn an_upgrade_with_the_wrong_version_is_turned_away_promptly() {
    let mut headers = GOOD_HEADERS.to_vec();
    headers[2] = "Sec-WebSocket-Version: 8";
    malformed_upgrade(&request("GET /chat HTTP/1.1", &headers));
}

#[test]
fn an_upgrade_that_is_not_get_is_turned_away_promptly() {
    malformed_upgrade(&request("POST /chat HTTP/1.1", &GOOD_HEADERS));
}

#[test]
fn an_upgrade_in_http_1_0_is_turned_away_promptly() {
    malformed_upgrade(&request("GET /chat HTTP/1.0", &GOOD_HEADERS));
}

#[test]
fn an_upgrade_without_the_upgrade_headers_is_turned_away_promptly() {
    malformed_upgrade(&request("GET /chat HTTP/1.1", &GOOD_HEADERS[2..]));
}

#[test]
fn an_upgrade_header_over_64_kib_is_turned_away_promptly() {
    let long = format!("X-Padding: {}", "p".repeat(100 * 1024));
    let mut headers = GOOD_HEADERS.to_vec();
    headers.push(&long);
    malformed_upgrade(&request("GET /chat HTTP/1.1", &headers));
}

/// An upgrade that stalls half-way ends at the server's handshake timeout (here 300 ms), not
/// later; the witness is unaffected.
#[test]
fn a_stalled_upgrade_ends_at_the_handshake_timeout() {
    let host = host(|server| server.handshake_timeout = Duration::from_millis(300));
    let address = host.websocket_address();
    let witness = Witness::websocket(&host, address);
    let answer = send_raw(address, b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    eprintln!("a stalled upgrade ended after {:?}", answer.ended_after);
    assert!(answer.bytes.is_empty() || !String::from_utf8_lossy(&answer.bytes).contains(" 101 "));
    assert!(
        answer.ended_after >= Duration::from_millis(250) && answer.ended_after < PROMPT,
        "ended after {:?}",
        answer.ended_after
    );
    witness.finish(&host);
}

/// Done when (issue 10): 20 sockets that connect to the WebSocket server and never send a byte do
/// not delay an agent that connects after them. A pending handshake must not hold a peer slot,
/// so the agent is upgraded and served at once, well before the idle sockets time out.
#[test]
fn idle_sockets_that_never_upgrade_do_not_lock_an_agent_out() {
    let host = host(|server| server.handshake_timeout = Duration::from_secs(10));
    let address = host.websocket_address();
    let idle: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(address).unwrap())
        .collect();
    let started = Instant::now();
    let witness = Witness::websocket(&host, address);
    let took = started.elapsed();
    eprintln!("an agent after 20 idle sockets was served after {took:?}");
    assert!(took < Duration::from_secs(1), "served after {took:?}");
    witness.finish(&host);
    drop(idle);
}

/// An agent-like client that upgraded properly, for sending raw frames after the upgrade.
fn raw_agent(address: SocketAddr) -> WebSocket<TcpStream> {
    let socket = TcpStream::connect(address).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    let url = format!("ws://{address}/raw");
    tungstenite::client(url.as_str(), socket).unwrap().0
}

/// A client frame: `first` is FIN, RSV and opcode; masked unless `masked` is false.
fn frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut frame = vec![first];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        length @ 0..=125 => frame.push(mask_bit | length as u8),
        length @ 126..=0xffff => {
            frame.push(mask_bit | 126);
            frame.extend_from_slice(&(length as u16).to_be_bytes());
        }
        length => {
            frame.push(mask_bit | 127);
            frame.extend_from_slice(&(length as u64).to_be_bytes());
        }
    }
    if masked {
        let mask = [0x37u8, 0xfa, 0x21, 0x3d];
        frame.extend_from_slice(&mask);
        frame.extend(
            payload
                .iter()
                .zip(mask.iter().cycle())
                .map(|(byte, key)| byte ^ key),
        );
    } else {
        frame.extend_from_slice(payload);
    }
    frame
}

/// After a good upgrade the client sends `bytes`: the server must answer with a Close of `code`,
/// end the connection, and report it as a read failure naming the code; what the client sent
/// before (`BEFORE|1`) is delivered, and the witness is unaffected.
fn violation(bytes: &[u8], code: u16, configure: impl FnOnce(&mut WebSocketServerConfig)) {
    let host = host(configure);
    let address = host.websocket_address();
    let witness = Witness::websocket(&host, address);
    let mut agent = raw_agent(address);
    let peer = host.connected(agent.get_ref().local_addr().unwrap());
    agent.send(Frame::text("BEFORE|1\n")).unwrap();
    assert_eq!(host.next_message_from(peer), "BEFORE|1");
    agent.get_mut().write_all(bytes).unwrap();
    let answered = loop {
        match agent.read() {
            Ok(Frame::Close(Some(close))) => break u16::from(close.code),
            Ok(Frame::Close(None)) => panic!("a Close without a code"),
            Ok(_) => continue,
            Err(error) => panic!("no Close frame before the connection ended: {error}"),
        }
    };
    assert_eq!(answered, code);
    let mut socket = agent.into_inner();
    let mut rest = Vec::new();
    match socket.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(error) => assert!(
            !matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "the server kept the connection open after its Close"
        ),
    }
    let reason = host.disconnected(peer);
    assert!(
        matches!(&reason, DisconnectReason::ReadFailed(why) if why.contains(&code.to_string())),
        "{reason:?}"
    );
    witness.finish(&host);
}

#[test]
fn an_unmasked_client_frame_is_answered_with_close_1002() {
    violation(&frame(0x81, b"HI\n", false), 1002, |_| {});
}

#[test]
fn a_fragmented_control_frame_is_answered_with_close_1002() {
    violation(&frame(0x09, b"ping", true), 1002, |_| {});
}

#[test]
fn a_reserved_data_opcode_is_answered_with_close_1002() {
    violation(&frame(0x83, b"x", true), 1002, |_| {});
}

#[test]
fn a_reserved_control_opcode_is_answered_with_close_1002() {
    violation(&frame(0x8b, b"x", true), 1002, |_| {});
}

#[test]
fn a_reserved_bit_is_answered_with_close_1002() {
    for first in [0xc1, 0xa1, 0x91] {
        violation(&frame(first, b"RSV|1\n", true), 1002, |_| {});
    }
}

#[test]
fn a_stray_continuation_frame_is_answered_with_close_1002() {
    violation(&frame(0x80, b"ORPHAN|1\n", true), 1002, |_| {});
}

#[test]
fn a_control_frame_over_125_bytes_is_answered_with_close_1002() {
    violation(&frame(0x89, &[b'p'; 126], true), 1002, |_| {});
}

#[test]
fn a_data_frame_inside_a_fragmented_message_is_answered_with_close_1002() {
    let mut bytes = frame(0x01, b"PART|", true); // a text message begun, not finished
    bytes.extend(frame(0x81, b"NEW|1\n", true)); // a new message before its end
    violation(&bytes, 1002, |_| {});
}

#[test]
fn text_that_is_not_utf8_is_answered_with_close_1007() {
    violation(&frame(0x81, b"BAD|\xff\xfe\n", true), 1007, |_| {});
}

#[test]
fn a_frame_over_the_limit_is_answered_with_close_1009() {
    violation(&frame(0x82, &[b'x'; 100_000], true), 1009, |server| {
        server.max_frame_size = 8192;
    });
}

#[test]
fn a_message_over_the_limit_in_small_fragments_is_answered_with_close_1009() {
    let mut bytes = frame(0x02, &[b'x'; 4096], true);
    for _ in 0..3 {
        bytes.extend(frame(0x00, &[b'x'; 4096], true));
    }
    bytes.extend(frame(0x80, b"\n", true));
    violation(&bytes, 1009, |server| server.max_frame_size = 8192);
}
