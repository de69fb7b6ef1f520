//! Splitting a text into pieces the agent can speak one at a time, none of them too long.
//!
//! Pure text work: no message, no I/O. [`split_utterance`] is what [`Speaker`](super::Speaker)
//! uses, and is public for hosts that pace speech themselves.

/// Characters that end a sentence.
const SENTENCE_ENDS: [char; 7] = ['。', '．', '！', '？', '!', '?', '.'];
/// Characters that close a sentence after its end (`」` in `「はい。」`); they stay with it.
const CLOSERS: [char; 9] = ['」', '』', '）', ')', ']', '】', '”', '’', '〉'];
/// Quotes that are the same opening and closing: after a sentence's end they close it only when
/// followed by white space, the end, or another closer (`He said "yes." Then`), not when a word
/// follows at once (`Yes."Hello"`, where the quote opens the next sentence).
const SAME_QUOTES: [char; 2] = ['"', '\''];
/// Characters after which a long sentence may be split.
const COMMAS: [char; 3] = ['、', '，', ','];
/// The longest UTF-8 character; a piece can never be shorter than one character.
const LONGEST_CHAR: usize = 4;

/// Splits `text` into pieces to speak one after another: one per sentence, and a sentence longer
/// than `max_bytes` split further.
///
/// - A sentence ends after `。．！？!?.` (with any run of them and the closing brackets or quotes
///   right after, as in `本当？！」`) and at every line end. A `.` followed at once by a letter or a
///   digit does not end one (`3.14`, `example.com`, `v1.2`), nor does `．` between digits. An
///   abbreviation followed by a space (`e.g. this`) does end one.
/// - The whitespace around each piece is dropped (so is whitespace-only text); whitespace inside a
///   piece is kept.
/// - A sentence longer than `max_bytes` is split after commas (`、，,`; not `,` between digits, as
///   in `1,000`), packing as many clauses into each piece as fit; a clause still too long is split
///   at whitespace the same way, and a word still too long between characters. A cut never falls
///   inside a UTF-8 character.
///
/// So every piece is at most `max_bytes` long (`max_bytes` below 4, the longest UTF-8 character, is
/// taken as 4), and the pieces, joined, are the text without the whitespace and line ends at the
/// cuts. The text itself is not changed: make it safe for the wire before or after, as
/// [`Speaker`](super::Speaker) does.
///
/// ```
/// use mmdagent_remote::agent::split_utterance;
///
/// assert_eq!(
///     split_utterance("こんにちは。今日は3.5度です！\nWhat's up? Fine.", 100),
///     ["こんにちは。", "今日は3.5度です！", "What's up?", "Fine."]
/// );
/// assert_eq!(split_utterance("one, two, three", 9), ["one, two,", "three"]);
/// ```
pub fn split_utterance(text: &str, max_bytes: usize) -> Vec<String> {
    let max_bytes = max_bytes.max(LONGEST_CHAR);
    let mut pieces = Vec::new();
    for sentence in sentences(text) {
        pack(sentence, max_bytes, Level::Commas, &mut pieces);
    }
    pieces
}

/// The sentences of `text`, untrimmed, line ends left out.
fn sentences(text: &str) -> Vec<&str> {
    let mut sentences = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    let mut previous = None;
    while let Some((at, c)) = chars.next() {
        let next = chars.peek().map(|&(_, next)| next);
        if c == '\n' || c == '\r' {
            sentences.push(&text[start..at]);
            start = at + c.len_utf8();
        } else if SENTENCE_ENDS.contains(&c) && ends_sentence(previous, c, next) {
            let mut end = at + c.len_utf8();
            while let Some(&(after, more)) = chars.peek() {
                let closes = SENTENCE_ENDS.contains(&more)
                    || CLOSERS.contains(&more)
                    || (SAME_QUOTES.contains(&more)
                        && text[after + more.len_utf8()..]
                            .chars()
                            .next()
                            .is_none_or(|then| {
                                then.is_whitespace()
                                    || SENTENCE_ENDS.contains(&then)
                                    || CLOSERS.contains(&then)
                                    || SAME_QUOTES.contains(&then)
                            }));
                if !closes {
                    break;
                }
                end = after + more.len_utf8();
                chars.next();
            }
            sentences.push(&text[start..end]);
            start = end;
        }
        previous = Some(c);
    }
    sentences.push(&text[start..]);
    sentences
}

/// Whether a sentence-ending character `c` ends one here, between `previous` and `next`.
fn ends_sentence(previous: Option<char>, c: char, next: Option<char>) -> bool {
    let is_digit =
        |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit() || ('０'..='９').contains(&c));
    match c {
        '.' => !(next.is_some_and(|next| next.is_ascii_alphanumeric()) || is_digit(next)),
        '．' => !(is_digit(previous) && is_digit(next)),
        _ => true,
    }
}

/// Where a too-long stretch of text may be cut, coarsest first.
#[derive(Clone, Copy)]
enum Level {
    Commas,
    Whitespace,
    Characters,
}

/// Appends `text`, trimmed, as pieces of at most `max_bytes`: whole if it fits, else cut at this
/// level's places and packed greedily, each segment that is still too long cut at the next level.
fn pack(text: &str, max_bytes: usize, level: Level, pieces: &mut Vec<String>) {
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    if text.len() <= max_bytes {
        pieces.push(text.to_owned());
        return;
    }
    let (segments, finer) = match level {
        Level::Commas => (segments_after_commas(text), Level::Whitespace),
        Level::Whitespace => (segments_after_whitespace(text), Level::Characters),
        Level::Characters => {
            split_characters(text, max_bytes, pieces);
            return;
        }
    };
    // The open piece is text[open..end]; segments are contiguous, so `end` is where the next starts.
    let mut open = 0;
    let mut end = 0;
    for (start, stop) in segments {
        if text[open..stop].trim().len() <= max_bytes {
            end = stop;
            continue;
        }
        flush(&text[open..end], pieces);
        if text[start..stop].trim().len() <= max_bytes {
            open = start;
        } else {
            pack(&text[start..stop], max_bytes, finer, pieces);
            open = stop;
        }
        end = stop;
    }
    flush(&text[open..end], pieces);
}

/// Appends `piece`, trimmed, unless nothing is left of it.
fn flush(piece: &str, pieces: &mut Vec<String>) {
    let piece = piece.trim();
    if !piece.is_empty() {
        pieces.push(piece.to_owned());
    }
}

/// `text` as contiguous byte ranges, each ending after a comma (or at the end).
fn segments_after_commas(text: &str) -> Vec<(usize, usize)> {
    let mut cuts = Vec::new();
    let mut previous = None;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let next = chars.peek().map(|&(_, next)| next);
        let in_number = c == ','
            && previous.is_some_and(|p: char| p.is_ascii_digit())
            && next.is_some_and(|n| n.is_ascii_digit());
        if COMMAS.contains(&c) && !in_number {
            cuts.push(at + c.len_utf8());
        }
        previous = Some(c);
    }
    ranges(cuts, text.len())
}

/// `text` as contiguous byte ranges, each a word and the whitespace after it.
fn segments_after_whitespace(text: &str) -> Vec<(usize, usize)> {
    let mut cuts = Vec::new();
    let mut in_space = false;
    for (at, c) in text.char_indices() {
        if c.is_whitespace() {
            in_space = true;
        } else if in_space {
            cuts.push(at);
            in_space = false;
        }
    }
    ranges(cuts, text.len())
}

/// Contiguous ranges from 0 to `length`, cut at `cuts` (increasing).
fn ranges(cuts: Vec<usize>, length: usize) -> Vec<(usize, usize)> {
    let mut start = 0;
    let mut ranges = Vec::with_capacity(cuts.len() + 1);
    for cut in cuts.into_iter().chain([length]) {
        if cut > start {
            ranges.push((start, cut));
            start = cut;
        }
    }
    ranges
}

/// Cuts between characters, as many in each piece as fit, and not before a combining mark (which
/// belongs to the character before it) unless the two together do not fit in a piece.
fn split_characters(text: &str, max_bytes: usize, pieces: &mut Vec<String>) {
    let mut start = 0;
    // Where the last character that is not a combining mark starts.
    let mut base = 0;
    for (at, c) in text.char_indices() {
        if at + c.len_utf8() - start > max_bytes {
            let with_its_base = at + c.len_utf8() - base <= max_bytes;
            let cut = if is_combining_mark(c) && base > start && with_its_base {
                base
            } else {
                at
            };
            pieces.push(text[start..cut].to_owned());
            start = cut;
        }
        if !is_combining_mark(c) {
            base = at;
        }
    }
    pieces.push(text[start..].to_owned());
}

/// Whether `c` is a mark that combines with the character before it: the combining diacritics
/// (U+0300–U+036F), the kana voicing marks (U+3099–U+309A) and the variation selectors.
fn is_combining_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{3099}'..='\u{309A}' | '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japanese_sentences() {
        assert_eq!(
            split_utterance(
                "こんにちは。今日はいい天気ですね！散歩に行きませんか？",
                1000
            ),
            [
                "こんにちは。",
                "今日はいい天気ですね！",
                "散歩に行きませんか？"
            ]
        );
        assert_eq!(
            split_utterance("「本当？！」と彼は言った。　次です．", 1000),
            ["「本当？！」", "と彼は言った。", "次です．"]
        );
        assert_eq!(
            split_utterance("円周率は３．１４です。", 1000),
            ["円周率は３．１４です。"]
        );
        // Full-width digits around an ASCII point are a number too.
        assert_eq!(
            split_utterance("円周率は３.１４です。", 1000),
            ["円周率は３.１４です。"]
        );
    }

    #[test]
    fn english_sentences_numbers_and_line_ends() {
        assert_eq!(
            split_utterance(
                "Hello there. Pi is 3.14! See example.com...  Really?\nYes",
                1000
            ),
            [
                "Hello there.",
                "Pi is 3.14!",
                "See example.com...",
                "Really?",
                "Yes"
            ]
        );
        assert_eq!(
            split_utterance("line one\r\nline two\n\n", 1000),
            ["line one", "line two"]
        );
        assert!(split_utterance(" \n\t　", 100).is_empty());
        // A straight quote after the end closes the sentence only if no word follows at once.
        assert_eq!(
            split_utterance("Yes.\"Hello\" He said \"no.\" Then 'ok.'", 1000),
            ["Yes.", "\"Hello\" He said \"no.\"", "Then 'ok.'"]
        );
        assert!(split_utterance("", 100).is_empty());
    }

    #[test]
    fn long_sentences_split_at_commas_then_spaces_then_characters() {
        assert_eq!(
            split_utterance("今日は晴れ、明日は雨、明後日は雪です。", 33),
            ["今日は晴れ、明日は雨、", "明後日は雪です。"]
        );
        // The clause too long for a piece is split at spaces; its last word stays with its comma
        // rather than joining the next clause.
        assert_eq!(
            split_utterance("one two three four, five", 14),
            ["one two three", "four,", "five"]
        );
        assert_eq!(split_utterance("a, b, c, d", 5), ["a, b,", "c, d"]);
        assert_eq!(split_utterance("1,000,000 yen", 9), ["1,000,000", "yen"]);
        // Nine characters of three bytes each, ten bytes at most: three characters a piece.
        assert_eq!(
            split_utterance("あいうえおかきくけ", 10),
            ["あいう", "えおか", "きくけ"]
        );
        // A combining mark stays with its base: か + U+3099 (が) and e + U+0301 (é), three bytes
        // each for the kana and mark, one and two for the e and its accent.
        assert_eq!(split_utterance("あか\u{3099}", 6), ["あ", "か\u{3099}"]);
        assert_eq!(split_utterance("abe\u{301}", 3), ["ab", "e\u{301}"]);
        // A four-byte character never fits in fewer bytes, so the least is taken as four.
        assert_eq!(split_utterance("😀😀", 1), ["😀", "😀"]);
    }

    /// A small deterministic generator (xorshift), so the property test needs no dependency and
    /// fails the same way every run.
    struct Xorshift(u64);

    impl Xorshift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    const ALPHABET: &[&str] = &[
        "a", "b", "Z", "1", "9", "あ", "漢", "😀", " ", "　", "\t", "\n", "\r\n", "。", "．", "！",
        "？", "!", "?", ".", "、", "，", ",", "」", ")", "|", "é", "\"", "'", "\u{301}", "３",
    ];

    fn without_whitespace(text: &str) -> String {
        text.chars().filter(|c| !c.is_whitespace()).collect()
    }

    #[test]
    fn property_every_piece_fits_and_the_pieces_give_back_the_text() {
        let mut random = Xorshift(0x9e37_79b9_7f4a_7c15);
        for round in 0..3000 {
            let length = random.below(120);
            let text: String = (0..length)
                .map(|_| ALPHABET[random.below(ALPHABET.len())])
                .collect();
            let max_bytes = 4 + random.below(40);
            let pieces = split_utterance(&text, max_bytes);
            let mut rest = text.as_str();
            for piece in &pieces {
                assert!(
                    !piece.is_empty() && piece.len() <= max_bytes,
                    "round {round}: {piece:?} in {max_bytes} bytes, from {text:?}"
                );
                assert_eq!(piece.trim(), piece, "round {round}: {text:?}");
                assert!(!piece.contains(['\n', '\r']), "round {round}: {text:?}");
                // Each piece is the text's own, in order: nothing changed, only cut.
                let at = rest
                    .find(piece.as_str())
                    .unwrap_or_else(|| panic!("round {round}: {piece:?} not next in {text:?}"));
                assert!(
                    rest[..at].trim().is_empty(),
                    "round {round}: skipped {:?}",
                    &rest[..at]
                );
                rest = &rest[at + piece.len()..];
            }
            assert!(
                rest.trim().is_empty(),
                "round {round}: left {rest:?} of {text:?}"
            );
            assert_eq!(
                without_whitespace(&pieces.concat()),
                without_whitespace(&text),
                "round {round}"
            );
        }
    }
}
