//! The decoder must yield the same items however a stream is cut into reads, and must give back
//! exactly what the encoder wrote.
//!
//! Streams are generated from a seed: text messages, avatar lines, audio chunks and controls, and
//! garbage (stray CR/LF, NUL, invalid UTF-8, `SND` lookalikes, lines over the limit). A failure
//! prints the seed and stream number; `MMDAGENT_REMOTE_SEED=<seed>` replays the run, and
//! `MMDAGENT_REMOTE_STREAMS=<n>` runs more streams.

use std::borrow::Cow;

use mmdagent_remote::{
    encode, AudioControl, AutoLipMode, AvatarCommand, DecodeError, Item, LineDecoder, Message,
};

/// Small enough that generated lines cross it often.
const LINE_LIMIT: usize = 48;
const DEFAULT_STREAMS: u64 = 10_000;
const DEFAULT_SEED: u64 = 0x6d6d_6461_6765_6e74;

type Decoded = Vec<Result<Item<'static>, DecodeError>>;

/// SplitMix64: tiny, seedable, and good enough to pick test cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, choices: &'a [T]) -> &'a T {
        &choices[self.below(choices.len())]
    }

    fn text(&mut self, max_length: usize) -> String {
        const PIECES: &[&str] = &[
            "a", "B", "z", "0", "9", " ", "\t", "|", ",", "=", "_", "é", "あ", "🙂", "S", "N", "D",
            "\0",
        ];
        let length = self.below(max_length + 1);
        (0..length).map(|_| *self.pick(PIECES)).collect()
    }

    fn word(&mut self) -> String {
        let word: String = self
            .text(8)
            .chars()
            .filter(|c| !"|,=".contains(*c))
            .collect();
        if word.is_empty() {
            "w".to_owned()
        } else {
            word
        }
    }
}

/// An item the encoder accepts, chosen at random.
fn random_item(rng: &mut Rng) -> Item<'static> {
    match rng.below(10) {
        0..=4 => {
            let name = rng.text(12).replace('|', "");
            let args = rng.text(30);
            Item::Message(Message::new(
                if name.is_empty() && args.is_empty() {
                    "N".to_owned()
                } else {
                    name
                },
                args,
            ))
        }
        5 => Item::avatar(match rng.below(7) {
            0 => AvatarCommand::Start,
            1 => AvatarCommand::End,
            2 => AvatarCommand::SetModel(Cow::Owned(rng.word())),
            3 => AvatarCommand::ExternalMorphs(
                (0..rng.below(4))
                    .map(|_| (Cow::Owned(rng.word()), rng.below(1001) as f32 / 1000.0))
                    .collect(),
            ),
            4 => AvatarCommand::Action(rng.below(100) as u32),
            5 => AvatarCommand::DisableAutoLip(*rng.pick(&[
                AutoLipMode::Never,
                AutoLipMode::Arkit,
                AutoLipMode::ActionUnits,
                AutoLipMode::ArkitOrActionUnits,
                AutoLipMode::Always,
            ])),
            _ => AvatarCommand::Other(Cow::Owned(format!(
                "__AV_TRACK,{},{}",
                rng.word(),
                rng.below(9)
            ))),
        }),
        6 | 7 => {
            let length = *rng.pick(&[0, 1, 2, 7, 31, 1280, 4096, 9999]);
            Item::AudioChunk(Cow::Owned((0..length).map(|_| rng.next() as u8).collect()))
        }
        8 => Item::AudioControl(*rng.pick(&[
            AudioControl::Stream,
            AudioControl::File,
            AudioControl::Break,
        ])),
        _ => Item::RelayPeerDisconnected,
    }
}

/// Bytes no encoder would write, chosen to hit the decoder's edges.
fn random_garbage(rng: &mut Rng) -> Vec<u8> {
    match rng.below(9) {
        0 => rng
            .pick(&[&b"\r"[..], b"\n", b"\r\n", b"\n\r\n\r", b"\r\r"])
            .to_vec(),
        1 => vec![b'x'; LINE_LIMIT - 2 + rng.below(6)]
            .into_iter()
            .chain(*b"\n")
            .collect(),
        2 => (0..LINE_LIMIT * 3)
            .map(|_| b'a' + rng.below(26) as u8)
            .chain(*b"\r")
            .collect(),
        3 => b"A|\xff\xfe\xc3(bad\n".to_vec(),
        4 => rng
            .pick(&[
                &b"SND12ab\n"[..],
                b"SND\n",
                b"SN\r",
                b"SNDSTRX|y\n",
                b"S\n",
                b"SNDBRK\n",
            ])
            .to_vec(),
        5 => rng
            .pick(&[
                &b"__AV_ACTION,x\n"[..],
                b"__AV_SETMODEL\n",
                b"__AVCONF_DISABLEAUTOLIP,maybe\n",
            ])
            .to_vec(),
        6 => b"\0\0|\0\n".to_vec(),
        7 => b"SNDSTRMtext after control\n".to_vec(),
        _ => b"partial line without end".to_vec(),
    }
}

/// A stream of encoded items with garbage mixed in (or not), and the items that went in.
fn random_stream(rng: &mut Rng, with_garbage: bool) -> (Vec<u8>, Vec<Item<'static>>) {
    let mut bytes = Vec::new();
    let mut items = Vec::new();
    for _ in 0..rng.below(24) {
        if with_garbage && rng.chance(30) {
            bytes.extend(random_garbage(rng));
            continue;
        }
        let item = random_item(rng);
        encode(&item, &mut bytes)
            .unwrap_or_else(|error| panic!("generator made an unencodable {item:?}: {error}"));
        items.push(item);
    }
    (bytes, items)
}

fn decode_in_pieces(bytes: &[u8], cuts: &[usize], limit: usize) -> Decoded {
    let mut decoder = LineDecoder::with_max_line_length(limit);
    let mut items = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain([bytes.len()].iter()) {
        decoder.decode(&bytes[start..cut], |item| {
            items.push(item.map(Item::into_owned))
        });
        start = cut;
    }
    decoder.finish(|item| items.push(item.map(Item::into_owned)));
    items
}

fn random_cuts(rng: &mut Rng, length: usize) -> Vec<usize> {
    if length == 0 {
        return Vec::new();
    }
    let mut cuts: Vec<usize> = (0..rng.below(12)).map(|_| rng.below(length + 1)).collect();
    cuts.sort_unstable();
    cuts
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let text = text.trim();
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

#[test]
fn any_split_of_a_stream_decodes_to_the_same_items() {
    let seed = env_number("MMDAGENT_REMOTE_SEED").unwrap_or(DEFAULT_SEED);
    let streams = env_number("MMDAGENT_REMOTE_STREAMS").unwrap_or(DEFAULT_STREAMS);
    let mut kinds_seen = [0usize; 4];
    for stream in 0..streams {
        let mut rng = Rng(seed.wrapping_add(stream));
        let (bytes, _) = random_stream(&mut rng, true);
        // Limits below the quoted start of a dropped line (40 bytes) too, where it is built from
        // bytes that came in several pieces.
        let limit = *rng.pick(&[3, 7, 16, LINE_LIMIT]);
        let whole = decode_in_pieces(&bytes, &[], limit);
        let every_byte: Vec<usize> = (1..bytes.len()).collect();
        let cuts = random_cuts(&mut rng, bytes.len());
        for (how, pieces) in [
            ("one byte at a time", &every_byte),
            ("cut at random points", &cuts),
        ] {
            let split = decode_in_pieces(&bytes, pieces, limit);
            assert!(
                split == whole,
                "seed {seed:#x}, stream {stream}, limit {limit}: decoding {how} (cuts {pieces:?}) differs from decoding whole\n\
                 bytes: {bytes:?}\nwhole: {whole:?}\nsplit: {split:?}"
            );
        }
        for item in &whole {
            kinds_seen[match item {
                Ok(Item::Message(_)) => 0,
                Ok(Item::AudioChunk(_)) => 1,
                Err(DecodeError::LineTooLong { .. }) => 2,
                Err(_) => 3,
                Ok(_) => continue,
            }] += 1;
        }
    }
    if streams >= 1000 {
        assert!(
            kinds_seen.iter().all(|&count| count > 100),
            "generator coverage too thin: {kinds_seen:?}"
        );
    }
}

#[test]
fn what_the_encoder_writes_decodes_to_the_same_items_however_split() {
    let seed = env_number("MMDAGENT_REMOTE_SEED").unwrap_or(DEFAULT_SEED) ^ 0x5eed;
    let streams = env_number("MMDAGENT_REMOTE_STREAMS").unwrap_or(DEFAULT_STREAMS) / 4;
    for stream in 0..streams {
        let mut rng = Rng(seed.wrapping_add(stream));
        let (bytes, items) = random_stream(&mut rng, false);
        let cuts = random_cuts(&mut rng, bytes.len());
        let mut decoder = LineDecoder::with_max_line_length(1 << 16);
        let mut decoded = Vec::new();
        let mut start = 0;
        for &cut in cuts.iter().chain([bytes.len()].iter()) {
            decoded.extend(decoder.decode_owned(&bytes[start..cut]));
            start = cut;
        }
        let expected: Decoded = items.into_iter().map(Ok).collect();
        assert!(
            decoded == expected,
            "seed {seed:#x}, stream {stream}: round trip differs (cuts {cuts:?})\nexpected: {expected:?}\ndecoded: {decoded:?}"
        );
        assert!(
            !decoder.has_partial(),
            "seed {seed:#x}, stream {stream}: bytes left over"
        );
    }
}

#[test]
fn a_default_decoder_has_the_default_line_limit_of_the_settings() {
    assert_eq!(
        LineDecoder::new().max_line_length(),
        mmdagent_remote::DEFAULT_MAX_LINE_LENGTH
    );
}
