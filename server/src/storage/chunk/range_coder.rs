//! The entropy decoder of chunk format generation 1: an LZMA-style binary
//! range coder with adaptive bit probabilities, and the model that
//! binarises residuals for it. Chunks are no longer written this way (see
//! `rans.rs`, generation 2), but those on disk still decode; the encoder
//! that wrote them is in the repository's history.

use super::ChunkError;

/// Probabilities of a zero bit, in 1/2^15.
const PROB_BITS: u32 = 15;
const TOP: u32 = 1 << 24;
/// Widest uniform symbol coded in one step; the range keeps at least 2^8.
const DIRECT_BITS: u32 = 16;
/// Adaptation shift by the number of bits a context has seen: early bits
/// move it a lot (close to counting), later ones by 1/32, so a context
/// learns within a few samples yet stays steady over a long chunk.
const RATE: [u8; 16] = [1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 5];

/// One adaptive binary context.
#[derive(Clone, Copy)]
pub(super) struct Prob {
    zero: u16,
    seen: u8,
}

impl Prob {
    const NEW: Prob = Prob {
        zero: 1 << (PROB_BITS - 1),
        seen: 0,
    };

    /// Moves towards the bit just coded; `zero` stays within 1..2^15.
    fn update(&mut self, bit: u32) {
        let shift = RATE[self.seen as usize];
        self.seen = (self.seen + 1).min(RATE.len() as u8 - 1);
        let zero = u32::from(self.zero);
        // Both moves, then a select rather than a branch: decoded bits are
        // often close to coin flips that a branch predictor cannot guess.
        let up = zero + (((1 << PROB_BITS) - zero) >> shift);
        let down = zero - (zero >> shift);
        let ones = bit.wrapping_neg();
        self.zero = ((up & !ones) | (down & ones)) as u16;
    }
}

/// Adaptive model of one column's zigzagged residuals. The bit length
/// goes in unary away from `base` (the median length, from the side
/// information): two or three decisions for typical values where unary
/// from zero would take six or more. Then the two bits after the leading
/// one, by context, and the rest as uniform bits, which they nearly are.
pub(super) struct IntModel {
    base: usize,
    above: Prob,
    up: [Prob; 65],
    down: [Prob; 65],
    high: [[Prob; 3]; 65],
}

impl IntModel {
    pub(super) fn new(base: u8) -> Self {
        let p = Prob::NEW;
        IntModel {
            base: base as usize,
            above: p,
            up: [p; 65],
            down: [p; 65],
            high: [[p; 3]; 65],
        }
    }

    /// Inlined into the column's loop (about 6 % faster reads on the
    /// benchmark's chunks than a call per residual).
    #[inline(always)]
    pub(super) fn decode(&mut self, rc: &mut RangeDecoder) -> u64 {
        let mut k = self.base;
        if k == 0 || rc.bit(&mut self.above) == 1 {
            while k < 64 && rc.bit(&mut self.up[k]) == 1 {
                k += 1;
            }
        } else {
            k -= 1;
            while k > 0 && rc.bit(&mut self.down[k]) == 1 {
                k -= 1;
            }
        }
        if k < 2 {
            return k as u64;
        }
        let rest = k as u32 - 1;
        let b1 = rc.bit(&mut self.high[k][0]);
        if rest == 1 {
            return 2 | u64::from(b1);
        }
        let b2 = rc.bit(&mut self.high[k][1 + b1 as usize]);
        let top = (4 | u64::from(b1) << 1 | u64::from(b2)) << (rest - 2);
        top | rc.direct(rest - 2)
    }
}

/// The range decoder. It reads zeros past the end of its input and
/// lets `finish` report that, keeping errors off the per-bit path; as it
/// reads exactly the bytes the encoder wrote, any truncation is caught.
pub(super) struct RangeDecoder<'a> {
    buf: &'a [u8],
    pos: usize,
    range: u32,
    code: u32,
}

impl<'a> RangeDecoder<'a> {
    /// An idle decoder (`active` false) only checks that no bytes are left.
    pub(super) fn new(buf: &'a [u8], active: bool) -> Result<Self, ChunkError> {
        let mut rc = RangeDecoder {
            buf,
            pos: 0,
            range: u32::MAX,
            code: 0,
        };
        if active {
            if buf.len() < 4 {
                return Err(ChunkError::Truncated);
            }
            for _ in 0..4 {
                rc.code = (rc.code << 8) | rc.next_byte();
            }
        }
        Ok(rc)
    }

    fn next_byte(&mut self) -> u32 {
        let byte = self.buf.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        u32::from(byte)
    }

    fn bit(&mut self, prob: &mut Prob) -> u32 {
        let bound = (self.range >> PROB_BITS) * u32::from(prob.zero);
        // Branch-free, as these bits are often close to coin flips that a
        // branch predictor cannot guess.
        let bit = u32::from(self.code >= bound);
        let ones = bit.wrapping_neg();
        self.code -= bound & ones;
        self.range = (bound & !ones) | (self.range.wrapping_sub(bound) & ones);
        prob.update(bit);
        self.normalize();
        bit
    }

    fn direct(&mut self, n: u32) -> u64 {
        let mut value = 0;
        let mut left = n;
        while left > 0 {
            let width = left.min(DIRECT_BITS);
            left -= width;
            self.range >>= width;
            // Only corrupt input can push the quotient past the width.
            let symbol = (self.code / self.range).min((1 << width) - 1);
            self.code -= symbol * self.range;
            value = (value << width) | u64::from(symbol);
            self.normalize();
        }
        value
    }

    fn normalize(&mut self) {
        while self.range < TOP {
            self.range <<= 8;
            self.code = (self.code << 8) | self.next_byte();
        }
    }

    pub(super) fn finish(self) -> Result<(), ChunkError> {
        if self.pos > self.buf.len() {
            return Err(ChunkError::Truncated);
        }
        match self.pos < self.buf.len() {
            true => Err(ChunkError::Corrupt("trailing bytes")),
            false => Ok(()),
        }
    }
}
