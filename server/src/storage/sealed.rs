//! Sealed chunks in sled, keyed `series id | chunk maxt` so that reading a
//! series from time `mint` seeks straight to the first chunk ending at or after
//! `mint`, and a range read touches only the chunks it needs.

use super::chunk::{self, ChunkHeader};
use super::{Sample, SeriesId, StorageError};
use std::ops::Bound;

/// Series id reserved for the storage totals record, kept in the same tree as
/// the chunks so that one atomic batch updates a chunk and the totals together.
const TOTALS_ID: SeriesId = u64::MAX;

/// Counters persisted with every sealed chunk, so `/v1/stats` never scans.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Totals {
    pub(crate) samples: u64,
    pub(crate) chunks: u64,
    pub(crate) oldest: Option<i64>,
    pub(crate) newest: Option<i64>,
}

impl Totals {
    fn encode(&self) -> [u8; 34] {
        let mut out = [0u8; 34];
        out[..8].copy_from_slice(&self.samples.to_be_bytes());
        out[8..16].copy_from_slice(&self.chunks.to_be_bytes());
        out[16] = u8::from(self.oldest.is_some());
        out[17..25].copy_from_slice(&self.oldest.unwrap_or(0).to_be_bytes());
        out[25] = u8::from(self.newest.is_some());
        out[26..34].copy_from_slice(&self.newest.unwrap_or(0).to_be_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; 34] = bytes.try_into().ok()?;
        let int =
            |r: std::ops::Range<usize>| i64::from_be_bytes(bytes[r].try_into().expect("8 bytes"));
        Some(Totals {
            samples: int(0..8) as u64,
            chunks: int(8..16) as u64,
            oldest: (bytes[16] == 1).then(|| int(17..25)),
            newest: (bytes[25] == 1).then(|| int(26..34)),
        })
    }

    pub(crate) fn add(&mut self, samples: &[Sample]) {
        if let (Some(first), Some(last)) = (samples.first(), samples.last()) {
            self.samples += samples.len() as u64;
            self.oldest = Some(self.oldest.map_or(first.t, |o| o.min(first.t)));
            self.newest = Some(self.newest.map_or(last.t, |n| n.max(last.t)));
        }
    }
}

pub(crate) struct SealedChunks {
    tree: sled::Tree,
}

impl SealedChunks {
    pub(crate) fn open(db: &sled::Db) -> Result<Self, StorageError> {
        Ok(SealedChunks {
            tree: db.open_tree("chunks")?,
        })
    }

    pub(crate) fn totals(&self) -> Result<Totals, StorageError> {
        match self.tree.get(key(TOTALS_ID, 0))? {
            None => Ok(Totals::default()),
            Some(bytes) => Totals::decode(&bytes).ok_or(StorageError::Corrupt("totals record")),
        }
    }

    /// Encodes and stores one chunk together with the new totals, atomically.
    pub(crate) fn write(
        &self,
        id: SeriesId,
        samples: &[Sample],
        totals: &Totals,
    ) -> Result<(), StorageError> {
        let bytes = chunk::encode(samples)?;
        let maxt = samples.last().expect("encode rejects empty chunks").t;
        let mut batch = sled::Batch::default();
        batch.insert(&key(id, maxt)[..], bytes);
        batch.insert(&key(TOTALS_ID, 0)[..], &totals.encode()[..]);
        self.tree.apply_batch(batch)?;
        Ok(())
    }

    /// The newest sealed sample of a series: what a new sample must follow.
    pub(crate) fn last_sample(&self, id: SeriesId) -> Result<Option<Sample>, StorageError> {
        let range = key(id, i64::MIN)..=key(id, i64::MAX);
        match self.tree.range(range).next_back().transpose()? {
            None => Ok(None),
            Some((_, bytes)) => Ok(chunk::decode(&bytes)?.last().copied()),
        }
    }

    /// Headers of the chunks of `id` that overlap `[mint, maxt]`, oldest first,
    /// with their bytes (decoded lazily by the caller).
    pub(crate) fn chunks(
        &self,
        id: SeriesId,
        mint: i64,
        maxt: i64,
    ) -> impl Iterator<Item = Result<(ChunkHeader, sled::IVec), StorageError>> + use<> {
        let range = (
            Bound::Included(key(id, mint)),
            Bound::Included(key(id, i64::MAX)),
        );
        self.tree
            .range(range)
            .values()
            .map(|v| -> Result<_, StorageError> {
                let bytes = v?;
                Ok((chunk::peek_header(&bytes)?, bytes))
            })
            .take_while(move |r| r.as_ref().map_or(true, |(h, _)| h.mint <= maxt))
    }
}

/// `series id (u64 BE) | maxt (i64 with the sign bit flipped, BE)`: big-endian
/// with a flipped sign bit sorts bytes in numeric order, negative times too.
fn key(id: SeriesId, maxt: i64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&id.to_be_bytes());
    out[8..].copy_from_slice(&((maxt as u64) ^ (1 << 63)).to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_in_time_order_across_zero() {
        assert!(key(1, -5) < key(1, 0));
        assert!(key(1, 0) < key(1, 5));
        assert!(key(1, i64::MAX) < key(2, i64::MIN));
    }

    #[test]
    fn range_reads_seek_to_the_chunks_needed() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let sealed = SealedChunks::open(&db).unwrap();
        let mut totals = Totals::default();
        for start in [0i64, 100, 200] {
            let samples: Vec<Sample> = (0..10)
                .map(|i| Sample {
                    t: start + i * 10,
                    v: i as f64,
                })
                .collect();
            totals.add(&samples);
            sealed.write(3, &samples, &totals).unwrap();
        }
        let mints: Vec<i64> = sealed
            .chunks(3, 150, 205)
            .map(|c| c.unwrap().0.mint)
            .collect();
        assert_eq!(mints, vec![100, 200]);
        assert_eq!(sealed.chunks(4, 0, 1000).count(), 0);
        assert_eq!(sealed.last_sample(3).unwrap().map(|s| s.t), Some(290));
        let stored = sealed.totals().unwrap();
        assert_eq!(
            (stored.samples, stored.oldest, stored.newest),
            (30, Some(0), Some(290))
        );
    }
}
