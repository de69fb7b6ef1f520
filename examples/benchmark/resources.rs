//! The `idle`, `memory` and `shutdown` sections: what idle TCP peers cost in CPU, wake-ups and
//! memory, and how long shutting down with many of them takes. These have goals of their own and no
//! baseline.

use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use mmdagent_remote::{HostOptions, Remote};

use super::counts::Counts;
use super::lines::{tcp_server, wait_connected};
use super::proc_stats;
use super::report::{Row, Spread};

/// Connects `count` peers to `remote`, a hundred at a time so that the listener's backlog never
/// overflows, and waits until the host has seen each connect.
fn connect_peers(remote: &Remote, count: usize) -> Vec<TcpStream> {
    let address: SocketAddr = remote.local_addr().expect("address");
    let mut peers = Vec::with_capacity(count);
    while peers.len() < count {
        let batch = (count - peers.len()).min(100);
        for _ in 0..batch {
            peers.push(TcpStream::connect(address).expect("connect"));
        }
        wait_connected(remote, batch);
    }
    peers
}

pub fn idle(counts: &Counts) -> Vec<Row> {
    let (peers, span) = (counts.idle_peers, counts.idle_span);
    let cpu_scenario = format!(
        "{peers} idle TCP peers for {} s, process CPU",
        span.as_secs()
    );
    let wake_scenario = format!(
        "{peers} idle TCP peers for {} s, library thread wake-ups",
        span.as_secs()
    );
    if proc_stats::others_cpu_ns().is_none() || proc_stats::own_cpu_ns().is_none() {
        let why = "/proc/self/task is not readable here";
        return vec![
            Row::skipped(&cpu_scenario, "< 0.1 % of a core", why),
            Row::skipped(&wake_scenario, "0", why),
        ];
    }
    let remote = tcp_server(peers, HostOptions::default());
    let sockets = connect_peers(&remote, peers);
    // Lets the threads of the last connections reach their waits.
    thread::sleep(Duration::from_millis(200));
    // This thread's own CPU time is read last before the span and first after it, so that reading
    // the counters in /proc is not counted. A running thread's `schedstat` is brought up to date
    // only when it is switched out, hence the short sleep before reading it.
    let switches_before = proc_stats::library_switches().expect("/proc");
    let others_before = proc_stats::others_cpu_ns().expect("/proc");
    thread::sleep(Duration::from_millis(1));
    let own_before = proc_stats::own_cpu_ns().expect("/proc");
    let start = Instant::now();
    thread::sleep(span);
    let elapsed = start.elapsed();
    let own_after = proc_stats::own_cpu_ns().expect("/proc");
    let others_after = proc_stats::others_cpu_ns().expect("/proc");
    let switches_after = proc_stats::library_switches().expect("/proc");
    let cpu = proc_stats::growth(&others_before, &others_after) + (own_after - own_before);
    let wakeups = proc_stats::growth(&switches_before, &switches_after);
    let share = cpu as f64 / elapsed.as_nanos() as f64 * 100.0;
    println!(
        "  ({} library threads; {:.3} ms on CPU in {:.1} s, the whole process)",
        switches_after.len(),
        cpu as f64 / 1e6,
        elapsed.as_secs_f64()
    );
    drop(sockets);
    remote.shutdown().expect("shutdown");
    vec![
        Row::absolute(
            &cpu_scenario,
            format!("{share:.4} % of a core"),
            "< 0.1 % of a core",
            share < 0.1,
        ),
        Row::absolute(&wake_scenario, wakeups.to_string(), "0", wakeups == 0),
    ]
}

/// Why `peers` peers cannot be connected here, if they cannot: each takes four file descriptors
/// (the benchmark's end, and the library's socket with the two handles its threads share) and two
/// library threads.
fn too_many_for_limits(peers: usize) -> Option<String> {
    let open = proc_stats::open_files()?;
    let needed_files = open + 4 * peers as u64 + 64;
    if let Some(Some(limit)) = proc_stats::soft_limit("Max open files") {
        if limit < needed_files {
            return Some(format!(
                "{peers} peers need about {needed_files} file descriptors and `ulimit -n` is {limit}"
            ));
        }
    }
    let needed_threads = proc_stats::threads()? + 2 * peers as u64 + 64;
    if let Some(Some(limit)) = proc_stats::soft_limit("Max processes") {
        if limit < needed_threads {
            return Some(format!(
                "{peers} peers need about {needed_threads} threads and `ulimit -u` is {limit}"
            ));
        }
    }
    None
}

pub fn memory(counts: &Counts) -> Vec<Row> {
    let peers = counts.memory_peers;
    let scenario = format!("resident memory per idle TCP peer, {peers} peers");
    let goal = "≤ 40 KiB";
    if proc_stats::resident_kib().is_none() {
        return vec![Row::skipped(
            &scenario,
            goal,
            "/proc/self/status is not readable here",
        )];
    }
    if let Some(why) = too_many_for_limits(peers) {
        return vec![Row::skipped(&scenario, goal, why)];
    }
    let remote = tcp_server(peers, HostOptions::default());
    let files_before = proc_stats::open_files().expect("/proc");
    thread::sleep(Duration::from_millis(100));
    let before = proc_stats::resident_kib().expect("/proc");
    let sockets = connect_peers(&remote, peers);
    thread::sleep(Duration::from_millis(500));
    let after = proc_stats::resident_kib().expect("/proc");
    let per_peer = after.saturating_sub(before) as f64 / peers as f64;
    println!(
        "  (VmRSS {before} KiB before, {after} KiB with the peers; per peer: {:.1} file descriptors, {:.1} library threads)",
        (proc_stats::open_files().expect("/proc") - files_before) as f64 / peers as f64,
        proc_stats::library_threads().expect("/proc") as f64 / peers as f64,
    );
    let start = Instant::now();
    drop(sockets);
    remote.shutdown().expect("shutdown");
    println!(
        "  (shutting down with {peers} peers gone took {:.0} ms)",
        start.elapsed().as_secs_f64() * 1e3
    );
    vec![Row::absolute(
        &scenario,
        format!("{per_peer:.1} KiB"),
        goal,
        per_peer <= 40.0,
    )]
}

pub fn shutdown(counts: &Counts) -> Vec<Row> {
    let peers = counts.shutdown_peers;
    let scenario = format!("shutdown with {peers} TCP peers connected, every thread joined");
    let times: Vec<f64> = (0..counts.rounds)
        .map(|_| {
            let remote = tcp_server(peers, HostOptions::default());
            let sockets = connect_peers(&remote, peers);
            thread::sleep(Duration::from_millis(100));
            let start = Instant::now();
            remote.shutdown().expect("shutdown");
            let time = start.elapsed();
            if let Some(left) = proc_stats::library_threads() {
                assert_eq!(left, 0, "library threads left after shutdown");
            }
            drop(sockets);
            time.as_secs_f64() * 1e3
        })
        .collect();
    let spread = Spread::of(times);
    vec![Row::absolute(
        &scenario,
        format!("{} ms", spread.text(1)),
        "< 50 ms",
        spread.median < 50.0,
    )]
}
