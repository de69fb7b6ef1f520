//! Load: 20 TCP peers each send 50,000 numbered lines while the host broadcasts 50,000 of its own,
//! and sends one of every hundred to a single peer alone. Each line must arrive exactly once, in
//! its sender's order, and the host's lines to each peer in the order it sent them.

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use mmdagent_remote::{
    Config, Event, HostOptions, Item, PeerId, Received, Remote, TcpServerConfig,
};

const PEERS: usize = 20;
const LINES: usize = 50_000;
/// Every line of the test must have arrived by then.
const DEADLINE: Duration = Duration::from_secs(60);

/// What one peer read from the host: the broadcasts in order, and the lines sent to it alone.
struct Heard {
    broadcasts: usize,
    alone: usize,
}

/// A peer: sends its numbered lines, and reads until the host's last line, checking order.
fn peer(address: std::net::SocketAddr, index: usize) -> Heard {
    let socket = TcpStream::connect(address).expect("connect");
    socket.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let reader_socket = socket.try_clone().expect("clone");
    let reading = std::thread::spawn(move || {
        let mut heard = Heard {
            broadcasts: 0,
            alone: 0,
        };
        let mut lines = BufReader::new(reader_socket);
        let mut line = String::new();
        loop {
            line.clear();
            let read = lines.read_line(&mut line).expect("a line from the host");
            assert!(
                read > 0,
                "peer {index}: the host closed after {} broadcasts",
                heard.broadcasts
            );
            let line = line.trim_end();
            if let Some(number) = line.strip_prefix("ALL|") {
                assert_eq!(
                    number.parse::<usize>().unwrap(),
                    heard.broadcasts,
                    "peer {index}: broadcasts in order"
                );
                heard.broadcasts += 1;
            } else if let Some(number) = line.strip_prefix("ALONE|") {
                // Sent right after broadcast `number`, so it arrives right after it.
                assert_eq!(
                    number.parse::<usize>().unwrap() + 1,
                    heard.broadcasts,
                    "peer {index}: a line sent alone in its place"
                );
                heard.alone += 1;
            } else {
                panic!("peer {index}: unexpected line {line:?}");
            }
            if heard.broadcasts == LINES {
                return heard;
            }
        }
    });
    let mut writer = BufWriter::new(&socket);
    for number in 0..LINES {
        writeln!(writer, "P{index}|{number}").expect("write");
    }
    writer.flush().expect("flush");
    drop(writer);
    let heard = reading.join().expect("the peer's reader");
    drop(socket);
    heard
}

#[test]
fn twenty_peers_and_a_broadcasting_host_lose_nothing_and_keep_order() {
    let mut server = TcpServerConfig::new(0);
    server.bind_address = Ipv4Addr::LOCALHOST.into();
    server.max_peers = PEERS;
    let mut config = Config::default();
    config.tcp_server = Some(server);
    let remote = Remote::start_with(&config, HostOptions::default()).expect("start");
    let address = remote.local_addr().expect("listening");
    let started = Instant::now();

    std::thread::scope(|scope| {
        let (all_connected, connected) = std::sync::mpsc::channel();
        let remote = &remote;
        let receiving = scope.spawn(move || receive_all(remote, all_connected, started));
        let peers: Vec<_> = (0..PEERS)
            .map(|index| scope.spawn(move || peer(address, index)))
            .collect();
        // Every peer is connected before the host sends, so every peer is owed every broadcast.
        let connected: Vec<PeerId> = connected
            .recv_timeout(DEADLINE)
            .expect("every peer connects");
        let alone_to = connected[PEERS / 2];
        let mut sent_alone = 0;
        for number in 0..LINES {
            assert_eq!(
                remote
                    .send_message("ALL", &number.to_string())
                    .expect("send"),
                PEERS
            );
            if number % 100 == 0 {
                remote
                    .send_to(alone_to, &support::message("ALONE", &number.to_string()))
                    .expect("send to one");
                sent_alone += 1;
            }
        }
        let heard: Vec<Heard> = peers
            .into_iter()
            .map(|peer| peer.join().expect("a peer"))
            .collect();
        for (index, heard) in heard.iter().enumerate() {
            assert_eq!(heard.broadcasts, LINES, "peer {index}");
        }
        assert_eq!(
            heard.iter().map(|heard| heard.alone).sum::<usize>(),
            sent_alone
        );
        receiving.join().expect("the host's receiving");
    });
    let stats = remote.stats();
    assert_eq!(
        stats.dropped_peer_too_slow + stats.dropped_at_disconnect,
        0,
        "{stats:?}"
    );
    remote.shutdown().expect("shutdown");
}

/// Receives until every peer's last line, checking that each peer's lines come once, in order;
/// says on `all_connected` who connected once every peer has.
fn receive_all(remote: &Remote, all_connected: Sender<Vec<PeerId>>, started: Instant) {
    // Per peer: which sender it is (from its lines' type) and the number it sends next.
    let mut next: HashMap<PeerId, (Option<String>, usize)> = HashMap::new();
    let mut connected = Vec::new();
    let mut done = 0;
    while done < PEERS {
        let left = DEADLINE.saturating_sub(started.elapsed());
        let inbound = remote
            .inbound()
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("lines missing at the deadline: {next:?}"));
        inbound.decode(|received| {
            let (peer, message) = match received {
                Received::Item {
                    peer,
                    item: Item::Message(message),
                } => (peer, message),
                Received::Item { peer, item } => panic!("{peer}: not a message: {item:?}"),
                Received::Event(Event::Connected { peer, .. }) => {
                    connected.push(peer);
                    if connected.len() == PEERS {
                        let _ = all_connected.send(connected.clone());
                    }
                    return;
                }
                Received::Event(Event::DecodeError { peer, error }) => {
                    panic!("{peer}: {error}")
                }
                Received::Event(_) => return,
            };
            if !next.contains_key(&peer) {
                assert!(
                    connected.contains(&peer),
                    "{peer}: a line before it connected"
                );
            }
            let (sender, expected) = next.entry(peer).or_default();
            let sender = sender.get_or_insert_with(|| message.name().to_owned());
            assert_eq!(message.name(), sender, "{peer}: its own lines only");
            assert_eq!(
                message.args().parse::<usize>().unwrap(),
                *expected,
                "{peer}: once, in order"
            );
            *expected += 1;
            if *expected == LINES {
                done += 1;
            }
        });
    }
    let senders: std::collections::HashSet<_> = next
        .values()
        .filter_map(|(sender, _)| sender.clone())
        .collect();
    assert_eq!(
        senders.len(),
        PEERS,
        "every peer's lines, each from one connection"
    );
}
