//! The `tcp` section: throughput each way between the host and plain TCP peers, a broadcast to 20
//! peers, the round trip and a message after a pause, each against the same work written by hand
//! with the standard library.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mmdagent_remote::{Event, HostOptions, Item, Message, Received, Remote};

use super::counts::Counts;
use super::floor::HandOutboxes;
use super::handoff::{self, HandOff, Handover};
use super::lines::{
    burst_options, numbered_line, read_lines, send_lines, send_numbered, socket_pair, tcp_server,
    wait_connected, Lines, LINE,
};
use super::report::{
    after_pauses, design_limit, idle_latency, idle_latency_design_limit, in_turns, latency,
    latency_design_limit, throughput, Row,
};

pub fn run(counts: &Counts) -> Vec<Row> {
    let mut rows = vec![send_to_one_peer(counts), by_hand(counts, 1)];
    rows.extend(receive_from_one_peer(counts));
    rows.push(broadcast(counts));
    rows.push(by_hand(counts, counts.broadcast_peers));
    rows.extend(round_trips(counts));
    rows.extend(round_trips_by_hand(counts, Handover::Std));
    rows.extend(round_trips_by_hand(counts, Handover::Crossbeam));
    rows.push(idle_messages(counts));
    rows.push(idle_messages_by_hand(counts));
    rows
}

/// Checks that every line the host sent was queued for every peer and none dropped.
fn check_delivered(remote: &Remote, lines: usize) {
    let stats = remote.stats();
    assert_eq!(stats.sent, lines as u64, "{stats:?}");
    assert_eq!(stats.dropped_peer_too_slow, 0, "{stats:?}");
}

/// When the slowest reader finished, after checking that each read up to the last line.
fn last_read(readers: Vec<JoinHandle<(Instant, [u8; LINE])>>, lines: usize) -> Instant {
    readers
        .into_iter()
        .map(|reader| {
            let (end, last) = reader.join().expect("a reader");
            assert_eq!(last, numbered_line(lines - 1), "the last line read");
            end
        })
        .max()
        .expect("at least one reader")
}

fn spawn_reader(peer: TcpStream, lines: usize) -> JoinHandle<(Instant, [u8; LINE])> {
    thread::spawn(move || read_lines(peer, lines))
}

/// Writes every line to `socket` through a `BufWriter`, as a program would by hand.
fn write_lines(socket: TcpStream, lines: &Lines) -> TcpStream {
    let mut writer = BufWriter::new(socket);
    for number in 0..lines.count() {
        writer.write_all(lines.wire(number)).expect("write");
    }
    writer.into_inner().expect("flush")
}

fn send_to_one_peer(counts: &Counts) -> Row {
    let lines = counts.one_peer_lines;
    let made = Lines::new(lines);
    let rounds = in_turns(
        counts.rounds,
        || {
            let (peer, host) = socket_pair();
            let reader = spawn_reader(peer, lines);
            let start = Instant::now();
            let host = write_lines(host, &made);
            let time = last_read(vec![reader], lines) - start;
            drop(host);
            time
        },
        || remote_sending(1, &made),
    );
    throughput(
        &format!("host → 1 TCP peer, {lines} lines, send each"),
        "lines",
        lines,
        &rounds,
        0.5,
    )
}

/// Starts a peer writing every line to `socket`: the time it started, and the peer, which keeps
/// the connection open until joined.
fn start_writer(socket: TcpStream, lines: &Arc<Lines>) -> (Instant, JoinHandle<TcpStream>) {
    let (go, told) = mpsc::channel();
    let lines = Arc::clone(lines);
    let writer = thread::spawn(move || {
        told.recv().expect("told to go");
        write_lines(socket, &lines)
    });
    let start = Instant::now();
    go.send(()).expect("the writer waits");
    (start, writer)
}

/// The host's side of "1 peer → host" by hand: `read_until` on the socket, counting lines.
fn read_until_baseline(made: &Arc<Lines>) -> Duration {
    let lines = made.count();
    let (peer, host) = socket_pair();
    let mut reader = BufReader::new(host);
    let mut line = Vec::with_capacity(64);
    let (start, writer) = start_writer(peer, made);
    let mut count = 0;
    while count < lines {
        line.clear();
        let read = reader.read_until(b'\n', &mut line).expect("read");
        assert_eq!(read, LINE, "line {count} is whole");
        count += 1;
    }
    let time = start.elapsed();
    assert_eq!(line, numbered_line(lines - 1), "the last line");
    drop(writer.join().expect("the writer"));
    time
}

/// Items counted as they arrive, and whether the last was the last line sent.
struct Tally {
    count: usize,
    lines: usize,
    last_matches: bool,
}

impl Tally {
    fn note(&mut self, message: &Message<'_>) {
        self.count += 1;
        if self.count == self.lines {
            let last = numbered_line(self.lines - 1);
            self.last_matches = message.to_string().as_bytes() == &last[..LINE - 1];
        }
    }

    fn done(&self) -> bool {
        self.count >= self.lines
    }
}

/// The host's side through this crate: a peer of a TCP server writes, the host counts items taken
/// one at a time with `recv`, or a read at a time with `inbound` and `decode`.
fn receive_through_remote(made: &Arc<Lines>, batch: bool) -> Duration {
    let lines = made.count();
    let remote = tcp_server(1, HostOptions::default());
    let peer = TcpStream::connect(remote.local_addr().expect("address")).expect("connect");
    wait_connected(&remote, 1);
    let mut tally = Tally {
        count: 0,
        lines,
        last_matches: false,
    };
    let (start, writer) = start_writer(peer, made);
    if batch {
        let inbound = remote.inbound();
        while !tally.done() {
            let delivery = inbound.recv().expect("deliveries");
            delivery.decode(|received| match received {
                Received::Item {
                    item: Item::Message(message),
                    ..
                } => tally.note(&message),
                other => panic!("unexpected {other:?}"),
            });
        }
    } else {
        while !tally.done() {
            match remote.recv().expect("events") {
                Event::Item {
                    item: Item::Message(message),
                    ..
                } => tally.note(&message),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    let time = start.elapsed();
    assert!(tally.last_matches, "the last line arrived last");
    drop(writer.join().expect("the writer"));
    remote.shutdown().expect("shutdown");
    time
}

fn receive_from_one_peer(counts: &Counts) -> [Row; 2] {
    let lines = counts.one_peer_lines;
    let made = Arc::new(Lines::new(lines));
    let rounds: Vec<(Duration, Duration, Duration)> = (0..counts.rounds)
        .map(|_| {
            (
                read_until_baseline(&made),
                receive_through_remote(&made, false),
                receive_through_remote(&made, true),
            )
        })
        .collect();
    let recv: Vec<(Duration, Duration)> =
        rounds.iter().map(|&(base, recv, _)| (base, recv)).collect();
    let batch: Vec<(Duration, Duration)> = rounds
        .iter()
        .map(|&(base, _, batch)| (base, batch))
        .collect();
    [
        throughput(
            &format!("1 TCP peer → host, {lines} lines, recv"),
            "lines",
            lines,
            &recv,
            0.2,
        ),
        throughput(
            &format!("1 TCP peer → host, {lines} lines, inbound + decode"),
            "lines",
            lines,
            &batch,
            0.8,
        ),
    ]
}

fn broadcast(counts: &Counts) -> Row {
    let (peers, lines) = (counts.broadcast_peers, counts.broadcast_lines);
    let made = Arc::new(Lines::new(lines));
    let rounds = in_turns(
        counts.rounds,
        || writer_threads(peers, &made),
        || remote_sending(peers, &made),
    );
    throughput(
        &format!("host → {peers} TCP peers broadcast, {lines} lines, delivered"),
        "lines",
        lines * peers,
        &rounds,
        0.5,
    )
}

/// The baseline of the sending scenarios (one writer thread per peer through a `BufWriter`, all
/// started at once), against the prescribed design by hand (`floor`), for `peers` peers.
fn by_hand(counts: &Counts, peers: usize) -> Row {
    let lines = if peers == 1 {
        counts.one_peer_lines
    } else {
        counts.broadcast_lines
    };
    let made = Arc::new(Lines::new(lines));
    let rounds = in_turns(
        counts.rounds,
        || writer_threads(peers, &made),
        || {
            let (peers, hosts): (Vec<TcpStream>, Vec<TcpStream>) =
                (0..peers).map(|_| socket_pair()).unzip();
            let readers = peers
                .into_iter()
                .map(|peer| spawn_reader(peer, lines))
                .collect();
            let outboxes = HandOutboxes::new(hosts);
            let start = Instant::now();
            for number in 0..made.count() {
                outboxes.send(made.wire(number));
            }
            let time = last_read(readers, lines) - start;
            drop(outboxes.finish());
            time
        },
    );
    design_limit(
        &format!("  the same by hand: byte outbox + writer thread per peer ({peers})"),
        "lines",
        lines * peers,
        &rounds,
    )
}

/// This crate sending every line to `peers` TCP peers: the time until every peer has read every
/// line.
fn remote_sending(peers: usize, made: &Lines) -> Duration {
    let lines = made.count();
    let remote = tcp_server(peers, burst_options());
    let address = remote.local_addr().expect("address");
    let sockets: Vec<TcpStream> = (0..peers)
        .map(|_| TcpStream::connect(address).expect("connect"))
        .collect();
    wait_connected(&remote, peers);
    let readers = sockets
        .into_iter()
        .map(|peer| spawn_reader(peer, lines))
        .collect();
    let start = Instant::now();
    send_lines(&remote, made);
    let time = last_read(readers, lines) - start;
    check_delivered(&remote, lines);
    remote.shutdown().expect("shutdown");
    time
}

/// The baseline of sending to several peers: one writer thread per peer through a `BufWriter`, all
/// started at once; the time until every peer has read every line.
fn writer_threads(peers: usize, made: &Arc<Lines>) -> Duration {
    let lines = made.count();
    let pairs: Vec<(TcpStream, TcpStream)> = (0..peers).map(|_| socket_pair()).collect();
    let go = Arc::new(Barrier::new(peers + 1));
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for (peer, host) in pairs {
        readers.push(spawn_reader(peer, lines));
        let go = Arc::clone(&go);
        let made = Arc::clone(made);
        writers.push(thread::spawn(move || {
            go.wait();
            write_lines(host, &made)
        }));
    }
    let start = Instant::now();
    go.wait();
    let time = last_read(readers, lines) - start;
    for writer in writers {
        drop(writer.join().expect("a writer"));
    }
    time
}

/// Round trips from a peer: writes a line, waits for it to come back whole.
fn ping(peer: &mut TcpStream, count: usize) -> Vec<Duration> {
    peer.set_nodelay(true).expect("nodelay");
    let mut echoed = [0; LINE];
    (0..count)
        .map(|number| {
            let line = numbered_line(number);
            let start = Instant::now();
            peer.write_all(&line).expect("write");
            peer.read_exact(&mut echoed).expect("read");
            let time = start.elapsed();
            assert_eq!(echoed, line, "the echo of line {number}");
            time
        })
        .collect()
}

/// Round trips through a plain echo thread: the baseline of the TCP round trip.
fn echo_round_trips(count: usize) -> Vec<Duration> {
    let (mut peer, host) = socket_pair();
    let echo = thread::spawn(move || {
        let mut reader = BufReader::new(host.try_clone().expect("clone"));
        let mut writer = host;
        let mut line = Vec::with_capacity(64);
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    if writer.write_all(&line).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let times = ping(&mut peer, count);
    drop(peer);
    echo.join().expect("the echo thread");
    times
}

/// The TCP round trip through a reader and a writer thread written by hand (`handoff`) around
/// the host's end, the host echoing on a thread of its own: what the prescribed design costs on
/// this machine, against the same baseline. With `Handover::Crossbeam` the reader hands lines to
/// the host through the kind of channel the crate's readers use, which waits differently.
fn round_trips_by_hand(counts: &Counts, handover: Handover) -> [Row; 2] {
    let total = counts.tcp_round_trips;
    let count = total.div_ceil(counts.latency_rounds);
    let by_hand = || {
        let (mut peer, host) = socket_pair();
        let connection = HandOff::around_with(&host, handoff::cut_line, handoff::Bare, handover);
        // The host ends when the reader does, at the end of the connection.
        let host = thread::spawn(move || {
            while let Some(line) = connection.recv() {
                connection.send(&[&line]);
            }
            connection
        });
        let times = ping(&mut peer, count);
        drop(peer);
        host.join().expect("the host").finish();
        times
    };
    let label = match handover {
        Handover::Std => "  the same by hand: a reader and a writer thread around the connection",
        Handover::Crossbeam => "  the same by hand, handing over through a crossbeam channel",
    };
    latency_design_limit(
        label,
        &in_turns(counts.latency_rounds, || echo_round_trips(count), by_hand),
    )
}

fn round_trips(counts: &Counts) -> [Row; 2] {
    let total = counts.tcp_round_trips;
    let count = total.div_ceil(counts.latency_rounds);
    let rounds = in_turns(
        counts.latency_rounds,
        || echo_round_trips(count),
        || {
            let remote = tcp_server(1, HostOptions::default());
            let mut peer =
                TcpStream::connect(remote.local_addr().expect("address")).expect("connect");
            wait_connected(&remote, 1);
            let times = thread::scope(|scope| {
                scope.spawn(|| loop {
                    match remote.recv() {
                        Ok(Event::Item { item, .. }) => {
                            remote.send(&item).expect("send");
                        }
                        Ok(Event::Disconnected { .. }) | Err(_) => return,
                        Ok(_) => {}
                    }
                });
                let times = ping(&mut peer, count);
                drop(peer);
                times
            });
            remote.shutdown().expect("shutdown");
            times
        },
    );
    latency(
        &format!(
            "TCP round trip peer → host → peer, {total} in a row ({} rounds)",
            counts.latency_rounds
        ),
        &rounds,
        1.5,
        1.5,
    )
}

/// Messages sent one at a time to one idle peer, each after a pause: from the send until the peer
/// has read the whole line. The baseline writes the line to the socket on the host's thread.
/// No round trip hides the cost of waking a sleeping writer here: this is the latency of the
/// usual exchange with an agent, an event now and then.
fn idle_messages(counts: &Counts) -> Row {
    let rounds = in_turns(counts.latency_rounds, idle_baseline(counts), || {
        let remote = tcp_server(1, HostOptions::default());
        let peer = TcpStream::connect(remote.local_addr().expect("address")).expect("connect");
        wait_connected(&remote, 1);
        let (arrived, reader) = stamping(peer);
        let times = after_pauses(
            counts,
            &mut |number| send_numbered(&remote, number),
            &arrived,
        );
        remote.shutdown().expect("shutdown");
        reader.join().expect("the peer");
        times
    });
    idle_latency("TCP", "peer", counts.idle_pause, &rounds)
}

/// The baseline of a message after a pause: the host's thread writes it to the socket.
fn idle_baseline(counts: &Counts) -> impl FnMut() -> Vec<Duration> + '_ {
    || {
        let (peer, mut host) = socket_pair();
        let (arrived, reader) = stamping(peer);
        let send = &mut |number| host.write_all(&numbered_line(number)).expect("write");
        let times = after_pauses(counts, send, &arrived);
        drop(host);
        reader.join().expect("the peer");
        times
    }
}

/// A peer that stamps each whole line as it arrives.
fn stamping(mut peer: TcpStream) -> (mpsc::Receiver<Instant>, JoinHandle<()>) {
    let (stamp, arrived) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut line = [0; LINE];
        while peer.read_exact(&mut line).is_ok() {
            if stamp.send(Instant::now()).is_err() {
                return;
            }
        }
    });
    (arrived, reader)
}

/// Messages after a pause through the design written by hand (`handoff`): the host hands each
/// line to a writer thread that sleeps until it comes, against the same baseline.
fn idle_messages_by_hand(counts: &Counts) -> Row {
    let rounds = in_turns(counts.latency_rounds, idle_baseline(counts), || {
        let (peer, host) = socket_pair();
        let connection = HandOff::around(&host, handoff::cut_line, handoff::Bare);
        let (arrived, reader) = stamping(peer);
        let send = &mut |number| connection.send(&[&numbered_line(number)]);
        let times = after_pauses(counts, send, &arrived);
        connection.finish();
        reader.join().expect("the peer");
        times
    });
    idle_latency_design_limit(
        "  the same by hand: a writer thread woken per message",
        &rounds,
    )
}
