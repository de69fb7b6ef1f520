//! Searches over bytes eight at a time: where a line ends, where a message's type ends, whether a
//! line can be sent as it is. Lines are short and many and these run for every one, so each reads
//! whole words and branches once per word at most (a line shorter than a word goes byte by byte).

/// Whether `byte` ends a line: a CR or an LF.
#[inline]
pub(crate) fn is_line_end(byte: u8) -> bool {
    byte == b'\n' || byte == b'\r'
}

/// The position of the first CR or LF, eight bytes at a time: lines are short and many, and this
/// search is most of the decoder's work on ordinary text.
#[inline]
pub(crate) fn find_line_end(bytes: &[u8]) -> Option<usize> {
    find_word_match(bytes, |word| zero_bytes(word ^ LF) | zero_bytes(word ^ CR))
}

/// Where the first `|` is: where a message's type ends.
#[inline]
pub(crate) fn find_bar(bytes: &[u8]) -> Option<usize> {
    find_word_match(bytes, |word| zero_bytes(word ^ BAR))
}

/// Whether `line` holds a CR or an LF. This runs for every [`Item`](crate::Item) message a host
/// sends, so it is one cheap test per word (a byte below 0x0E), with an exact search only when
/// some byte is. (Checking while copying word by word was tried: the compiler then reloads the
/// buffer's length after every word, and it cost more than checking first and calling `memcpy`.)
#[inline(always)]
pub(crate) fn has_line_end(line: &[u8]) -> bool {
    let length = line.len();
    if length < 8 {
        return find_line_end(line).is_some();
    }
    // Bytes below 0x0E: every CR and LF, and rarely anything else (a tab, a control byte).
    let word_at = |at: usize| u64::from_le_bytes(line[at..at + 8].try_into().expect("eight bytes"));
    let mut suspects = bytes_below(word_at(length - 8), 0x0E);
    let mut at = 0;
    while at + 8 < length {
        suspects |= bytes_below(word_at(at), 0x0E);
        at += 8;
    }
    suspects != 0 && find_line_end(line).is_some()
}

/// Nonzero if some byte of `word` is below `bound` (at most 0x80).
#[inline(always)]
fn bytes_below(word: u64, bound: u8) -> u64 {
    word.wrapping_sub(ONES * u64::from(bound)) & !word & HIGHS
}

const ONES: u64 = u64::from_le_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
const LF: u64 = u64::from_le_bytes([b'\n'; 8]);
const CR: u64 = u64::from_le_bytes([b'\r'; 8]);
const BAR: u64 = u64::from_le_bytes([b'|'; 8]);

/// The high bit of each zero byte of `word`; a byte above a zero one may be marked too, but the
/// lowest mark is always right, and that is the one taken.
#[inline(always)]
fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word & HIGHS
}

/// The first byte that `marks` marks (its high bit set in the returned word), reading eight bytes
/// at a time; the last eight are read as one word overlapping the ones before, so a short tail
/// costs no loop of its own.
#[inline(always)]
fn find_word_match(bytes: &[u8], marks: impl Fn(u64) -> u64) -> Option<usize> {
    let word_at =
        |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"));
    if bytes.len() < 8 {
        let mut padded = [0u8; 8];
        padded[..bytes.len()].copy_from_slice(bytes);
        let found = marks(u64::from_le_bytes(padded));
        // Padding is zero, which no pattern here is; still, only real bytes count.
        let position = found.trailing_zeros() as usize / 8;
        return (found != 0 && position < bytes.len()).then_some(position);
    }
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let found = marks(word_at(at));
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    if at < bytes.len() {
        let last = bytes.len() - 8;
        let found = marks(word_at(last));
        if found != 0 {
            return Some(last + found.trailing_zeros() as usize / 8);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_end_search_finds_the_first_cr_or_lf_at_every_position() {
        for length in 0..40 {
            for position in 0..length {
                for end in [b'\n', b'\r'] {
                    let mut bytes = vec![b'a'; length];
                    bytes[position] = end;
                    assert_eq!(find_line_end(&bytes), Some(position));
                }
            }
            assert_eq!(find_line_end(&vec![0x8a; length]), None);
        }
    }

    #[test]
    fn bar_search_finds_the_first_bar_at_every_position() {
        for length in 0..40 {
            for position in 0..length {
                let mut bytes = vec![b'a'; length];
                bytes[position] = b'|';
                if position + 1 < length {
                    bytes[length - 1] = b'|';
                }
                assert_eq!(find_bar(&bytes), Some(position));
            }
            assert_eq!(
                find_bar(&vec![0xfc; length]),
                None,
                "0xfc is `|` with the high bit"
            );
        }
    }

    #[test]
    fn a_line_end_is_found_wherever_it_is_and_nothing_else_counts() {
        // Every length around the word size, every position of an odd byte (line ends, and the
        // bytes near them that the first look at a word also suspects).
        for length in 0..40 {
            for position in 0..=length {
                for odd in [
                    b'\n', b'\r', b'\t', 0x00, 0x0b, 0x0c, 0x0d, 0x0e, 0x8a, 0x8d, b'|',
                ] {
                    let mut line: Vec<u8> = (0..length).map(|at| b'A' + (at % 26) as u8).collect();
                    if position < length {
                        line[position] = odd;
                    }
                    let plain = line.contains(&b'\n') || line.contains(&b'\r');
                    assert_eq!(has_line_end(&line), plain, "{line:?}");
                }
            }
        }
    }
}
