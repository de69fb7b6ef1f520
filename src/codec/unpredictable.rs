//! Unpredictable numbers without a dependency, for WebSocket masking keys and retry jitter: the
//! keystream of the ChaCha cipher with 12 rounds (what `rand`'s standard generator, and so
//! tungstenite's masking, uses), keyed from the standard library's keyed hash (SipHash, with keys
//! random per process) over the clock and the instance's number. Seeing earlier numbers tells
//! nothing of the next, and two sources started together draw apart.
//!
//! A masking key is drawn for every frame a client sends, so the cost per number matters: one
//! ChaCha12 block makes sixteen 32-bit numbers for about 47 instructions each, where a SipHash of
//! a counter cost 70 per 32 bits (callgrind, on the send path of a ws client).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Rounds per block: ChaCha12, as `rand`'s `StdRng`.
const ROUNDS: usize = 12;
/// "expand 32-byte k", the constant first row of every ChaCha block.
const CONSTANT: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// A source of unpredictable numbers.
pub(crate) struct Unpredictable {
    key: [u32; 8],
    /// The block counter and nonce row: the counter in the first two words.
    input: [u32; 4],
    block: [u32; 16],
    /// Words of `block` already handed out.
    used: usize,
}

/// Shows nothing of the state: it is what makes the numbers unpredictable.
impl std::fmt::Debug for Unpredictable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unpredictable { .. }")
    }
}

impl Unpredictable {
    /// A new sequence, apart from every other instance's.
    pub(crate) fn new() -> Self {
        static INSTANCES: AtomicU64 = AtomicU64::new(0);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as u64);
        let instance = INSTANCES.fetch_add(1, Ordering::Relaxed);
        let secret = RandomState::new();
        let mut key = [0; 8];
        for (part, words) in key.chunks_exact_mut(2).enumerate() {
            let hashed = secret.hash_one((part, now, instance));
            words.copy_from_slice(&[hashed as u32, (hashed >> 32) as u32]);
        }
        Unpredictable {
            key,
            input: [0; 4],
            block: [0; 16],
            used: 16,
        }
    }

    /// The next 32-bit number.
    #[inline]
    pub(crate) fn next_u32(&mut self) -> u32 {
        if self.used == self.block.len() {
            self.refill();
        }
        let number = self.block[self.used];
        self.used += 1;
        number
    }

    /// The next 64-bit number.
    pub(crate) fn next_u64(&mut self) -> u64 {
        (u64::from(self.next_u32()) << 32) | u64::from(self.next_u32())
    }

    // Out of line: one draw in sixteen needs it, and the draw itself is inlined into every send.
    #[inline(never)]
    fn refill(&mut self) {
        self.block = chacha_block(&self.key, self.input, ROUNDS);
        let counter = (u64::from(self.input[1]) << 32 | u64::from(self.input[0])).wrapping_add(1);
        self.input[0] = counter as u32;
        self.input[1] = (counter >> 32) as u32;
        self.used = 0;
    }
}

/// One ChaCha block (RFC 8439 2.3) of `rounds` rounds, the state held as four rows of four words:
/// a column round is then one step per row, and a diagonal round the same after turning rows.
fn chacha_block(key: &[u32; 8], input: [u32; 4], rounds: usize) -> [u32; 16] {
    let start = [
        CONSTANT,
        [key[0], key[1], key[2], key[3]],
        [key[4], key[5], key[6], key[7]],
        input,
    ];
    let [mut a, mut b, mut c, mut d] = start;
    for _ in 0..rounds / 2 {
        quarter_rounds(&mut a, &mut b, &mut c, &mut d);
        // Turning rows 1-3 by one, two and three words lines the diagonals up as columns.
        (b, c, d) = (turn(b, 1), turn(c, 2), turn(d, 3));
        quarter_rounds(&mut a, &mut b, &mut c, &mut d);
        (b, c, d) = (turn(b, 3), turn(c, 2), turn(d, 1));
    }
    let mut block = [0; 16];
    for (row, (mixed, started)) in [a, b, c, d].iter().zip(&start).enumerate() {
        for column in 0..4 {
            block[row * 4 + column] = mixed[column].wrapping_add(started[column]);
        }
    }
    block
}

/// The quarter round on each of the four columns at once, one step for a whole row at a time.
#[inline(always)]
fn quarter_rounds(a: &mut [u32; 4], b: &mut [u32; 4], c: &mut [u32; 4], d: &mut [u32; 4]) {
    *a = add(*a, *b);
    *d = xor_rotate(*d, *a, 16);
    *c = add(*c, *d);
    *b = xor_rotate(*b, *c, 12);
    *a = add(*a, *b);
    *d = xor_rotate(*d, *a, 8);
    *c = add(*c, *d);
    *b = xor_rotate(*b, *c, 7);
}

#[inline(always)]
fn add(x: [u32; 4], y: [u32; 4]) -> [u32; 4] {
    [
        x[0].wrapping_add(y[0]),
        x[1].wrapping_add(y[1]),
        x[2].wrapping_add(y[2]),
        x[3].wrapping_add(y[3]),
    ]
}

#[inline(always)]
fn xor_rotate(x: [u32; 4], y: [u32; 4], by: u32) -> [u32; 4] {
    [
        (x[0] ^ y[0]).rotate_left(by),
        (x[1] ^ y[1]).rotate_left(by),
        (x[2] ^ y[2]).rotate_left(by),
        (x[3] ^ y[3]).rotate_left(by),
    ]
}

/// `row` turned left by `by` words.
#[inline(always)]
fn turn(row: [u32; 4], by: usize) -> [u32; 4] {
    [
        row[by],
        row[(by + 1) % 4],
        row[(by + 2) % 4],
        row[(by + 3) % 4],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_function_matches_rfc_8439() {
        // RFC 8439 2.3.2: key 00 01 .. 1f, block counter 1, nonce 00 00 00 09 00 00 00 4a 00 00
        // 00 00, twenty rounds.
        let bytes: Vec<u8> = (0..32).collect();
        let mut key = [0; 8];
        for (word, four) in key.iter_mut().zip(bytes.chunks_exact(4)) {
            *word = u32::from_le_bytes(four.try_into().unwrap());
        }
        let input = [1, 0x0900_0000, 0x4a00_0000, 0];
        let expected = [
            0xe4e7_f110,
            0x1559_3bd1,
            0x1fdd_0f50,
            0xc471_20a3,
            0xc7f4_d1c7,
            0x0368_c033,
            0x9aaa_2204,
            0x4e6c_d4c3,
            0x4664_82d2,
            0x09aa_9f07,
            0x05d7_c214,
            0xa202_8bd9,
            0xd19c_12b5,
            0xb94e_16de,
            0xe883_d0cb,
            0x4e3c_50a2,
        ];
        assert_eq!(chacha_block(&key, input, 20), expected);
    }

    #[test]
    fn numbers_differ_between_draws_and_instances() {
        let mut source = Unpredictable::new();
        let drawn: std::collections::HashSet<u64> = (0..1000).map(|_| source.next_u64()).collect();
        assert_eq!(drawn.len(), 1000);
        let (mut a, mut b) = (Unpredictable::new(), Unpredictable::new());
        assert_ne!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn blocks_follow_one_another_without_repeating() {
        let mut source = Unpredictable::new();
        let first: Vec<u32> = (0..16).map(|_| source.next_u32()).collect();
        let second: Vec<u32> = (0..16).map(|_| source.next_u32()).collect();
        assert_ne!(first, second);
        assert_eq!(source.input[0], 2, "two blocks made");
        let key = source.key;
        assert_eq!(first, chacha_block(&key, [0; 4], ROUNDS));
        assert_eq!(second, chacha_block(&key, [1, 0, 0, 0], ROUNDS));
    }
}
