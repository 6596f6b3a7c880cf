//! Aggregates: what compaction keeps of a series at 5 min and 1 h resolution.
//! Each bucket holds enough to answer, exactly at its resolution, what raw
//! samples answered: count, sum, min and max (avg, min/max_over_time), first
//! and last, and the counter increase across resets (rate and increase, the
//! way Thanos downsamples counters).
//!
//! Buckets of one series are stored in **blocks** (8 h of 5 min buckets, 4
//! days of 1 h buckets), one sled value per block under `series id | block
//! start`, each column compressed with the chunk codec. A block is rewritten
//! whole when compaction recomputes its newest bucket, which is cheap at
//! these sizes and keeps a read to one `get` per block.

use super::chunk;
use super::labels::{put_varint, take_varint};
use super::sealed::{key, unflip};
use super::{STALE_NAN_BITS, Sample, SeriesId, StorageError};
use std::ops::Bound;

/// A stored resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resolution {
    Raw,
    FiveMinutes,
    OneHour,
}

impl Resolution {
    pub const ALL: [Resolution; 3] = [
        Resolution::Raw,
        Resolution::FiveMinutes,
        Resolution::OneHour,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Resolution::Raw => "raw",
            Resolution::FiveMinutes => "5m",
            Resolution::OneHour => "1h",
        }
    }

    /// Bucket length in ms (0 for raw).
    pub fn step_ms(self) -> i64 {
        match self {
            Resolution::Raw => 0,
            Resolution::FiveMinutes => 5 * 60_000,
            Resolution::OneHour => 3_600_000,
        }
    }

    /// Length of a stored block of buckets: 96 buckets. Compaction rewrites
    /// the newest block of each series every pass, so blocks stay small.
    pub(crate) fn block_ms(self) -> i64 {
        match self {
            Resolution::Raw => 0,
            Resolution::FiveMinutes => 8 * 3_600_000,
            Resolution::OneHour => 4 * 24 * 3_600_000,
        }
    }
}

/// The start of the aligned period of length `len` holding `t`.
pub(crate) fn align(t: i64, len: i64) -> i64 {
    t.div_euclid(len).saturating_mul(len)
}

/// One bucket of one series: the samples with `t <= time < t + step`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    /// Start of the bucket, ms since the epoch.
    pub t: i64,
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub first: f64,
    pub last: f64,
    /// Times of the first and last sample: rates across buckets divide by
    /// the real time between samples.
    pub first_t: i64,
    pub last_t: i64,
    /// How much a counter grew from `first` to `last`: a drop is a reset, after
    /// which the counter counts again from 0 (Prometheus's rule).
    pub increase: f64,
}

/// Growth of a counter from `prev` to `next`, across a reset if it dropped.
pub fn counter_delta(prev: f64, next: f64) -> f64 {
    if next >= prev { next - prev } else { next }
}

impl Bucket {
    fn of(t: i64, s: Sample) -> Self {
        Bucket {
            t,
            count: 1,
            sum: s.v,
            min: s.v,
            max: s.v,
            first: s.v,
            last: s.v,
            first_t: s.t,
            last_t: s.t,
            increase: 0.0,
        }
    }

    fn add(&mut self, s: Sample) {
        let v = s.v;
        self.last_t = s.t;
        self.count += 1;
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.increase += counter_delta(self.last, v);
        self.last = v;
    }

    /// Folds a later bucket into this one: exact for count, min, max, first,
    /// last and increase; the sum adds the two partial sums.
    fn merge(&mut self, later: &Bucket) {
        self.count += later.count;
        self.sum += later.sum;
        self.min = self.min.min(later.min);
        self.max = self.max.max(later.max);
        self.increase += counter_delta(self.last, later.first) + later.increase;
        self.last = later.last;
        self.last_t = later.last_t;
    }
}

/// Folds time-ordered samples (or finer buckets) into buckets of `step` ms.
pub(crate) struct Bucketer {
    step: i64,
    buckets: Vec<Bucket>,
}

impl Bucketer {
    pub(crate) fn new(step: i64) -> Self {
        Bucketer {
            step,
            buckets: Vec::new(),
        }
    }

    /// Adds a sample. Stale markers are left out: they say a series stopped,
    /// they are not a value.
    pub(crate) fn push_sample(&mut self, s: Sample) {
        if s.v.to_bits() == STALE_NAN_BITS {
            return;
        }
        let t = align(s.t, self.step);
        match self.buckets.last_mut() {
            Some(b) if b.t == t => b.add(s),
            _ => self.buckets.push(Bucket::of(t, s)),
        }
    }

    /// Adds a finer bucket, at or after the last one pushed.
    pub(crate) fn push_bucket(&mut self, fine: &Bucket) {
        let t = align(fine.t, self.step);
        match self.buckets.last_mut() {
            Some(b) if b.t == t => b.merge(fine),
            _ => self.buckets.push(Bucket { t, ..*fine }),
        }
    }

    pub(crate) fn finish(self) -> Vec<Bucket> {
        self.buckets
    }
}

/// Block format version: bump it if the columns change.
const BLOCK_VERSION: u8 = 1;
const COLUMNS: usize = 9;

/// Encodes 1..=1024 buckets in time order: `version u8 | (varint len |
/// chunk) × 9`, one chunk per column (count, sum, min, max, first, last,
/// increase, first_t − t, last_t − t), each with the buckets' start times.
pub(crate) fn encode_block(buckets: &[Bucket]) -> Result<Vec<u8>, StorageError> {
    let columns: [fn(&Bucket) -> f64; COLUMNS] = [
        |b| b.count as f64,
        |b| b.sum,
        |b| b.min,
        |b| b.max,
        |b| b.first,
        |b| b.last,
        |b| b.increase,
        |b| (b.first_t - b.t) as f64,
        |b| (b.last_t - b.t) as f64,
    ];
    let mut out = vec![BLOCK_VERSION];
    for column in columns {
        let samples: Vec<Sample> = buckets
            .iter()
            .map(|b| Sample {
                t: b.t,
                v: column(b),
            })
            .collect();
        let bytes = chunk::encode(&samples)?;
        put_varint(&mut out, bytes.len() as u64);
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

pub(crate) fn decode_block(mut bytes: &[u8]) -> Result<Vec<Bucket>, StorageError> {
    let corrupt = || StorageError::Corrupt("aggregate block");
    if bytes.first() != Some(&BLOCK_VERSION) {
        return Err(corrupt());
    }
    bytes = &bytes[1..];
    let mut columns = Vec::with_capacity(COLUMNS);
    for _ in 0..COLUMNS {
        let len =
            usize::try_from(take_varint(&mut bytes).ok_or_else(corrupt)?).map_err(|_| corrupt())?;
        let (chunk, rest) = bytes.split_at_checked(len).ok_or_else(corrupt)?;
        columns.push(chunk::decode(chunk)?);
        bytes = rest;
    }
    let times = &columns[0];
    if !bytes.is_empty()
        || columns
            .iter()
            .any(|c| c.len() != times.len() || c.iter().zip(times).any(|(a, b)| a.t != b.t))
    {
        return Err(corrupt());
    }
    Ok((0..times.len())
        .map(|i| Bucket {
            t: times[i].t,
            count: columns[0][i].v as u64,
            sum: columns[1][i].v,
            min: columns[2][i].v,
            max: columns[3][i].v,
            first: columns[4][i].v,
            last: columns[5][i].v,
            increase: columns[6][i].v,
            first_t: times[i].t + columns[7][i].v as i64,
            last_t: times[i].t + columns[8][i].v as i64,
        })
        .collect())
}

/// Reserved series id for the per-resolution totals record.
const TOTALS_ID: SeriesId = u64::MAX;

/// Counters kept with the blocks, updated in the same batch: `/v1/stats`
/// never scans.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AggregateTotals {
    pub blocks: u64,
    pub buckets: u64,
    /// Keys and values written, a close measure of the sled bytes.
    pub bytes: u64,
    /// Series that have ever been compacted at this resolution.
    pub series: u64,
}

impl AggregateTotals {
    fn encode(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, n) in [self.blocks, self.buckets, self.bytes, self.series]
            .iter()
            .enumerate()
        {
            out[i * 8..i * 8 + 8].copy_from_slice(&n.to_be_bytes());
        }
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; 32] = bytes.try_into().ok()?;
        let n = |i: usize| u64::from_be_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8"));
        Some(AggregateTotals {
            blocks: n(0),
            buckets: n(1),
            bytes: n(2),
            series: n(3),
        })
    }
}

/// The blocks of one resolution: a sled tree keyed `series id | block start`.
/// `series id | i64::MIN` holds the series' **watermark**: the end of its
/// last block written; every source sample before it is folded in, and no
/// later sample can land before it. Blocks, watermark and totals change in
/// one batch, so a crash leaves either all of a step or none of it.
pub(crate) struct AggregateStore {
    tree: sled::Tree,
    pub(crate) resolution: Resolution,
}

impl AggregateStore {
    pub(crate) fn open(db: &sled::Db, resolution: Resolution) -> Result<Self, StorageError> {
        Ok(AggregateStore {
            tree: db.open_tree(format!("aggregates_{}", resolution.name()))?,
            resolution,
        })
    }

    pub(crate) fn totals(&self) -> Result<AggregateTotals, StorageError> {
        match self.tree.get(key(TOTALS_ID, 0))? {
            None => Ok(AggregateTotals::default()),
            Some(v) => AggregateTotals::decode(&v).ok_or(StorageError::Corrupt("aggregate totals")),
        }
    }

    pub(crate) fn watermark(&self, id: SeriesId) -> Result<Option<i64>, StorageError> {
        Ok(match self.tree.get(key(id, i64::MIN))? {
            None => None,
            Some(v) => Some(i64::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| StorageError::Corrupt("watermark"))?,
            )),
        })
    }

    /// The oldest bucket of `id`: one seek past its watermark.
    pub(crate) fn first_bucket(&self, id: SeriesId) -> Result<Option<Bucket>, StorageError> {
        let range = (
            Bound::Excluded(key(id, i64::MIN)),
            Bound::Included(key(id, i64::MAX)),
        );
        match self.tree.range(range).next().transpose()? {
            None => Ok(None),
            Some((_, v)) => Ok(decode_block(&v)?.first().copied()),
        }
    }

    /// Buckets of `id` with `mint <= t <= maxt`, oldest first.
    pub(crate) fn buckets(
        &self,
        id: SeriesId,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Bucket>, StorageError> {
        let mut out = Vec::new();
        let from = align(mint, self.resolution.block_ms()).max(i64::MIN + 1);
        for entry in self.tree.range(key(id, from)..=key(id, maxt)) {
            let (_, v) = entry?;
            out.extend(
                decode_block(&v)?
                    .into_iter()
                    .filter(|b| b.t >= mint && b.t <= maxt),
            );
        }
        Ok(out)
    }

    /// Stores `buckets` (in time order) in their blocks, replacing what a
    /// block held from `buckets[0].t` on (a pass repeated after a crash
    /// writes the same again), and moves the watermark, in one batch.
    pub(crate) fn write(
        &self,
        id: SeriesId,
        buckets: &[Bucket],
        watermark: i64,
    ) -> Result<(), StorageError> {
        let mut totals = self.totals()?;
        let mut batch = sled::Batch::default();
        let block_ms = self.resolution.block_ms();
        let from = buckets.first().map_or(i64::MAX, |b| b.t);
        let mut rest = buckets;
        while let Some(first) = rest.first() {
            let block = align(first.t, block_ms);
            let n = rest.partition_point(|b| b.t < block + block_ms);
            let (new, later) = rest.split_at(n);
            rest = later;
            let k = key(id, block);
            let mut merged = match self.tree.get(k)? {
                Some(old) => {
                    let old_buckets = decode_block(&old)?;
                    totals.blocks -= 1;
                    totals.buckets -= old_buckets.len() as u64;
                    totals.bytes -= (k.len() + old.len()) as u64;
                    old_buckets.into_iter().filter(|b| b.t < from).collect()
                }
                None => Vec::new(),
            };
            merged.extend_from_slice(new);
            let bytes = encode_block(&merged)?;
            totals.blocks += 1;
            totals.buckets += merged.len() as u64;
            totals.bytes += (k.len() + bytes.len()) as u64;
            batch.insert(&k[..], bytes);
        }
        if self.watermark(id)?.is_none() {
            totals.series += 1;
        }
        batch.insert(&key(id, i64::MIN)[..], &watermark.to_be_bytes()[..]);
        batch.insert(&key(TOTALS_ID, 0)[..], &totals.encode()[..]);
        self.tree.apply_batch(batch)?;
        Ok(())
    }

    /// Deletes the blocks of `id` that end at or before `cutoff`, returning
    /// how many it deleted. The caller batches many series per call of
    /// [`AggregateStore::apply`].
    pub(crate) fn remove_before(
        &self,
        id: SeriesId,
        cutoff: i64,
        removal: &mut Removal,
    ) -> Result<(), StorageError> {
        let block_ms = self.resolution.block_ms();
        let range = (
            Bound::Excluded(key(id, i64::MIN)),
            Bound::Excluded(key(id, cutoff - block_ms + 1)),
        );
        for entry in self.tree.range(range) {
            let (k, v) = entry?;
            let buckets = decode_block(&v)?.len() as u64;
            removal.totals.blocks += 1;
            removal.totals.buckets += buckets;
            removal.totals.bytes += (k.len() + v.len()) as u64;
            removal.batch.remove(k);
            removal.keys += 1;
        }
        Ok(())
    }

    /// Applies a removal and subtracts it from the totals.
    pub(crate) fn apply(&self, removal: Removal) -> Result<(), StorageError> {
        let mut totals = self.totals()?;
        totals.blocks -= removal.totals.blocks.min(totals.blocks);
        totals.buckets -= removal.totals.buckets.min(totals.buckets);
        totals.bytes -= removal.totals.bytes.min(totals.bytes);
        let mut batch = removal.batch;
        batch.insert(&key(TOTALS_ID, 0)[..], &totals.encode()[..]);
        self.tree.apply_batch(batch)?;
        Ok(())
    }

    /// Forgets a series' watermark (it has no blocks left).
    pub(crate) fn forget(&self, id: SeriesId) -> Result<(), StorageError> {
        if self.watermark(id)?.is_none() {
            return Ok(());
        }
        let mut totals = self.totals()?;
        totals.series = totals.series.saturating_sub(1);
        let mut batch = sled::Batch::default();
        batch.remove(&key(id, i64::MIN)[..]);
        batch.insert(&key(TOTALS_ID, 0)[..], &totals.encode()[..]);
        self.tree.apply_batch(batch)?;
        Ok(())
    }

    /// Start of the oldest block stored, over all series: what a size cap drops first.
    pub(crate) fn oldest_block(&self) -> Result<Option<i64>, StorageError> {
        let mut oldest: Option<i64> = None;
        let mut next = Bound::Unbounded;
        // One seek per series: the first key after its watermark.
        loop {
            let Some(entry) = self.tree.range((next, Bound::Unbounded)).next() else {
                return Ok(oldest);
            };
            let (k, _) = entry?;
            let id = u64::from_be_bytes(k[..8].try_into().expect("16-byte key"));
            if id == TOTALS_ID {
                return Ok(oldest);
            }
            let t = unflip(k[8..16].try_into().expect("16-byte key"));
            if t != i64::MIN {
                oldest = Some(oldest.map_or(t, |o| o.min(t)));
                next = Bound::Included(key(id + 1, i64::MIN));
            } else {
                next = Bound::Excluded(key(id, i64::MIN));
            }
        }
    }
}

/// Block deletions gathered across series, applied in one bounded batch.
#[derive(Default)]
pub(crate) struct Removal {
    pub(crate) batch: sled::Batch,
    pub(crate) keys: usize,
    pub(crate) totals: AggregateTotals,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: i64, v: f64) -> Sample {
        Sample { t, v }
    }

    #[test]
    fn buckets_keep_sum_count_extremes_and_counter_increase() {
        let mut b = Bucketer::new(10);
        // A counter 1, 3, reset to 2, 5; then the next bucket; a stale marker is skipped.
        for s in [at(0, 1.0), at(3, 3.0), at(5, 2.0), at(9, 5.0), at(12, 7.0)] {
            b.push_sample(s);
        }
        b.push_sample(at(15, f64::from_bits(STALE_NAN_BITS)));
        let buckets = b.finish();
        assert_eq!(buckets.len(), 2);
        let first = buckets[0];
        assert_eq!((first.t, first.count, first.sum), (0, 4, 11.0));
        assert_eq!(
            (first.min, first.max, first.first, first.last),
            (1.0, 5.0, 1.0, 5.0)
        );
        // 1→3 (+2), 3→2 reset (+2), 2→5 (+3)
        assert_eq!(first.increase, 7.0);
        assert_eq!((buckets[1].count, buckets[1].increase), (1, 0.0));
    }

    #[test]
    fn merged_buckets_equal_buckets_of_the_samples() {
        let samples: Vec<Sample> = (0..100)
            .map(|i| at(i * 7, ((i * 37) % 23) as f64))
            .collect();
        let mut fine = Bucketer::new(50);
        let mut coarse = Bucketer::new(200);
        for &s in &samples {
            fine.push_sample(s);
            coarse.push_sample(s);
        }
        let mut merged = Bucketer::new(200);
        for b in fine.finish() {
            merged.push_bucket(&b);
        }
        assert_eq!(merged.finish(), coarse.finish());
    }

    #[test]
    fn blocks_round_trip_bit_exactly() {
        let buckets: Vec<Bucket> = (0..288)
            .map(|i| Bucket {
                t: i * 300_000,
                count: 20,
                sum: i as f64 * 0.1,
                min: -1.5,
                max: f64::INFINITY,
                first: f64::NAN,
                last: 3.25,
                first_t: i * 300_000 + 7,
                last_t: i * 300_000 + 299_999,
                increase: 1e300,
            })
            .collect();
        let decoded = decode_block(&encode_block(&buckets).unwrap()).unwrap();
        assert_eq!(decoded.len(), buckets.len());
        for (a, b) in decoded.iter().zip(&buckets) {
            assert_eq!(a.t, b.t);
            assert_eq!(a.sum.to_bits(), b.sum.to_bits());
            assert_eq!(a.first.to_bits(), b.first.to_bits());
            assert_eq!((a.count, a.max, a.increase), (b.count, b.max, b.increase));
            assert_eq!((a.first_t, a.last_t), (b.first_t, b.last_t));
        }
        assert!(decode_block(&[BLOCK_VERSION, 3, 1]).is_err());
        assert!(decode_block(&[]).is_err());
    }

    #[test]
    fn writes_replace_recomputed_buckets_and_keep_older_ones() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let store = AggregateStore::open(&db, Resolution::FiveMinutes).unwrap();
        let bucket = |t: i64, count: u64| Bucket {
            count,
            ..Bucket::of(t, Sample { t, v: 1.0 })
        };
        let step = 300_000;
        store
            .write(7, &[bucket(0, 1), bucket(step, 1)], step + 5)
            .unwrap();
        // The second bucket got more samples; a block later another bucket.
        let day = 8 * 3_600_000;
        store
            .write(7, &[bucket(step, 3), bucket(day, 1)], day + 1)
            .unwrap();
        let got: Vec<(i64, u64)> = store
            .buckets(7, 0, i64::MAX)
            .unwrap()
            .iter()
            .map(|b| (b.t, b.count))
            .collect();
        assert_eq!(got, vec![(0, 1), (step, 3), (day, 1)]);
        assert_eq!(store.watermark(7).unwrap(), Some(day + 1));
        assert_eq!(store.buckets(7, step, step).unwrap().len(), 1);
        let totals = store.totals().unwrap();
        assert_eq!((totals.blocks, totals.buckets, totals.series), (2, 3, 1));
        assert_eq!(store.oldest_block().unwrap(), Some(0));

        let mut removal = Removal::default();
        store.remove_before(7, day, &mut removal).unwrap();
        store.apply(removal).unwrap();
        assert_eq!(store.buckets(7, 0, i64::MAX).unwrap().len(), 1);
        assert_eq!(store.totals().unwrap().buckets, 1);
        assert_eq!(store.oldest_block().unwrap(), Some(day));
    }
}
