//! The project's benchmark: measures this crate against a baseline taken in the same run and prints
//! the ratios, so the figures mean the same on a fast machine and a slow, shared one.
//!
//! Run it in release mode:
//!
//! ```text
//! cargo run --release --example benchmark            # every section
//! cargo run --release --example benchmark -- codec   # one section
//! ```
//!
//! Sections:
//! - `codec`: decoding a stream of 16-byte lines, read 8 KiB at a time from memory, against a plain
//!   `BufRead::read_until(b'\n')` loop over the same bytes through a `BufReader` of the same size.
//! - `idle`: CPU time and thread wake-ups of an idle TCP server with 20 peers and a connected TCP
//!   client, against the same process idling without the library (Linux: reads `/proc`).
//! - `websocket`: for ws and wss, the round trip of a message sent while the connection is idle
//!   (client to server and back, both this crate), against the round trip of a plain TCP socket
//!   ping-pong; and the CPU time and wake-ups of the idle connection.

use std::hint::black_box;
use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use mmdagent_remote::{
    Config, Event, Item, LineDecoder, Remote, TcpClientConfig, TcpServerConfig,
    WebSocketClientConfig, WebSocketServerConfig,
};

const READ_SIZE: usize = 8192;
const STREAM_BYTES: usize = 64 << 20;
const ROUNDS: usize = 7;

fn main() {
    let sections: Vec<String> = std::env::args().skip(1).collect();
    let wanted = |name: &str| sections.is_empty() || sections.iter().any(|section| section == name);
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: built without optimisations; run with --release for meaningful figures"
        );
    }
    if wanted("codec") {
        codec();
    }
    if wanted("idle") {
        idle();
    }
    if wanted("websocket") {
        websocket();
    }
}

const ROUND_TRIPS: usize = 500;

/// Median and 99th percentile of a set of durations, in microseconds.
fn percentiles(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort_unstable();
    let at =
        |fraction: f64| times[((times.len() - 1) as f64 * fraction) as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.99))
}

/// Round trips of a 16-byte message on a plain TCP socket pair, each after a pause so both ends are
/// idle: the floor any transport on this machine stands on.
fn tcp_ping_pong() -> Vec<Duration> {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut client = TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
    let (mut server, _) = listener.accept().expect("accept");
    client.set_nodelay(true).expect("nodelay");
    server.set_nodelay(true).expect("nodelay");
    let echo = std::thread::spawn(move || {
        let mut buffer = [0u8; 16];
        while server.read_exact(&mut buffer).is_ok() {
            if server.write_all(&buffer).is_err() {
                return;
            }
        }
    });
    let mut buffer = [0u8; 16];
    let times = (0..ROUND_TRIPS)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(2));
            let start = Instant::now();
            client.write_all(b"EVENT|0000000042").expect("write");
            client.read_exact(&mut buffer).expect("read");
            start.elapsed()
        })
        .collect();
    drop(client);
    let _ = echo.join();
    times
}

/// A WebSocket server and a client of it, both this crate, connected; `tls` uses the test
/// certificate in `tests/data`.
fn websocket_pair(tls: bool) -> (Remote, Remote) {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut server = WebSocketServerConfig::new(0);
    if tls {
        server.tls = Some(mmdagent_remote::TlsIdentity::new(
            data.join("server.pem"),
            data.join("server.key"),
        ));
    }
    let mut config = Config::default();
    config.websocket_server = Some(server);
    let server = Remote::start(&config).expect("server");
    let mut client = WebSocketClientConfig::new(
        "localhost",
        server.websocket_addr().expect("address").port(),
        "/chat",
    );
    client.tls = tls;
    client.ca_file = tls.then(|| data.join("ca.pem"));
    let mut config = Config::default();
    config.websocket_client = Some(client);
    let client = Remote::start(&config).expect("client");
    for remote in [&server, &client] {
        loop {
            match remote
                .recv_timeout(Duration::from_secs(10))
                .expect("connects")
            {
                Event::Connected { .. } => break,
                Event::GaveUp { reason, .. } => panic!("cannot connect: {reason}"),
                _ => {}
            }
        }
    }
    (server, client)
}

/// Round trips through the pair: the client sends, the server's host echoes, the client receives.
fn websocket_round_trips(server: &Remote, client: &Remote) -> Vec<Duration> {
    let next_message = |remote: &Remote| loop {
        if let Event::Item {
            item: Item::Message(_),
            ..
        } = remote
            .recv_timeout(Duration::from_secs(10))
            .expect("a message")
        {
            return;
        }
    };
    (0..ROUND_TRIPS)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(2));
            let start = Instant::now();
            client.send_message("EVENT", "0000000042").expect("send");
            next_message(server);
            server.send_message("EVENT", "0000000042").expect("send");
            next_message(client);
            start.elapsed()
        })
        .collect()
}

fn websocket() {
    let (floor, floor_tail) = percentiles(tcp_ping_pong());
    println!("websocket: {ROUND_TRIPS} round trips, each after 2 ms idle; both ends this crate, in one process");
    println!("  plain TCP socket ping-pong (baseline):   median {floor:>7.1} us, p99 {floor_tail:>7.1} us");
    for tls in [false, cfg!(feature = "tls")] {
        let scheme = if tls { "wss" } else { "ws " };
        let (server, client) = websocket_pair(tls);
        let (median, tail) = percentiles(websocket_round_trips(&server, &client));
        println!(
            "  {scheme} round trip through both hosts:      median {median:>7.1} us, p99 {tail:>7.1} us  ({:.1}x the baseline; the original polls every 10 ms)",
            median / floor
        );
        std::thread::sleep(Duration::from_millis(200));
        if let Some((ticks, wakeups)) = idle_cost(Duration::from_secs(3)) {
            println!(
                "  {scheme} idle connection for 3 s: {:.1} ms CPU, {wakeups} library thread wake-ups (the original: 7.6% of a core)",
                ticks as f64 * 10.0
            );
        }
        if !tls {
            continue;
        }
    }
}

/// This process's CPU time (user and system) so far, from `/proc/self/stat`, in clock ticks.
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces; the fields after its closing parenthesis are fixed.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Context switches of the library's threads (`mdr-...`): each is a wake-up.
fn library_wakeups() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|task| {
            let path = task.ok()?.path();
            let name = std::fs::read_to_string(path.join("comm")).ok()?;
            if !name.starts_with("mdr-") {
                return None;
            }
            let status = std::fs::read_to_string(path.join("status")).ok()?;
            let switches = status
                .lines()
                .filter(|line| line.contains("ctxt_switches"))
                .filter_map(|line| line.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
            Some(switches)
        })
        .sum()
}

/// CPU ticks and library wake-ups over `duration` of doing nothing.
fn idle_cost(duration: Duration) -> Option<(u64, u64)> {
    let (ticks, wakeups) = (cpu_ticks()?, library_wakeups());
    std::thread::sleep(duration);
    Some((cpu_ticks()? - ticks, library_wakeups() - wakeups))
}

fn idle() {
    const SPAN: Duration = Duration::from_secs(3);
    let Some((baseline_ticks, _)) = idle_cost(SPAN) else {
        println!("idle: skipped, /proc is not readable here");
        return;
    };
    let controller = TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut config = Config::default();
    let mut server = TcpServerConfig::new(0);
    server.bind_address = "127.0.0.1".parse().expect("address");
    config.tcp_server = Some(server);
    let controller_address = controller.local_addr().expect("address");
    config.tcp_client = Some(TcpClientConfig::new("127.0.0.1", controller_address.port()));
    let remote = Remote::start(&config).expect("start");
    let address = remote.local_addr().expect("server address");
    let _peers: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(address).expect("connect"))
        .collect();
    let _agent_side = controller.accept().expect("the client connects");
    let mut connected = 0;
    while connected < 21 {
        if let Event::Connected { .. } = remote
            .recv_timeout(Duration::from_secs(10))
            .expect("peers connect")
        {
            connected += 1;
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let (ticks, wakeups) = idle_cost(SPAN).expect("/proc");
    let tick_ms = 10.0; // USER_HZ is 100 on Linux
    println!("idle: {SPAN:?} with a TCP server serving 20 idle peers and a connected TCP client (43 library threads)");
    println!(
        "  process CPU, idle without the library (baseline): {:>6.1} ms",
        baseline_ticks as f64 * tick_ms
    );
    println!(
        "  process CPU, idle with the library:               {:>6.1} ms",
        ticks as f64 * tick_ms
    );
    println!(
        "  library thread wake-ups: {wakeups} in {SPAN:?} ({:.1} per second; the original's select loop: about 68,000)",
        wakeups as f64 / SPAN.as_secs_f64()
    );
    println!(
        "  extra CPU with the library: {:.2}% of one core",
        (ticks.saturating_sub(baseline_ticks)) as f64 * tick_ms / SPAN.as_millis() as f64 * 100.0
    );
    drop(remote);
}

/// A stream of 16-byte lines (`EVENT|0000000042\n`), all different.
fn sixteen_byte_lines() -> Vec<u8> {
    let mut stream = Vec::with_capacity(STREAM_BYTES);
    let mut number = 0u64;
    while stream.len() < STREAM_BYTES {
        stream.extend_from_slice(format!("EVENT|{number:010}\n").as_bytes());
        number += 1;
    }
    stream
}

/// The baseline: what a user would write to split lines with the standard library.
fn read_until_reused(stream: &[u8]) -> usize {
    let mut reader = BufReader::with_capacity(READ_SIZE, stream);
    let mut line = Vec::new();
    let mut checksum = 0;
    while reader.read_until(b'\n', &mut line).expect("reading memory") > 0 {
        checksum += line.len();
        line.clear();
    }
    checksum
}

/// The baseline when every line is kept: one owned buffer per line.
fn read_until_owned(stream: &[u8]) -> usize {
    let mut reader = BufReader::with_capacity(READ_SIZE, stream);
    let mut checksum = 0;
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).expect("reading memory") == 0 {
            return checksum;
        }
        checksum += black_box(line).len();
    }
}

/// Reads the stream 8 KiB at a time, as a transport does, and decodes each read.
fn decode_stream(stream: &[u8], mut on_item: impl FnMut(Item<'_>) -> usize) -> usize {
    let mut reader = stream;
    let mut buffer = vec![0; READ_SIZE];
    let mut decoder = LineDecoder::new();
    let mut checksum = 0;
    loop {
        let read = reader.read(&mut buffer).expect("reading memory");
        if read == 0 {
            return checksum;
        }
        decoder.decode(&buffer[..read], |item| {
            if let Ok(item) = item {
                checksum += on_item(item);
            }
        });
    }
}

fn message_length(item: &Item<'_>) -> usize {
    match item {
        Item::Message(message) => message.name().len() + message.args().len() + 2,
        _ => 0,
    }
}

fn decode_borrowed(stream: &[u8]) -> usize {
    decode_stream(stream, |item| message_length(&item))
}

fn decode_owned(stream: &[u8]) -> usize {
    decode_stream(stream, |item| message_length(&black_box(item.into_owned())))
}

/// A way of splitting the stream, returning a checksum of what it saw.
type Contender = (&'static str, fn(&[u8]) -> usize);

/// The fastest of several rounds, the contenders taking turns so that a noisy moment hurts all.
fn fastest(contenders: &[Contender], stream: &[u8]) -> Vec<Duration> {
    let mut best = vec![Duration::MAX; contenders.len()];
    let mut checksums = vec![0; contenders.len()];
    for _ in 0..ROUNDS {
        for (index, (_, run)) in contenders.iter().enumerate() {
            let start = Instant::now();
            checksums[index] = black_box(run(black_box(stream)));
            best[index] = best[index].min(start.elapsed());
        }
    }
    assert!(
        checksums.windows(2).all(|pair| pair[0] == pair[1]),
        "the contenders disagree on the stream: {checksums:?}"
    );
    best
}

fn codec() {
    let stream = sixteen_byte_lines();
    let lines = stream.len() / 16;
    println!("codec: {lines} lines of 16 bytes ({} MiB), read {READ_SIZE} bytes at a time; best of {ROUNDS}", stream.len() >> 20);
    let contenders: [Contender; 4] = [
        ("read_until, reused buffer (baseline)", read_until_reused),
        ("LineDecoder, borrowed items", decode_borrowed),
        ("read_until, a Vec per line (baseline)", read_until_owned),
        ("LineDecoder, owned items", decode_owned),
    ];
    let times = fastest(&contenders, &stream);
    for ((name, _), time) in contenders.iter().zip(&times) {
        let seconds = time.as_secs_f64();
        println!(
            "  {name:<40} {:>8.1} ms  {:>7.1} M lines/s  {:>7.0} MiB/s",
            seconds * 1e3,
            lines as f64 / seconds / 1e6,
            stream.len() as f64 / seconds / (1 << 20) as f64
        );
    }
    let ratio = |baseline: usize, contender: usize| {
        times[baseline].as_secs_f64() / times[contender].as_secs_f64()
    };
    println!(
        "  ratio borrowed decoder / read_until reused buffer: {:.2} (aim: at least 0.80)",
        ratio(0, 1)
    );
    println!(
        "  ratio owned decoder / read_until Vec per line:     {:.2}",
        ratio(2, 3)
    );
    println!(
        "  ratio owned decoder / read_until reused buffer:    {:.2}",
        ratio(0, 3)
    );
}
