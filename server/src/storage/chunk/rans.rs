//! The entropy coder of chunk format generation 2: each residual's bit
//! length through rANS with a static table per column, and the bits below
//! its leading one in a plain bit stream.
//!
//! Why: the adaptive binary range coder of generation 1 (`range_coder.rs`)
//! decides a residual bit by bit, each decision waiting for the one before,
//! and reading chunks was most of a large query's time. rANS decodes a
//! symbol with one table look-up, a multiplication and at most one byte of
//! renormalisation: reads of the benchmark's chunks took half the time, for
//! 1 to 2 % more bytes on 480-sample chunks (the tables).
//!
//! rANS as in Jarek Duda's "Asymmetric numeral systems" and Fabian Giesen's
//! `ryg_rans`: a 32-bit state kept in `[L, 256 L)`, renormalised a byte at a
//! time; the encoder runs backwards over the symbols, so the decoder reads
//! forwards and ends in the encoder's initial state, which `finish` checks.

use super::{ChunkError, bit_length};

/// Frequencies of a table sum to `1 << SCALE_BITS`. Coarse, so that a
/// table costs about one byte per bit length: on 480-sample chunks finer
/// scales cost more in tables than they saved (2^11: 2 to 4 % more bytes
/// than the adaptive coder, 2^8: 1 to 2 %).
const SCALE_BITS: u32 = 8;
const SCALE: u32 = 1 << SCALE_BITS;
/// Lower bound of the normalised state.
const L: u32 = 1 << 23;

/// How often each bit length occurs in a column, scaled to `SCALE`: the
/// lengths `low .. low + freq.len()`.
#[derive(Debug)]
pub(super) struct Table {
    low: u8,
    freq: Vec<u32>,
}

impl Table {
    /// The table for `zs`: every length that occurs gets at least 1.
    pub(super) fn of(zs: &[u64]) -> Self {
        let mut counts = [0u64; 65];
        for &z in zs {
            counts[bit_length(z) as usize] += 1;
        }
        let low = counts.iter().position(|&c| c > 0).unwrap_or(0);
        let high = counts.iter().rposition(|&c| c > 0).unwrap_or(0);
        let n = zs.len().max(1) as u64;
        let mut freq: Vec<u32> = counts[low..=high]
            .iter()
            .map(|&c| match c {
                0 => 0,
                c => ((c * u64::from(SCALE) + n / 2) / n).max(1) as u32,
            })
            .collect();
        // Rounding leaves the sum a little off: the most frequent length,
        // which a change of a few counts costs least, takes the difference.
        let total: u32 = freq.iter().sum();
        let top = (0..freq.len()).max_by_key(|&i| freq[i]).unwrap_or(0);
        freq[top] = (freq[top] + SCALE).saturating_sub(total).max(1);
        // With many rare lengths each raised to 1, the top may not cover
        // the excess; take it from the others, largest first.
        let mut total: u32 = freq.iter().sum();
        while total > SCALE {
            let i = (0..freq.len()).max_by_key(|&i| freq[i]).unwrap_or(0);
            freq[i] -= 1;
            total -= 1;
        }
        Table {
            low: low as u8,
            freq,
        }
    }

    /// `low`, the number of lengths, then each frequency as a varint.
    pub(super) fn write(&self, out: &mut Vec<u8>) {
        out.push(self.low);
        out.push(self.freq.len() as u8);
        for &f in &self.freq {
            super::put_varint(out, u64::from(f));
        }
    }

    pub(super) fn read(r: &mut super::Reader) -> Result<Self, ChunkError> {
        let low = r.byte()?;
        let n = r.byte()?;
        if n == 0 || usize::from(low) + usize::from(n) > 65 {
            return Err(ChunkError::Corrupt("rANS table lengths"));
        }
        let mut freq = Vec::with_capacity(usize::from(n));
        let mut total = 0u64;
        for _ in 0..n {
            let f = r.varint()?;
            total += f;
            if total > u64::from(SCALE) {
                return Err(ChunkError::Corrupt("rANS table frequencies"));
            }
            freq.push(f as u32);
        }
        if total != u64::from(SCALE) {
            return Err(ChunkError::Corrupt("rANS table frequencies"));
        }
        Ok(Table { low, freq })
    }

    /// Bits that residuals take with this table, the bit stream's included,
    /// given how many have each bit length: what a plan is priced at.
    pub(super) fn bits(&self, lengths: &[usize; 65]) -> f64 {
        let mut bits = 0.0;
        for (k, &count) in lengths.iter().enumerate() {
            if count > 0 {
                let f = self.freq[k - usize::from(self.low)];
                bits += count as f64 * (f64::from(SCALE) / f64::from(f)).log2();
                bits += (count * k.saturating_sub(1)) as f64;
            }
        }
        bits
    }

    fn start_of(&self, i: usize) -> u32 {
        self.freq[..i].iter().sum()
    }
}

/// Encodes columns of residuals, each with its table, into one rANS stream
/// and one bit stream. Columns are added in the order they are decoded.
#[derive(Default)]
pub(super) struct Encoder {
    /// Each residual's bit length as (frequency, start) in its column's
    /// table, in decoding order.
    symbols: Vec<(u32, u32)>,
    raw: BitWriter,
}

impl Encoder {
    pub(super) fn column(&mut self, table: &Table, zs: &[u64]) {
        let starts: Vec<u32> = (0..table.freq.len()).map(|i| table.start_of(i)).collect();
        for &z in zs {
            let k = bit_length(z) as usize;
            let i = k - usize::from(table.low);
            self.symbols.push((table.freq[i], starts[i]));
            if k >= 2 {
                self.raw.put(z, k as u32 - 1);
            }
        }
    }

    /// The rANS bytes, then the bit stream's bytes last first.
    pub(super) fn finish(self, out: &mut Vec<u8>) {
        // Bytes as the encoder shifts them out; the decoder, running the
        // other way, reads them in reverse.
        let mut emitted = Vec::with_capacity(self.symbols.len());
        let mut x = L;
        for &(freq, start) in self.symbols.iter().rev() {
            let x_max = ((L >> SCALE_BITS) << 8) * freq;
            while x >= x_max {
                emitted.push(x as u8);
                x >>= 8;
            }
            x = ((x / freq) << SCALE_BITS) + (x % freq) + start;
        }
        out.extend_from_slice(&x.to_be_bytes());
        out.extend(emitted.iter().rev());
        out.extend(self.raw.finish().iter().rev());
    }
}

/// A column's table as the decoder uses it: for every slot (value of the
/// state's low byte), its symbol's frequency, start and bit length packed
/// in one word, so that a step makes one dependent load, not two (the codec
/// bench's decode: 7.1 to 8.5 ns/sample before, 5.2 to 5.6 after).
pub(super) struct DecodeTable {
    slots: [u32; SCALE as usize],
}

impl DecodeTable {
    pub(super) fn new(table: &Table) -> Self {
        let mut slots = [0u32; SCALE as usize];
        let mut at = 0u32;
        for (k, &f) in (u32::from(table.low)..).zip(&table.freq) {
            // f <= 256 and at < 256 (the frequencies sum to 256), k <= 64.
            slots[at as usize..(at + f) as usize].fill(f << 16 | at << 8 | k);
            at += f;
        }
        DecodeTable { slots }
    }
}

/// Reads residuals back: bit lengths from the rANS stream at the front,
/// low bits from the bit stream at the back. Past either end it reads
/// zeros and leaves the error to `finish`, off the per-residual path.
pub(super) struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    x: u32,
    raw: BitReader<'a>,
}

impl<'a> Decoder<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Result<Self, ChunkError> {
        let Some(&state) = buf.first_chunk::<4>() else {
            return Err(ChunkError::Truncated);
        };
        Ok(Decoder {
            buf,
            pos: 4,
            x: u32::from_be_bytes(state),
            raw: BitReader::new(buf),
        })
    }

    #[inline(always)]
    pub(super) fn residual(&mut self, table: &DecodeTable) -> u64 {
        let slot = self.x & (SCALE - 1);
        let entry = table.slots[slot as usize];
        let (freq, start, k) = (entry >> 16, entry >> 8 & 0xff, entry & 0xff);
        self.x = freq * (self.x >> SCALE_BITS) + slot - start;
        // A step leaves at least `L >> SCALE_BITS`: one byte restores `L`.
        // Corrupt input may leave less, and gets no more than that byte:
        // `finish` finds the state wrong.
        if self.x < L {
            let byte = self.buf.get(self.pos).copied().unwrap_or(0);
            self.x = (self.x << 8) | u32::from(byte);
            self.pos += 1;
        }
        match k {
            0 | 1 => u64::from(k),
            _ => (1 << (k - 1)) | self.raw.take(k - 1),
        }
    }

    /// Checks that the two streams used exactly the bytes between them and
    /// that the state came back to where the encoder started.
    pub(super) fn finish(self) -> Result<(), ChunkError> {
        let raw = self.raw.used();
        if self.pos + raw > self.buf.len() {
            return Err(ChunkError::Truncated);
        }
        if self.pos + raw < self.buf.len() {
            return Err(ChunkError::Corrupt("trailing bytes"));
        }
        match self.x == L {
            true => Ok(()),
            false => Err(ChunkError::Corrupt("rANS state")),
        }
    }
}

/// The plain bit stream: values of up to 63 bits, most significant bit
/// first, packed into bytes from the high bit down; the last byte padded
/// with zero bits. The chunk stores these bytes at its end, last byte
/// first, so that the reader finds where they start without a length.
#[derive(Default)]
pub(super) struct BitWriter {
    out: Vec<u8>,
    /// Bits not yet in `out`, fewer than 8, in the low bits.
    pending: u64,
    bits: u32,
}

impl BitWriter {
    /// The low `n` (1..=63) bits of `value`.
    fn put(&mut self, value: u64, n: u32) {
        if n > 32 {
            self.put_small(value >> 32, n - 32);
            self.put_small(value, 32);
        } else {
            self.put_small(value, n);
        }
    }

    fn put_small(&mut self, value: u64, n: u32) {
        let mask = (1u64 << n) - 1;
        self.pending = (self.pending << n) | (value & mask);
        self.bits += n;
        while self.bits >= 8 {
            self.bits -= 8;
            self.out.push((self.pending >> self.bits) as u8);
        }
        self.pending &= (1 << self.bits) - 1;
    }

    fn finish(mut self) -> Vec<u8> {
        if self.bits > 0 {
            self.out.push((self.pending << (8 - self.bits)) as u8);
        }
        self.out
    }
}

/// Reads a `BitWriter`'s bits from the end of the chunk backwards.
struct BitReader<'a> {
    buf: &'a [u8],
    /// `buf[..next]` is unread; the next byte is `buf[next - 1]`.
    next: usize,
    /// Unread bits, at the top.
    acc: u64,
    bits: u32,
    taken: u64,
}

impl<'a> BitReader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        BitReader {
            buf,
            next: buf.len(),
            acc: 0,
            bits: 0,
            taken: 0,
        }
    }

    /// The next `n` (1..=63) bits as a number.
    #[inline(always)]
    fn take(&mut self, n: u32) -> u64 {
        if n > 32 {
            let high = self.take_small(n - 32);
            return (high << 32) | self.take_small(32);
        }
        self.take_small(n)
    }

    #[inline(always)]
    fn take_small(&mut self, n: u32) -> u64 {
        if self.bits < n {
            self.refill();
        }
        let value = self.acc.checked_shr(64 - n).unwrap_or(0);
        self.acc <<= n;
        self.bits -= n;
        self.taken += u64::from(n);
        value
    }

    fn refill(&mut self) {
        // Where eight bytes are left, all at once: the next byte
        // (`buf[next - 1]`) goes just below the unread bits and the ones
        // before it below that. Of a byte that does not fit whole, the bits
        // that do are its own, so the next refill writes the same ones again.
        if let Some(word) = self.next.checked_sub(8).map(|i| &self.buf[i..self.next]) {
            self.acc |= u64::from_le_bytes(word.try_into().expect("8 bytes")) >> self.bits;
            let whole = (64 - self.bits) / 8;
            self.next -= whole as usize;
            self.bits += whole * 8;
            return;
        }
        while self.bits <= 56 {
            let byte = match self.next.checked_sub(1) {
                Some(i) => {
                    self.next = i;
                    self.buf[i]
                }
                None => 0,
            };
            self.acc |= u64::from(byte) << (56 - self.bits);
            self.bits += 8;
        }
    }

    /// Bytes the bits taken so far occupy at the end of the input.
    fn used(&self) -> usize {
        self.taken.div_ceil(8) as usize
    }
}
