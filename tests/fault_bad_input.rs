//! Fault suite, bad input: a peer sends bytes that are not well-formed lines, over TCP and over
//! WebSocket (this crate's server, the peer an agent-like tungstenite client sending binary
//! frames). Each case states the outcome the README's "bad input" table promises; in every case a
//! witness peer on the same server keeps its round trips going and must lose nothing.
//!
//! The tests of this file run one at a time ([`serial`]), as one of them measures the process's
//! resident memory.

mod support;

use std::io::Write;
use std::net::TcpStream;

use mmdagent_remote::{DecodeError, Event, Item, PeerId, DEFAULT_MAX_LINE_LENGTH};
use support::witness::{
    resident_bytes, serial, tcp_server_config, websocket_server_config, Host, Witness,
};
use support::WAIT;
use tungstenite::{Message as Frame, WebSocket};

#[derive(Clone, Copy, Debug)]
enum Kind {
    Tcp,
    WebSocket,
}

/// The host under test with a witness connected through the same transport.
fn host_and_witness(kind: Kind) -> (Host, Witness) {
    match kind {
        Kind::Tcp => {
            let host = Host::start(&tcp_server_config());
            let witness = Witness::tcp(&host, host.tcp_address());
            (host, witness)
        }
        Kind::WebSocket => {
            let host = Host::start(&websocket_server_config());
            let witness = Witness::websocket(&host, host.websocket_address());
            (host, witness)
        }
    }
}

/// The misbehaving peer.
enum Abuser {
    Tcp(TcpStream),
    WebSocket(Box<WebSocket<TcpStream>>),
}

impl Abuser {
    fn connect(host: &Host, kind: Kind) -> (Abuser, PeerId) {
        let address = match kind {
            Kind::Tcp => host.tcp_address(),
            Kind::WebSocket => host.websocket_address(),
        };
        let socket = TcpStream::connect(address).unwrap();
        socket.set_read_timeout(Some(WAIT)).unwrap();
        socket.set_write_timeout(Some(WAIT)).unwrap();
        let local = socket.local_addr().unwrap();
        let abuser = match kind {
            Kind::Tcp => Abuser::Tcp(socket),
            Kind::WebSocket => {
                let url = format!("ws://{address}/abuser");
                Abuser::WebSocket(Box::new(
                    tungstenite::client(url.as_str(), socket).unwrap().0,
                ))
            }
        };
        let peer = host.connected(local);
        (abuser, peer)
    }

    /// Sends `bytes` as they are (TCP), or in binary frames of at most 64 KiB (WebSocket).
    fn send(&mut self, bytes: &[u8]) {
        match self {
            Abuser::Tcp(socket) => socket.write_all(bytes).unwrap(),
            Abuser::WebSocket(websocket) => {
                for piece in bytes.chunks(64 * 1024) {
                    websocket.send(Frame::binary(piece.to_vec())).unwrap();
                }
            }
        }
    }

    /// Ends the connection in an orderly way: a FIN (TCP), a closing handshake (WebSocket).
    fn close(self) {
        match self {
            Abuser::Tcp(socket) => drop(socket),
            Abuser::WebSocket(mut websocket) => {
                websocket.close(None).unwrap();
                while websocket.read().is_ok() {} // until the server's answer ends it
            }
        }
    }
}

/// What the host got from `peer`, each as a line, until a message named `last` (included).
fn items_until(host: &Host, peer: PeerId, last: &str) -> Vec<String> {
    let events = host.collect_until(
        &format!("{last} from the abuser"),
        |event| {
            matches!(event, Event::Item { peer: from, .. } | Event::DecodeError { peer: from, .. } if *from == peer)
        },
        |event| matches!(event, Event::Item { item: Item::Message(message), .. } if message.name() == last),
    );
    events.iter().map(describe_event).collect()
}

fn describe_event(event: &Event) -> String {
    match event {
        Event::Item { item, .. } => describe(item),
        Event::DecodeError { error, .. } => format!("error: {error:?}"),
        other => format!("{other:?}"),
    }
}

fn describe(item: &Item<'_>) -> String {
    match item {
        Item::Message(message) => message.to_string(),
        other => format!("{other:?}"),
    }
}

/// 10 MiB with no line end, then a line end and a line: the line is dropped and reported as
/// `LineTooLong` with its full length, the next line is delivered, and resident memory grows by
/// less than 8 MiB on the way (the decoder holds at most one line of the limit).
fn ten_mib_without_a_line_end(kind: Kind) {
    let _serial = serial();
    const GARBAGE: usize = 10 << 20;
    let (host, witness) = host_and_witness(kind);
    let (mut abuser, peer) = Abuser::connect(&host, kind);
    let before = resident_bytes();
    let mut highest = before;
    let chunk = vec![b'x'; 64 * 1024];
    for sent in 1..=GARBAGE / chunk.len() {
        abuser.send(&chunk);
        if sent % 16 == 0 {
            highest = highest.max(resident_bytes());
        }
    }
    abuser.send(b"\nAFTER|1\n");
    let got = items_until(&host, peer, "AFTER");
    highest = highest.max(resident_bytes());
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].starts_with(&format!(
            "error: {:?}",
            DecodeError::LineTooLong {
                length: GARBAGE,
                limit: DEFAULT_MAX_LINE_LENGTH,
                start: "x".repeat(40),
            }
        )),
        "{got:?}"
    );
    assert_eq!(got[1], "AFTER|1");
    match (before, highest) {
        (Some(before), Some(highest)) => {
            let grown = highest.saturating_sub(before);
            eprintln!(
                "{kind:?}: resident memory {} KiB before, at most {} KiB while 10 MiB arrived (+{} KiB)",
                before >> 10,
                highest >> 10,
                grown >> 10
            );
            assert!(grown < 8 << 20, "resident memory grew by {grown} bytes");
        }
        _ => eprintln!("skipped the memory check: no /proc/self/status on this platform"),
    }
    abuser.close();
    witness.finish(&host);
}

#[test]
fn tcp_ten_mib_without_a_line_end_is_dropped_in_bounded_memory_and_the_next_line_arrives() {
    ten_mib_without_a_line_end(Kind::Tcp);
}

#[test]
fn websocket_ten_mib_without_a_line_end_is_dropped_in_bounded_memory_and_the_next_line_arrives() {
    ten_mib_without_a_line_end(Kind::WebSocket);
}

/// Sends `bytes` from a new abuser and returns what the host got from it up to `NEXT|ok`, which
/// is sent after them; the abuser then closes and the witness must have lost nothing.
fn outcome_of(kind: Kind, bytes: &[u8]) -> Vec<String> {
    let _serial = serial();
    let (host, witness) = host_and_witness(kind);
    let (mut abuser, peer) = Abuser::connect(&host, kind);
    abuser.send(bytes);
    abuser.send(b"NEXT|ok\n");
    let got = items_until(&host, peer, "NEXT");
    abuser.close();
    assert!(
        matches!(
            host.disconnected(peer),
            mmdagent_remote::DisconnectReason::ClosedByPeer
        ),
        "the abuser's orderly close"
    );
    witness.finish(&host);
    got
}

/// Invalid UTF-8 is reported (`InvalidUtf8`, where the first bad byte is) and the line delivered
/// with U+FFFD in place of each bad sequence.
fn invalid_utf8(kind: Kind) {
    let got = outcome_of(kind, b"BAD|caf\xe9 \xff!\n");
    let error = DecodeError::InvalidUtf8 {
        length: 11,
        valid_up_to: 7,
    };
    assert_eq!(
        got,
        [
            format!("error: {error:?}"),
            "BAD|caf\u{fffd} \u{fffd}!".to_owned(),
            "NEXT|ok".to_owned()
        ]
    );
}

#[test]
fn tcp_invalid_utf8_is_reported_and_delivered_with_replacement_characters() {
    invalid_utf8(Kind::Tcp);
}

#[test]
fn websocket_invalid_utf8_in_binary_frames_is_reported_and_delivered_with_replacement_characters() {
    invalid_utf8(Kind::WebSocket);
}

/// NUL bytes are ordinary text, in a message's name or arguments.
fn nul_bytes(kind: Kind) {
    let got = outcome_of(kind, b"NUL|a\0b\n\0\0|\0\n");
    assert_eq!(got, ["NUL|a\0b", "\0\0|\0", "NEXT|ok"]);
}

#[test]
fn tcp_nul_bytes_are_ordinary_text() {
    nul_bytes(Kind::Tcp);
}

#[test]
fn websocket_nul_bytes_are_ordinary_text() {
    nul_bytes(Kind::WebSocket);
}

/// A lone CR ends a line as LF does, and runs of CR make no empty messages.
fn lone_cr(kind: Kind) {
    let got = outcome_of(kind, b"CR|1\rCR|2\r\r\rCR|3\r");
    assert_eq!(got, ["CR|1", "CR|2", "CR|3", "NEXT|ok"]);
}

#[test]
fn tcp_a_lone_cr_ends_a_line() {
    lone_cr(Kind::Tcp);
}

#[test]
fn websocket_a_lone_cr_ends_a_line() {
    lone_cr(Kind::WebSocket);
}

/// `SND` followed by anything but four digits or a control name is an ordinary line, never an
/// audio chunk (the original took `SND` and four non-digits as a chunk of length 0).
fn snd_with_non_digits(kind: Kind) {
    let got = outcome_of(kind, b"SNDabcd\nSND12x4|y\nSND\nSND-001|z\n");
    assert_eq!(got, ["SNDabcd", "SND12x4|y", "SND", "SND-001|z", "NEXT|ok"]);
}

#[test]
fn tcp_snd_with_non_digits_is_an_ordinary_line() {
    snd_with_non_digits(Kind::Tcp);
}

#[test]
fn websocket_snd_with_non_digits_is_an_ordinary_line() {
    snd_with_non_digits(Kind::WebSocket);
}

/// 100,000 blank lines (LF, CRLF and CR) make no message and no error; the line after them is
/// delivered.
fn blank_lines(kind: Kind) {
    let mut blank = b"\n".repeat(40_000);
    blank.extend_from_slice(&b"\r\n".repeat(40_000));
    blank.extend_from_slice(&b"\r".repeat(20_000));
    let got = outcome_of(kind, &blank);
    assert_eq!(got, ["NEXT|ok"]);
}

#[test]
fn tcp_a_hundred_thousand_blank_lines_make_nothing() {
    blank_lines(Kind::Tcp);
}

#[test]
fn websocket_a_hundred_thousand_blank_lines_make_nothing() {
    blank_lines(Kind::WebSocket);
}

/// An audio chunk cut off by a disconnect is reported (`IncompleteAudioChunk`) and dropped, and
/// the next peer's first line is clean: nothing of the cut chunk is glued onto it.
fn audio_chunk_cut_off(kind: Kind) {
    let _serial = serial();
    let (host, witness) = host_and_witness(kind);
    let (mut abuser, peer) = Abuser::connect(&host, kind);
    let mut cut = b"SNDFILE\nSND1000".to_vec();
    cut.extend_from_slice(&[7u8; 10]);
    abuser.send(&cut);
    abuser.close();
    let mut got: Vec<String> = host
        .collect_until(
            "the abuser's end",
            |event| event.peer() == Some(peer),
            |event| matches!(event, Event::Disconnected { .. }),
        )
        .iter()
        .map(describe_event)
        .collect();
    assert!(got.pop().unwrap().starts_with("Disconnected"));
    let incomplete = DecodeError::IncompleteAudioChunk {
        expected: 1000,
        received: 10,
    };
    assert_eq!(
        got,
        [
            describe(&Item::AudioControl(mmdagent_remote::AudioControl::File)),
            format!("error: {incomplete:?}")
        ]
    );

    let (mut next, next_peer) = Abuser::connect(&host, kind);
    next.send(b"CLEAN|1\n");
    assert_eq!(items_until(&host, next_peer, "CLEAN"), ["CLEAN|1"]);
    next.close();
    witness.finish(&host);
}

#[test]
fn tcp_an_audio_chunk_cut_off_by_a_disconnect_is_reported_and_the_next_peer_is_clean() {
    audio_chunk_cut_off(Kind::Tcp);
}

#[test]
fn websocket_an_audio_chunk_cut_off_by_a_disconnect_is_reported_and_the_next_peer_is_clean() {
    audio_chunk_cut_off(Kind::WebSocket);
}
