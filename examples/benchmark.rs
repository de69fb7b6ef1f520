//! The project's benchmark: each scenario runs against a hand-written baseline in the same process,
//! several rounds, the two taking turns (baseline, ours, baseline, ours...) so that a noisy moment
//! hurts both. It prints the median and the range (min–max) of the ratio ours ÷ baseline per
//! scenario (for throughput, higher is better; for latency, lower), and one table at the end with
//! the goal of each and whether its median met it. The load average printed last tells a quiet run
//! from one that shared the cores with other work: the ratios hold up better than the figures.
//!
//! ```text
//! cargo run --release --example benchmark                      # every section (about a minute)
//! cargo run --release --example benchmark -- tcp websocket     # some sections
//! cargo run --release --example benchmark -- --quick           # smaller counts: a smoke test
//! ```
//!
//! Sections, and what each scenario measures (every line is 16 bytes: 15 of text, numbered so that
//! order can be checked, and `\n`, made before the clock starts; every socket is on loopback, and
//! every peer is a plain `std::net::TcpStream` or a bare tungstenite WebSocket on a thread of the
//! benchmark):
//! - `codec`: decoding 64 MiB of lines read 8 KiB at a time from memory, items borrowed and items
//!   made owned, against `BufRead::read_until(b'\n')` into a reused buffer and into a `Vec` per line.
//! - `tcp`:
//!   - host → 1 peer, 1 M lines, one [`Remote::send`] each, until the peer has read every byte;
//!     baseline: the host thread writing the same lines to the socket through a `BufWriter`.
//!   - 1 peer → host, 1 M lines, counted as `Event::Item`s from [`Remote::recv`], and the same
//!     through the batch path ([`Remote::inbound`] and `Inbound::decode`); baseline for both:
//!     `BufReader::read_until` on the socket, counting lines. The peer writes through a `BufWriter`.
//!   - host → 20 peers, 200 k lines broadcast, lines delivered per second until every peer has read
//!     everything; baseline: 20 writer threads, each writing the lines to its own socket through a
//!     `BufWriter`, read by the same 20 readers.
//!   - after each of the two sending scenarios, a reference row: the design issue 8 prescribes,
//!     written by hand with nothing else (a byte buffer under a mutex per peer, a writer thread
//!     that swaps it out and writes it whole; `floor.rs`), against writer threads through a
//!     `BufWriter`: what the design itself allows on this machine, to read the goal above it by.
//!   - round trip peer → host → peer, 20 k in a row (in 10 short rounds), the host echoing with
//!     `recv` and `send`; baseline: an echo thread (`read_until`, `write_all`). Median and p99.
//!     After it, a reference row: the same round trip through the design written by hand around
//!     the host's socket (`handoff.rs`: a writer thread woken through a condition variable, a
//!     reader thread handing lines over a channel, the host echoing on a thread of its own).
//! - `websocket`, for ws and wss (wss with the test certificates in `tests/data`):
//!   - host → server, 200 k messages: the host is this crate's WebSocket client, the server a bare
//!     tungstenite thread reading and counting text frames; baseline: a bare tungstenite client
//!     writing one text frame per message and flushing once, after the burst.
//!   - round trip through the same bare server echoing, 5 k in a row (in 10 short rounds), seen
//!     from the host; baseline: the bare client. Median and p99. For ws, a reference row after
//!     it: the same round trip through `handoff.rs` around a bare upgraded connection.
//!   - 500 messages, each sent after 2 ms idle, from `send` until the bare server has read it: p99
//!     (the bare client's is shown beside it).
//! - `idle`: 20 idle TCP peers for 10 s: CPU time of the whole process (nanoseconds on CPU from
//!   `/proc/self/task/*/schedstat`) and context switches of the library's `mdr-` threads.
//! - `memory`: resident memory (VmRSS) added per idle peer with 1,000 TCP peers connected.
//! - `shutdown`: wall time of [`Remote::shutdown`] with 100 TCP peers connected.
//!
//! The throughput scenarios raise [`HostOptions::outbound_queue_bytes`] to 256 MiB: the host sends
//! as fast as it can and nothing slows it down, so with the default 4 MiB a burst could overtake the
//! writer and the peer be disconnected as too slow, which is right for an agent and wrong for a
//! measurement. Everything else runs with the defaults. The `/proc` measurements are Linux only and
//! are skipped with a note elsewhere.
//!
//! [`Remote::send`]: mmdagent_remote::Remote::send
//! [`Remote::recv`]: mmdagent_remote::Remote::recv
//! [`Remote::inbound`]: mmdagent_remote::Remote::inbound
//! [`Remote::shutdown`]: mmdagent_remote::Remote::shutdown
//! [`HostOptions::outbound_queue_bytes`]: mmdagent_remote::HostOptions::outbound_queue_bytes

mod benchmark {
    pub mod codec;
    pub mod counts;
    pub mod floor;
    pub mod handoff;
    #[cfg(feature = "tls")]
    pub mod handoff_tls;
    pub mod lines;
    pub mod proc_stats;
    pub mod report;
    pub mod resources;
    pub mod tcp;
    pub mod websocket;
}

use benchmark::counts::Counts;
use benchmark::report::Row;
use benchmark::{codec, report, resources, tcp, websocket};

/// The sections, in the order they run.
const SECTIONS: [&str; 6] = ["codec", "tcp", "websocket", "idle", "memory", "shutdown"];

fn main() {
    let mut quick = false;
    let mut wanted = Vec::new();
    for argument in std::env::args().skip(1) {
        match argument.as_str() {
            "--quick" => quick = true,
            name if SECTIONS.contains(&name) => wanted.push(name.to_owned()),
            other => {
                eprintln!(
                    "unknown argument {other:?}; usage: benchmark [--quick] [{}]...",
                    SECTIONS.join("|")
                );
                std::process::exit(2);
            }
        }
    }
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: built without optimisations; run with --release for meaningful figures"
        );
    }
    let counts = if quick {
        Counts::quick()
    } else {
        Counts::full()
    };
    let started = std::time::Instant::now();
    let load_before = load_average();
    let mut rows: Vec<Row> = Vec::new();
    for section in SECTIONS {
        if !wanted.is_empty() && !wanted.iter().any(|name| name == section) {
            continue;
        }
        println!("== {section}");
        let section_rows = match section {
            "codec" => codec::run(&counts),
            "tcp" => tcp::run(&counts),
            "websocket" => websocket::run(&counts),
            "idle" => resources::idle(&counts),
            "memory" => resources::memory(&counts),
            "shutdown" => resources::shutdown(&counts),
            _ => unreachable!("every section is listed"),
        };
        rows.extend(section_rows);
    }
    println!();
    report::print_table(&rows);
    println!(
        "\n{} rounds per throughput scenario, {} per latency scenario{}; ran for {:.0} s",
        counts.rounds,
        counts.latency_rounds,
        if quick { " (--quick)" } else { "" },
        started.elapsed().as_secs_f64()
    );
    if let (Some(before), Some(after)) = (load_before, load_average()) {
        // Anything else running shares the cores: the ratios hold up, the absolute figures less so.
        println!("load average over the last minute: {before} before, {after} after");
    }
}

/// The one-minute load average (Linux), to tell a quiet run from a busy one.
fn load_average() -> Option<String> {
    let load = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(load.split_whitespace().next()?.to_owned())
}
