//! The `codec` section: the line decoder over a stream in memory, read 8 KiB at a time as a
//! transport reads, against `BufRead::read_until(b'\n')` through a `BufReader` of the same size.

use std::hint::black_box;
use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use mmdagent_remote::{Item, LineDecoder};

use super::counts::Counts;
use super::lines::{numbered_line, LINE};
use super::report::{throughput, Row};

const READ_SIZE: usize = 8192;

pub fn run(counts: &Counts) -> Vec<Row> {
    let lines = counts.codec_bytes / LINE;
    let stream: Vec<u8> = (0..lines).flat_map(numbered_line).collect();
    let rounds: Vec<[Duration; 4]> = (0..counts.rounds)
        .map(|_| {
            let results = [
                read_until_reused as fn(&[u8]) -> usize,
                decode_borrowed,
                read_until_owned,
                decode_owned,
            ]
            .map(|contender| {
                let start = Instant::now();
                let bytes = black_box(contender(black_box(&stream)));
                (bytes, start.elapsed())
            });
            assert!(
                results.iter().all(|&(bytes, _)| bytes == stream.len()),
                "every contender sees every byte"
            );
            results.map(|(_, time)| time)
        })
        .collect();
    let pairs = |baseline: usize, ours: usize| -> Vec<(Duration, Duration)> {
        rounds
            .iter()
            .map(|times| (times[baseline], times[ours]))
            .collect()
    };
    vec![
        throughput(
            &format!("decode {lines} lines from memory, borrowed items vs read_until reused"),
            "lines",
            lines,
            &pairs(0, 1),
            0.8,
        ),
        throughput(
            &format!("decode {lines} lines from memory, owned items vs read_until Vec per line"),
            "lines",
            lines,
            &pairs(2, 3),
            0.8,
        ),
    ]
}

/// The baseline: what a user would write to split lines with the standard library.
fn read_until_reused(stream: &[u8]) -> usize {
    let mut reader = BufReader::with_capacity(READ_SIZE, stream);
    let mut line = Vec::new();
    let mut bytes = 0;
    while reader.read_until(b'\n', &mut line).expect("reading memory") > 0 {
        bytes += line.len();
        line.clear();
    }
    bytes
}

/// The baseline when every line is kept: one owned buffer per line.
fn read_until_owned(stream: &[u8]) -> usize {
    let mut reader = BufReader::with_capacity(READ_SIZE, stream);
    let mut bytes = 0;
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).expect("reading memory") == 0 {
            return bytes;
        }
        bytes += black_box(line).len();
    }
}

/// Reads the stream 8 KiB at a time, as a transport does, and decodes each read.
fn decode_stream(stream: &[u8], mut on_item: impl FnMut(Item<'_>) -> usize) -> usize {
    let mut reader = stream;
    let mut buffer = vec![0; READ_SIZE];
    let mut decoder = LineDecoder::new();
    let mut bytes = 0;
    loop {
        let read = reader.read(&mut buffer).expect("reading memory");
        if read == 0 {
            return bytes;
        }
        decoder.decode(&buffer[..read], |item| {
            if let Ok(item) = item {
                bytes += on_item(item);
            }
        });
    }
}

/// The bytes a message took on the wire: type, `|`, arguments and `\n`.
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
