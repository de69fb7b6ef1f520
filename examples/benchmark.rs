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

use std::hint::black_box;
use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use mmdagent_remote::{Item, LineDecoder};

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
