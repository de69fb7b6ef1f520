//! Fault suite, slow and hostile peers: slowloris, a peer that never reads, and connect/disconnect
//! churn. In every case a witness peer on the same server keeps its round trips going and must
//! lose nothing.
//!
//! The tests of this file run one at a time ([`serial`]): they time round trips and count the
//! process's threads, file descriptors and memory in `/proc/self` (Linux; elsewhere those checks
//! are skipped, saying so).

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use mmdagent_remote::{DisconnectReason, Event, HostOptions};
use support::witness::{
    fd_count, resident_bytes, serial, tcp_server_config, thread_count, websocket_server_config,
    Host, Witness,
};
use support::{eventually, library_threads, WAIT};
use tungstenite::Message as Frame;

const SLOW_PEERS: usize = 5;
const DRIBBLE: Duration = Duration::from_millis(50);

/// Checks that the witness's round trips stayed fast: the median under 20 ms and none over
/// 500 ms (a dribbling peer that held up the host would add its 50 ms pauses to them).
fn assert_fast(report: &support::witness::WitnessReport) {
    assert!(
        report.median_round_trip < Duration::from_millis(20),
        "{report:?}"
    );
    assert!(
        report.slowest_round_trip < Duration::from_millis(500),
        "{report:?}"
    );
}

/// Slowloris over TCP: 5 peers each dribble a line one byte every 50 ms. The witness's round
/// trips stay fast meanwhile, and each slow line arrives whole in the end.
#[test]
fn slowloris_over_tcp_does_not_delay_the_witness() {
    let _serial = serial();
    let host = Host::start(&tcp_server_config());
    let address = host.tcp_address();
    let witness = Witness::tcp(&host, address);
    let slow: Vec<(TcpStream, mmdagent_remote::PeerId)> = (0..SLOW_PEERS)
        .map(|_| {
            let socket = TcpStream::connect(address).unwrap();
            socket.set_nodelay(true).unwrap();
            let peer = host.connected(socket.local_addr().unwrap());
            (socket, peer)
        })
        .collect();
    // 30 bytes each, so each line takes about 1.5 s to arrive.
    let lines: Vec<String> = (0..SLOW_PEERS)
        .map(|index| format!("SLOW|{index}|{}", "s".repeat(22)))
        .collect();
    let rounds_before = witness.report_rounds();
    let started = Instant::now();
    for position in 0..=lines[0].len() {
        for ((socket, _), line) in slow.iter().zip(&lines) {
            let mut socket: &TcpStream = socket;
            let byte = line.as_bytes().get(position).copied().unwrap_or(b'\n');
            socket.write_all(&[byte]).unwrap();
        }
        std::thread::sleep(DRIBBLE);
    }
    let elapsed = started.elapsed();
    for ((_, peer), line) in slow.iter().zip(&lines) {
        assert_eq!(&host.next_message_from(*peer), line);
    }
    let rounds = witness.report_rounds() - rounds_before;
    let report = witness.finish(&host);
    eprintln!("{rounds} witness round trips in {elapsed:?} of slowloris");
    assert!(rounds > 100, "only {rounds} round trips in {elapsed:?}");
    assert_fast(&report);
}

/// Slowloris over WebSocket: 5 agents each dribble a masked frame one byte every 50 ms (after a
/// good upgrade). The witness agent's round trips stay fast, and each slow line arrives whole.
#[test]
fn slowloris_over_websocket_does_not_delay_the_witness() {
    let _serial = serial();
    let host = Host::start(&websocket_server_config());
    let address = host.websocket_address();
    let witness = Witness::websocket(&host, address);
    let mut slow = Vec::new();
    for index in 0..SLOW_PEERS {
        let socket = TcpStream::connect(address).unwrap();
        socket.set_nodelay(true).unwrap();
        socket.set_read_timeout(Some(WAIT)).unwrap();
        let local = socket.local_addr().unwrap();
        let url = format!("ws://{address}/slow");
        let (websocket, _) = tungstenite::client(url.as_str(), socket).unwrap();
        let peer = host.connected(local);
        let line = format!("SLOW|{index}|{}", "s".repeat(12));
        let mut frame = Vec::new();
        // A masked text frame, written by hand so it can be sent a byte at a time.
        let payload = format!("{line}\n").into_bytes();
        let mask = [1u8, 2, 3, 4];
        frame.extend_from_slice(&[0x81, 0x80 | payload.len() as u8]);
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, k)| b ^ k));
        slow.push((websocket.into_inner(), peer, line, frame));
    }
    let rounds_before = witness.report_rounds();
    let started = Instant::now();
    let longest = slow.iter().map(|slow| slow.3.len()).max().unwrap();
    for position in 0..longest {
        for (socket, _, _, frame) in &mut slow {
            if let Some(byte) = frame.get(position) {
                socket.write_all(&[*byte]).unwrap();
            }
        }
        std::thread::sleep(DRIBBLE);
    }
    let elapsed = started.elapsed();
    for (_, peer, line, _) in &slow {
        assert_eq!(&host.next_message_from(*peer), line);
    }
    let rounds = witness.report_rounds() - rounds_before;
    let report = witness.finish(&host);
    eprintln!("{rounds} witness round trips in {elapsed:?} of slowloris");
    assert!(rounds > 100, "only {rounds} round trips in {elapsed:?}");
    assert_fast(&report);
}

/// A peer that never reads is disconnected as too slow once 64 KiB wait for it
/// (`HostOptions::outbound_queue_bytes`), while the witness gets every broadcast, in order, and
/// its round trips. The host sends in batches of 16 KiB and waits for the witness to have each, so
/// only the silent peer can fall behind.
#[test]
fn a_peer_that_never_reads_is_dropped_at_its_bound_and_the_witness_gets_everything() {
    let _serial = serial();
    let mut options = HostOptions::default();
    options.outbound_queue_bytes = 64 * 1024;
    let host = Host::start_with(&tcp_server_config(), options);
    let address = host.tcp_address();
    let witness = Witness::tcp(&host, address);
    let silent = TcpStream::connect(address).unwrap();
    let silent_peer = host.connected(silent.local_addr().unwrap());
    let payload = "b".repeat(1000);
    let mut sent = 0u64;
    let reason = 'sending: loop {
        assert!(
            sent < 200_000,
            "the silent peer was never dropped ({sent} sent)"
        );
        for _ in 0..16 {
            host.remote()
                .send_message("B", &format!("{sent}|{payload}"))
                .unwrap();
            sent += 1;
        }
        witness.wait_broadcasts(sent);
        for event in host.events_within(Duration::ZERO) {
            if let Event::Disconnected { peer, reason, .. } = event {
                assert_eq!(peer, silent_peer, "the witness was dropped: {reason}");
                break 'sending reason;
            }
        }
    };
    assert!(
        matches!(reason, DisconnectReason::TooSlow { limit: 65536, .. }),
        "{reason:?}"
    );
    for _ in 0..16 {
        host.remote()
            .send_message("B", &format!("{sent}|{payload}"))
            .unwrap();
        sent += 1;
    }
    witness.wait_broadcasts(sent);
    let stats = host.remote().stats();
    assert_eq!(stats.slow_peers_disconnected, 1, "{stats:?}");
    let report = witness.finish(&host);
    assert_eq!(report.broadcasts, sent);
    eprintln!("the silent peer was dropped after {sent} broadcasts of 1 KB: {reason}");
    drop(silent);
}

/// What the process holds, to compare before and after churn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Holdings {
    threads: Option<usize>,
    fds: Option<usize>,
    resident: Option<u64>,
    library_threads: usize,
}

fn holdings() -> Holdings {
    Holdings {
        threads: thread_count(),
        fds: fd_count(),
        resident: resident_bytes(),
        library_threads: library_threads().len(),
    }
}

/// What the process holds once the threads of the connections that ended have ended too: a
/// `Disconnected` event comes from a connection's thread just before that thread ends.
fn settled(library_threads_before: usize) -> Holdings {
    eventually("the first cycle's threads to end", || {
        library_threads().len() == library_threads_before
    });
    holdings()
}

/// After the churn: the same threads and file descriptors as before (waiting, bounded, for the
/// last connection's threads to end), and resident memory within 2 MiB of before.
fn assert_nothing_left(before: Holdings, what: &str) {
    if before.threads.is_none() {
        eprintln!("skipped the thread, descriptor and memory checks: no /proc/self here");
        return;
    }
    eventually("the threads and descriptors to return", || {
        let now = holdings();
        now.threads == before.threads
            && now.fds == before.fds
            && now.library_threads == before.library_threads
    });
    let after = holdings();
    let grown = after
        .resident
        .unwrap()
        .saturating_sub(before.resident.unwrap());
    eprintln!("{what}: before {before:?}, after {after:?}");
    assert!(
        grown < 2 << 20,
        "{what}: resident memory grew by {grown} bytes"
    );
}

const CYCLES: usize = 1000;

/// 1,000 TCP connect/disconnect cycles, each waiting for its `Disconnected`, leave no thread, file
/// descriptor or memory behind, and the witness loses nothing.
#[test]
fn a_thousand_tcp_connect_disconnect_cycles_leave_nothing_behind() {
    let _serial = serial();
    let host = Host::start(&tcp_server_config());
    let address = host.tcp_address();
    let witness = Witness::tcp(&host, address);
    // One cycle first, so that lazily made things (buffers, thread-locals) are in the baseline.
    let threads_before = library_threads().len();
    cycle_tcp(&host, address, 0);
    let before = settled(threads_before);
    let started = Instant::now();
    for number in 1..=CYCLES {
        cycle_tcp(&host, address, number);
    }
    eprintln!("{CYCLES} TCP cycles in {:?}", started.elapsed());
    assert_eq!(host.remote().stats().peers_refused, 0);
    assert_nothing_left(before, "TCP cycles");
    witness.finish(&host);
}

fn cycle_tcp(host: &Host, address: SocketAddr, number: usize) {
    let mut socket = TcpStream::connect(address).unwrap();
    let peer = host.connected(socket.local_addr().unwrap());
    socket
        .write_all(format!("CYCLE|{number}\n").as_bytes())
        .unwrap();
    assert_eq!(host.next_message_from(peer), format!("CYCLE|{number}"));
    drop(socket);
    assert_eq!(host.disconnected(peer), DisconnectReason::ClosedByPeer);
}

/// 1,000 WebSocket connect/upgrade/close cycles, each waiting for its `Disconnected`, leave no
/// thread, file descriptor or memory behind, and the witness agent loses nothing.
#[test]
fn a_thousand_websocket_connect_disconnect_cycles_leave_nothing_behind() {
    let _serial = serial();
    let host = Host::start(&websocket_server_config());
    let address = host.websocket_address();
    let witness = Witness::websocket(&host, address);
    let threads_before = library_threads().len();
    cycle_websocket(&host, address, 0);
    let before = settled(threads_before);
    let started = Instant::now();
    for number in 1..=CYCLES {
        cycle_websocket(&host, address, number);
    }
    eprintln!("{CYCLES} WebSocket cycles in {:?}", started.elapsed());
    assert_nothing_left(before, "WebSocket cycles");
    witness.finish(&host);
}

fn cycle_websocket(host: &Host, address: SocketAddr, number: usize) {
    let socket = TcpStream::connect(address).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    // Without it the Close waits for the delayed acknowledgement of the text frame (40 ms).
    socket.set_nodelay(true).unwrap();
    let local = socket.local_addr().unwrap();
    let url = format!("ws://{address}/cycle");
    let (mut websocket, _) = tungstenite::client(url.as_str(), socket).unwrap();
    let peer = host.connected(local);
    websocket
        .send(Frame::text(format!("CYCLE|{number}\n")))
        .unwrap();
    assert_eq!(host.next_message_from(peer), format!("CYCLE|{number}"));
    websocket.close(None).unwrap();
    while websocket.read().is_ok() {}
    assert_eq!(host.disconnected(peer), DisconnectReason::ClosedByPeer);
}

/// Done when (issue 10): 1,000 unpaced sequential connect/close cycles against the TCP server, never
/// more than one connection open, are never refused at the peer limit (20): a peer that closed
/// before it was served does not count against it.
#[test]
fn a_thousand_unpaced_connect_close_cycles_are_never_refused() {
    let _serial = serial();
    let host = Host::start(&tcp_server_config());
    let address = host.tcp_address();
    let witness = Witness::tcp(&host, address);
    for _ in 0..CYCLES {
        let mut socket = TcpStream::connect(address).unwrap();
        // The host's side must see the whole connection: a byte, then the end.
        socket.write_all(b"\n").unwrap();
        drop(socket);
    }
    let (mut connected, mut disconnected, mut refused) = (0, 0, 0);
    host.collect_until(
        "every cycle's end",
        |event| {
            matches!(
                event,
                Event::Connected { .. } | Event::Disconnected { .. } | Event::Refused { .. }
            )
        },
        |event| {
            match event {
                Event::Connected { .. } => connected += 1,
                Event::Disconnected { .. } => disconnected += 1,
                _ => refused += 1,
            }
            disconnected + refused == CYCLES
        },
    );
    eprintln!("{connected} served, {refused} refused of {CYCLES} unpaced cycles");
    assert_eq!(
        refused, 0,
        "{refused} of {CYCLES} sequential connections refused"
    );
    witness.finish(&host);
}
