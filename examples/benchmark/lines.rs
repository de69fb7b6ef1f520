//! The lines every scenario sends, and the plain-socket peers and helpers the scenarios share.

use std::io::Read;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use mmdagent_remote::{Config, Event, HostOptions, Item, Message, Remote, TcpServerConfig};

/// Bytes in every line, the `\n` included.
pub const LINE: usize = 16;

/// How long any wait for a connection or an event may take before the benchmark gives up.
pub const WAIT: Duration = Duration::from_secs(20);

/// Line `number` (`EVENT|000000042\n`): 15 bytes of text and a line end, all different.
pub fn numbered_line(number: usize) -> [u8; LINE] {
    let mut line = *b"EVENT|000000000\n";
    let mut rest = number;
    for digit in line[6..15].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    line
}

/// The text of a line, without its line end: what the host hands `send`.
pub fn text(line: &[u8; LINE]) -> &str {
    std::str::from_utf8(&line[..LINE - 1]).expect("lines are ASCII")
}

/// Sends line `number` as a host does, by its text.
pub fn send_numbered(remote: &Remote, number: usize) {
    let line = numbered_line(number);
    let message = Message::parse(text(&line));
    remote.send(&Item::Message(message)).expect("send");
}

/// Numbered lines made before any clock starts, so that neither side of a comparison pays for
/// making them: the baselines write their bytes, the host sends their text.
pub struct Lines(String);

impl Lines {
    /// Lines 0 to `count - 1`, one after another.
    pub fn new(count: usize) -> Lines {
        let bytes: Vec<u8> = (0..count).flat_map(numbered_line).collect();
        Lines(String::from_utf8(bytes).expect("lines are ASCII"))
    }

    pub fn count(&self) -> usize {
        self.0.len() / LINE
    }

    /// Line `number` with its line end, as text (a WebSocket text frame holds it so).
    pub fn wire_text(&self, number: usize) -> &str {
        &self.0[number * LINE..(number + 1) * LINE]
    }

    /// Line `number` with its line end: what goes on the wire.
    pub fn wire(&self, number: usize) -> &[u8] {
        self.wire_text(number).as_bytes()
    }

    /// Line `number` without its line end: what the host hands `send`.
    pub fn text(&self, number: usize) -> &str {
        &self.wire_text(number)[..LINE - 1]
    }
}

/// Sends every line to every peer connected, one `send` each.
pub fn send_lines(remote: &Remote, lines: &Lines) {
    for number in 0..lines.count() {
        remote
            .send(&Item::Message(Message::parse(lines.text(number))))
            .expect("send");
    }
}

/// Host options for a host that sends as fast as it can: see the crate docs of the benchmark.
pub fn burst_options() -> HostOptions {
    let mut options = HostOptions::default();
    options.outbound_queue_bytes = 256 << 20;
    options
}

/// This crate as a TCP server on 127.0.0.1, taking up to `max_peers`.
pub fn tcp_server(max_peers: usize, options: HostOptions) -> Remote {
    let mut server = TcpServerConfig::new(0);
    server.bind_address = Ipv4Addr::LOCALHOST.into();
    server.max_peers = max_peers;
    let mut config = Config::default();
    config.tcp_server = Some(server);
    Remote::start_with(&config, options).expect("the TCP server starts")
}

/// Waits for `count` peers to connect to `remote`.
pub fn wait_connected(remote: &Remote, count: usize) {
    let mut connected = 0;
    while connected < count {
        match remote.recv_timeout(WAIT) {
            Ok(Event::Connected { .. }) => connected += 1,
            Ok(Event::GaveUp { reason, .. }) => panic!("cannot connect: {reason}"),
            Ok(Event::Disconnected { reason, .. }) => panic!("a peer left: {reason}"),
            Ok(_) => {}
            Err(error) => panic!("{connected} of {count} peers connected: {error:?}"),
        }
    }
}

/// A connected pair of plain sockets: the peer's end and the host's end.
pub fn socket_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let peer = TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
    let (host, _) = listener.accept().expect("accept");
    // The library sets it on its sockets; the baselines do the same.
    host.set_nodelay(true).expect("nodelay");
    (peer, host)
}

/// A peer that reads until `lines` lines have arrived; returns when the last byte came and the
/// last line, to check that the stream ended where it should.
pub fn read_lines(mut socket: TcpStream, lines: usize) -> (Instant, [u8; LINE]) {
    let mut buffer = vec![0; 64 * 1024];
    let mut tail = [0; LINE];
    let mut left = lines * LINE;
    while left > 0 {
        let read = match socket.read(&mut buffer) {
            Ok(0) => panic!("the connection closed with {left} bytes still to come"),
            Ok(read) => read,
            Err(error) => panic!("reading failed with {left} bytes still to come: {error}"),
        };
        assert!(read <= left, "more bytes arrived than were sent");
        left -= read;
        if read >= LINE {
            tail.copy_from_slice(&buffer[read - LINE..read]);
        } else {
            tail.rotate_left(read);
            tail[LINE - read..].copy_from_slice(&buffer[..read]);
        }
    }
    (Instant::now(), tail)
}
