//! The `websocket` section, for ws and wss: this crate's WebSocket client against a bare tungstenite
//! server thread, and a bare tungstenite client against the same server as the baseline.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mmdagent_remote::{Config, Event, Item, Message, Remote, WebSocketClientConfig};
use tungstenite::{Message as Frame, WebSocket};

use super::counts::Counts;
use super::handoff::{self, HandOff};
use super::lines::{
    burst_options, numbered_line, send_lines, send_numbered, text, wait_connected, Lines, WAIT,
};
use super::report::{
    after_pauses, idle_latency, in_turns, latency, latency_design_limit, throughput, Row,
};

/// Any stream a WebSocket runs over here: a TCP socket, or TLS over one.
trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}
type Socket = Box<dyn Stream>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Ws,
    Wss,
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
        })
    }
}

pub fn run(counts: &Counts) -> Vec<Row> {
    let mut rows = Vec::new();
    for scheme in [Scheme::Ws, Scheme::Wss] {
        if scheme == Scheme::Wss && !cfg!(feature = "tls") {
            let why = "built without the `tls` feature";
            rows.push(Row::skipped("wss host → server", "≥ 0.8", why));
            rows.push(Row::skipped("wss round trip", "≤ 1.3× / ≤ 1.5×", why));
            rows.push(Row::skipped("wss idle message, p99", "< 1 ms", why));
            continue;
        }
        rows.push(burst(counts, scheme));
        rows.extend(round_trips(counts, scheme));
        rows.extend(round_trips_by_hand(counts, scheme));
        rows.push(idle_messages(counts, scheme));
    }
    rows
}

fn test_data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// The server's end of a new connection: the socket itself, or TLS over it with the test
/// certificate.
fn server_stream(socket: TcpStream, scheme: Scheme) -> Socket {
    match scheme {
        Scheme::Ws => Box::new(socket),
        #[cfg(feature = "tls")]
        Scheme::Wss => {
            let read = |name| std::fs::read(test_data(name)).expect("the test certificates");
            let identity =
                native_tls::Identity::from_pkcs8(&read("server.pem"), &read("server.key"))
                    .expect("the test identity");
            let acceptor = native_tls::TlsAcceptor::new(identity).expect("a TLS acceptor");
            Box::new(acceptor.accept(socket).expect("the TLS handshake"))
        }
        #[cfg(not(feature = "tls"))]
        Scheme::Wss => unreachable!("wss runs only with the `tls` feature"),
    }
}

/// The client's end of a new connection, trusting the test CA for wss.
fn client_stream(socket: TcpStream, scheme: Scheme) -> Socket {
    match scheme {
        Scheme::Ws => Box::new(socket),
        #[cfg(feature = "tls")]
        Scheme::Wss => Box::new(
            test_connector()
                .connect("127.0.0.1", socket)
                .expect("the TLS handshake"),
        ),
        #[cfg(not(feature = "tls"))]
        Scheme::Wss => unreachable!("wss runs only with the `tls` feature"),
    }
}

/// A TLS client trusting the test CA.
#[cfg(feature = "tls")]
fn test_connector() -> native_tls::TlsConnector {
    let ca = std::fs::read(test_data("ca.pem")).expect("the test CA");
    native_tls::TlsConnector::builder()
        .add_root_certificate(native_tls::Certificate::from_pem(&ca).expect("a CA"))
        .build()
        .expect("a TLS connector")
}

/// What the bare server does with the frames it reads.
enum Serve {
    /// Counts `messages` text frames, checks the last, and reports when it had them all.
    Count {
        messages: usize,
        done: mpsc::Sender<Instant>,
    },
    /// Sends every text frame back.
    Echo,
    /// Reports when each text frame arrived.
    Stamp(mpsc::Sender<Instant>),
}

/// A bare tungstenite server for one connection, on a thread of its own; it ends when the
/// connection does.
fn bare_server(scheme: Scheme, serve: Serve) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let address = listener.local_addr().expect("address");
    let server = thread::spawn(move || {
        let (socket, _) = listener.accept().expect("accept");
        socket.set_nodelay(true).expect("nodelay");
        let mut websocket =
            tungstenite::accept(server_stream(socket, scheme)).unwrap_or_else(|error| {
                panic!("the bare server's upgrade failed: {error}");
            });
        match serve {
            Serve::Count { messages, done } => {
                let mut seen = 0;
                while seen < messages {
                    if let Frame::Text(text) = websocket.read().expect("a frame") {
                        seen += 1;
                        if seen == messages {
                            assert_eq!(text.as_bytes(), numbered_line(messages - 1));
                        }
                    }
                }
                let _ = done.send(Instant::now());
                while websocket.read().is_ok() {}
            }
            Serve::Echo => loop {
                match websocket.read() {
                    Ok(Frame::Text(text)) => {
                        if websocket.send(Frame::Text(text)).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            },
            Serve::Stamp(arrived) => loop {
                match websocket.read() {
                    Ok(Frame::Text(_)) => {
                        let _ = arrived.send(Instant::now());
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            },
        }
    });
    (address, server)
}

/// A bare tungstenite client connected to `address`.
fn bare_client(address: SocketAddr, scheme: Scheme) -> WebSocket<Socket> {
    let socket = TcpStream::connect(address).expect("connect");
    socket.set_nodelay(true).expect("nodelay");
    let url = format!("ws://127.0.0.1:{}/", address.port());
    let (websocket, _) = tungstenite::client(url, client_stream(socket, scheme))
        .unwrap_or_else(|error| panic!("the bare client's upgrade failed: {error}"));
    websocket
}

/// This crate's WebSocket client connected to `address`.
fn our_client(address: SocketAddr, scheme: Scheme) -> Remote {
    let mut client = WebSocketClientConfig::new("127.0.0.1", address.port(), "/");
    client.tls = scheme == Scheme::Wss;
    client.ca_file = client.tls.then(|| test_data("ca.pem"));
    let mut config = Config::default();
    config.websocket_client = Some(client);
    let remote = Remote::start_with(&config, burst_options()).expect("the WebSocket client starts");
    wait_connected(&remote, 1);
    remote
}

/// A text frame holding line `number`, line end included, as this crate frames a message.
fn frame(number: usize) -> Frame {
    let line = numbered_line(number);
    Frame::text(std::str::from_utf8(&line).expect("ASCII"))
}

fn burst(counts: &Counts, scheme: Scheme) -> Row {
    let messages = counts.websocket_messages;
    let made = Lines::new(messages);
    let rounds = in_turns(
        counts.rounds,
        || {
            let (done, finished) = mpsc::channel();
            let (address, server) = bare_server(scheme, Serve::Count { messages, done });
            let mut websocket = bare_client(address, scheme);
            let start = Instant::now();
            for number in 0..messages {
                websocket
                    .write(Frame::text(made.wire_text(number)))
                    .expect("write");
            }
            websocket.flush().expect("flush");
            let end = finished
                .recv_timeout(WAIT)
                .expect("the server counts them all");
            drop(websocket);
            server.join().expect("the bare server");
            end - start
        },
        || {
            let (done, finished) = mpsc::channel();
            let (address, server) = bare_server(scheme, Serve::Count { messages, done });
            let remote = our_client(address, scheme);
            let start = Instant::now();
            send_lines(&remote, &made);
            let end = finished
                .recv_timeout(WAIT)
                .expect("the server counts them all");
            assert_eq!(remote.stats().dropped_peer_too_slow, 0);
            remote.shutdown().expect("shutdown");
            server.join().expect("the bare server");
            end - start
        },
    );
    throughput(
        &format!("{scheme} host → server, {messages} messages"),
        "msgs",
        messages,
        &rounds,
        0.8,
    )
}

/// The next message `remote` receives, skipping other events.
fn next_message(remote: &Remote) {
    loop {
        match remote.recv_timeout(WAIT).expect("a message") {
            Event::Item {
                item: Item::Message(_),
                ..
            } => return,
            Event::Disconnected { reason, .. } => panic!("disconnected: {reason}"),
            _ => {}
        }
    }
}

fn round_trips(counts: &Counts, scheme: Scheme) -> [Row; 2] {
    let total = counts.websocket_round_trips;
    let count = total.div_ceil(counts.latency_rounds);
    let rounds = in_turns(
        counts.latency_rounds,
        || bare_round_trips(scheme, count),
        || {
            let (address, server) = bare_server(scheme, Serve::Echo);
            let remote = our_client(address, scheme);
            let times = (0..count)
                .map(|number| {
                    let line = numbered_line(number);
                    let start = Instant::now();
                    remote
                        .send(&Item::Message(Message::parse(text(&line))))
                        .expect("send");
                    next_message(&remote);
                    start.elapsed()
                })
                .collect();
            remote.shutdown().expect("shutdown");
            server.join().expect("the bare server");
            times
        },
    );
    latency(
        &format!(
            "{scheme} round trip via a bare echo server, {total} in a row ({} rounds)",
            counts.latency_rounds
        ),
        &rounds,
        1.3,
        1.5,
    )
}

/// The baseline of the round trips: `count` of them in a row through a bare tungstenite client,
/// each from its send until the echo is read.
fn bare_round_trips(scheme: Scheme, count: usize) -> Vec<Duration> {
    let (address, server) = bare_server(scheme, Serve::Echo);
    let mut websocket = bare_client(address, scheme);
    let times = (0..count)
        .map(|number| {
            let start = Instant::now();
            websocket.send(frame(number)).expect("send");
            while !matches!(websocket.read().expect("the echo"), Frame::Text(_)) {}
            start.elapsed()
        })
        .collect();
    drop(websocket);
    server.join().expect("the bare server");
    times
}

/// The round trip through a reader and a writer thread written by hand (`handoff`), TLS in them
/// for wss, against the same baseline: what the prescribed design costs on this machine.
fn round_trips_by_hand(counts: &Counts, scheme: Scheme) -> [Row; 2] {
    let total = counts.websocket_round_trips;
    let count = total.div_ceil(counts.latency_rounds);
    let bare = || bare_round_trips(scheme, count);
    let by_hand = || {
        let (address, server) = bare_server(scheme, Serve::Echo);
        let connection = by_hand_client(address, scheme);
        let times = handoff::websocket_round_trips(&connection, count, |number| {
            numbered_line(number).to_vec()
        });
        connection.finish();
        server.join().expect("the bare server");
        times
    };
    latency_design_limit(
        "  the same by hand: a reader and a writer thread around the connection",
        &in_turns(counts.latency_rounds, bare, by_hand),
    )
}

/// A client written by hand (`handoff`) connected to `address`: upgraded, then a reader and a
/// writer thread around the socket, with TLS between them and the socket for wss.
fn by_hand_client(address: SocketAddr, scheme: Scheme) -> HandOff {
    let mut socket = TcpStream::connect(address).expect("connect");
    socket.set_nodelay(true).expect("nodelay");
    let url = format!("ws://127.0.0.1:{}/", address.port());
    match scheme {
        Scheme::Ws => {
            // The upgrade only; after it the socket is used bare.
            tungstenite::client(url, &mut socket).expect("the by hand client's upgrade");
            HandOff::around(&socket, handoff::cut_short_frame, handoff::Bare)
        }
        #[cfg(feature = "tls")]
        Scheme::Wss => {
            let handle = socket.try_clone().expect("a handle for TLS");
            let mut tls = super::handoff_tls::Tls::connect(&test_connector(), handle);
            tungstenite::client(url, tls.stream()).expect("the by hand client's upgrade");
            HandOff::around(&socket, handoff::cut_short_frame, tls.over_buffers())
        }
        #[cfg(not(feature = "tls"))]
        Scheme::Wss => unreachable!("wss runs only with the `tls` feature"),
    }
}

/// Messages sent one at a time on an idle connection, each after a pause: from the send until the
/// bare server has read it. Rounds of the bare client and ours take turns.
fn idle_messages(counts: &Counts, scheme: Scheme) -> Row {
    let rounds = in_turns(
        counts.latency_rounds,
        || {
            let (stamp, arrived) = mpsc::channel();
            let (address, server) = bare_server(scheme, Serve::Stamp(stamp));
            let mut websocket = bare_client(address, scheme);
            let times = after_pauses(
                counts,
                &mut |number| websocket.send(frame(number)).expect("send"),
                &arrived,
            );
            drop(websocket);
            server.join().expect("the bare server");
            times
        },
        || {
            let (stamp, arrived) = mpsc::channel();
            let (address, server) = bare_server(scheme, Serve::Stamp(stamp));
            let remote = our_client(address, scheme);
            let times = after_pauses(
                counts,
                &mut |number| send_numbered(&remote, number),
                &arrived,
            );
            remote.shutdown().expect("shutdown");
            server.join().expect("the bare server");
            times
        },
    );
    idle_latency(scheme, "server", counts.idle_pause, &rounds)
}
