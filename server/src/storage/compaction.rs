//! Compaction and retention: raw samples fold into 5 min buckets, 5 min
//! buckets into 1 h buckets, and each resolution is deleted once older than
//! its retention, oldest first, only after what replaces it is durable.
//!
//! **Why it is exact and idempotent.** Aggregates are written a whole block
//! (96 buckets) at a time, once the block is **complete**: the series has a
//! sample at or after its end, or the raw horizon has passed it. Series are
//! append-only (a sample older than its series' newest is refused), so no
//! sample can join a complete block: a late sample lands in a block not yet
//! written and is folded with it. Each series' **watermark** is the end of
//! its last block written; a pass folds the complete blocks after it, so a
//! pass with nothing new writes nothing, and after a week off the watermark
//! is a week old and the pass catches up, one block at a time. Blocks and
//! watermark move in one sled batch. Writing each block once also keeps
//! sled from filling with rewritten values. Until its block completes, the
//! newest data is answered from raw.
//!
//! **Why raw is never lost.** A pass first raises the *raw horizon* (samples
//! before it are refused from then on), then compacts every series, flushes
//! sled, and only then deletes raw chunks before the horizon; 5 min blocks
//! go only once the 1 h buckets over them are final.

use super::aggregate::{AggregateStore, Bucketer, Removal, Resolution, align};
use super::sealed::RawRemoval;
use super::{SeriesId, Storage, StorageError};
use app::model::CompactionRun;
use std::time::Instant;

/// The raw horizon stored by the last pass (`i64::MIN` before any).
pub(crate) fn read_horizon(db: &sled::Db) -> Result<i64, StorageError> {
    match db.open_tree("compaction")?.get(HORIZON)? {
        None => Ok(i64::MIN),
        Some(bytes) => Ok(i64::from_be_bytes(
            bytes
                .as_ref()
                .try_into()
                .map_err(|_| StorageError::Corrupt("raw horizon"))?,
        )),
    }
}

/// References and blocks deleted per sled batch: retention never builds one
/// giant transaction nor holds the head lock for long.
const REMOVAL_BATCH: usize = 4096;

/// Key of the last pass's report in the `compaction` tree.
const LAST_RUN: &[u8] = b"last_run";
/// Key of the raw horizon (i64 BE).
const HORIZON: &[u8] = b"raw_horizon";

impl Storage {
    /// Runs one pass: compaction of every series, then retention. Passes do
    /// not overlap: a second caller waits for the first.
    pub fn compact(&self) -> Result<CompactionRun, StorageError> {
        let _one_at_a_time = self.compacting.lock().unwrap_or_else(|p| p.into_inner());
        let timer = Instant::now();
        let now = self.config.clock.now_ms();
        let mut run = CompactionRun {
            started: now,
            ..CompactionRun::default()
        };

        // 1. Raise the horizon first: from here on nothing older is accepted,
        //    so nothing compaction misses can be deleted below.
        let cutoff = self.raw_cutoff(now)?;
        self.raise_horizon(cutoff)?;

        // 2. Fold new samples into 5 min and 1 h buckets.
        for id in self.index.ids() {
            let id = id?;
            run.series += 1;
            let (five, hour) = self.compact_series(id)?;
            run.series_compacted += u64::from(five + hour > 0);
            run.buckets_5m_written += five;
            run.buckets_1h_written += hour;
        }
        self.db.flush()?;

        // 3. Retention, finest first; each step only deletes what the
        //    coarser resolution now holds.
        self.delete_raw_before(self.horizon(), &mut run)?;
        for resolution in [Resolution::FiveMinutes, Resolution::OneHour] {
            let keep = self.config.retention_ms(resolution);
            self.delete_aggregates_before(resolution, now.saturating_sub(keep), &mut run)?;
        }
        self.enforce_size_cap(&mut run)?;
        // Only a deletion can leave a series empty.
        let deleted = run.raw_chunks_deleted + run.blocks_5m_deleted + run.blocks_1h_deleted;
        if deleted > 0 {
            self.drop_dead_series(&mut run)?;
        }

        run.raw_horizon = Some(self.horizon()).filter(|&h| h > i64::MIN);
        run.duration_ms = timer.elapsed().as_millis() as u64;
        self.compaction_tree()?
            .insert(LAST_RUN, serde_json::to_vec(&run).expect("plain struct"))?;
        self.db.flush()?;
        *self.last_run.lock().unwrap_or_else(|p| p.into_inner()) = Some(run.clone());
        Ok(run)
    }

    /// The last pass's report, kept across restarts.
    pub fn last_compaction(&self) -> Option<CompactionRun> {
        self.last_run
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Raw samples before this time are deleted and refused (`i64::MIN`: none yet).
    pub fn horizon(&self) -> i64 {
        self.horizon.load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn load_compaction_state(&self) -> Result<(), StorageError> {
        let tree = self.compaction_tree()?;
        self.horizon.store(
            read_horizon(&self.db)?,
            std::sync::atomic::Ordering::Release,
        );
        if let Some(bytes) = tree.get(LAST_RUN)? {
            *self.last_run.lock().unwrap_or_else(|p| p.into_inner()) =
                serde_json::from_slice(&bytes).ok();
        }
        Ok(())
    }

    fn compaction_tree(&self) -> Result<sled::Tree, StorageError> {
        Ok(self.db.open_tree("compaction")?)
    }

    /// Where raw retention cuts: `now - retention.raw`, moved later when the
    /// size cap needs room, aligned down to a chunk window so that whole
    /// chunk files go. The newest window always stays.
    fn raw_cutoff(&self, now: i64) -> Result<i64, StorageError> {
        let window = self.sealed.window_ms();
        let by_age = align(
            now.saturating_sub(self.config.retention_ms(Resolution::Raw)),
            window,
        );
        let Some(max_bytes) = self.config.max_bytes else {
            return Ok(by_age);
        };
        let windows = self.sealed.windows()?;
        let mut excess = self.stored_bytes()?.saturating_sub(max_bytes);
        let mut cutoff = by_age;
        for &(start, bytes) in windows.iter().take(windows.len().saturating_sub(1)) {
            if excess == 0 {
                break;
            }
            cutoff = cutoff.max(start + window);
            excess = excess.saturating_sub(bytes);
        }
        Ok(cutoff)
    }

    fn raise_horizon(&self, cutoff: i64) -> Result<(), StorageError> {
        if cutoff <= self.horizon() {
            return Ok(());
        }
        let tree = self.compaction_tree()?;
        tree.insert(HORIZON, &cutoff.to_be_bytes())?;
        tree.flush()?;
        // Appends read the horizon under the head lock: taking it here
        // means no append that saw the old horizon is still in flight.
        let _head = self.lock();
        self.horizon
            .store(cutoff, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Folds a series' new raw samples into 5 min buckets and its new 5 min
    /// buckets into 1 h buckets. Returns the buckets written at each.
    fn compact_series(&self, id: SeriesId) -> Result<(u64, u64), StorageError> {
        let five = self.fold_raw(id)?;
        let hour = self.fold_five_minutes(id)?;
        Ok((five, hour))
    }

    /// Folds the raw samples of every **complete** 5 min block (8 h) after
    /// the watermark. A block is complete once the series has a sample at or
    /// after its end, or the horizon has passed it: no sample can join it
    /// any more (series are append-only), so each block is written once.
    fn fold_raw(&self, id: SeriesId) -> Result<u64, StorageError> {
        let store = &self.five_minutes;
        let block_ms = Resolution::FiveMinutes.block_ms();
        let Some(newest) = self.newest_sample_time(id)? else {
            return Ok(0);
        };
        let complete_until = align(newest.max(self.horizon()), block_ms);
        let from = match store.watermark(id)? {
            Some(w) => w,
            None => match self.oldest_sample_time(id)? {
                Some(t) => align(t, block_ms),
                None => return Ok(0),
            },
        };
        self.fold_blocks(store, id, from, complete_until, |bucketer, mint, maxt| {
            self.for_each_sample(id, mint, maxt, |s| {
                bucketer.push_sample(s);
                true
            })
        })
    }

    /// Folds every 1 h block (4 days) whose 5 min blocks are all written.
    fn fold_five_minutes(&self, id: SeriesId) -> Result<u64, StorageError> {
        let Some(source) = self.five_minutes.watermark(id)? else {
            return Ok(0);
        };
        let store = &self.one_hour;
        let block_ms = Resolution::OneHour.block_ms();
        let from = match store.watermark(id)? {
            Some(w) => w,
            None => match self.five_minutes.first_bucket(id)? {
                Some(b) => align(b.t, block_ms),
                None => align(source, block_ms),
            },
        };
        self.fold_blocks(
            store,
            id,
            from,
            align(source, block_ms),
            |bucketer, mint, maxt| {
                for b in self.five_minutes.buckets(id, mint, maxt)? {
                    bucketer.push_bucket(&b);
                }
                Ok(())
            },
        )
    }

    /// Writes `store`'s blocks of `id` in `[from, until)` (both block
    /// boundaries) from `source`, which feeds a block's span into the
    /// bucketer, one block at a time (memory stays at one block). The
    /// watermark moves to each block's end with it; a run of empty blocks
    /// (a silent series) moves only the watermark, once.
    fn fold_blocks(
        &self,
        store: &AggregateStore,
        id: SeriesId,
        from: i64,
        until: i64,
        mut source: impl FnMut(&mut Bucketer, i64, i64) -> Result<(), StorageError>,
    ) -> Result<u64, StorageError> {
        let block_ms = store.resolution.block_ms();
        let mut written = 0;
        let mut block = from;
        while block < until {
            let mut bucketer = Bucketer::new(store.resolution.step_ms());
            source(&mut bucketer, block, block + block_ms - 1)?;
            let buckets = bucketer.finish();
            block += block_ms;
            if !buckets.is_empty() || block >= until {
                store.write(id, &buckets, block)?;
                written += buckets.len() as u64;
            }
        }
        Ok(written)
    }

    /// Deletes raw chunks before `cutoff`, then the chunk files wholly before
    /// it. A series' chunks go only up to its 5 min watermark: raw that no
    /// block holds yet stays, and so does its file.
    fn delete_raw_before(&self, cutoff: i64, run: &mut CompactionRun) -> Result<(), StorageError> {
        if cutoff == i64::MIN {
            return Ok(());
        }
        let block_ms = Resolution::FiveMinutes.block_ms();
        let mut files_cutoff = cutoff;
        let mut removal = RawRemoval::default();
        for id in self.index.ids() {
            let id = id?;
            // Raw goes only where its 5 min blocks are written.
            let series_cutoff = match self.five_minutes.watermark(id)? {
                Some(w) => cutoff.min(w),
                None => match self.oldest_sample_time(id)? {
                    Some(t) => cutoff.min(align(t, block_ms)),
                    None => cutoff,
                },
            };
            files_cutoff = files_cutoff.min(series_cutoff);
            self.sealed.remove_before(id, series_cutoff, &mut removal)?;
            if removal.chunks as usize >= REMOVAL_BATCH {
                self.apply_raw_removal(std::mem::take(&mut removal), cutoff, run)?;
            }
        }
        self.apply_raw_removal(removal, cutoff, run)?;
        // The deleted references must be durable before their bytes go.
        self.db.flush()?;
        let window = self.sealed.window_ms();
        for (start, _) in self.sealed.windows()? {
            if start.saturating_add(window) <= files_cutoff {
                self.sealed.delete_window(start)?;
                run.raw_files_deleted += 1;
            }
        }
        Ok(())
    }

    fn apply_raw_removal(
        &self,
        removal: RawRemoval,
        horizon: i64,
        run: &mut CompactionRun,
    ) -> Result<(), StorageError> {
        run.raw_chunks_deleted += removal.chunks;
        run.raw_samples_deleted += removal.samples;
        self.lock().remove_sealed(removal, horizon, &self.sealed)
    }

    /// Deletes blocks of `resolution` that end before `cutoff`; 5 min blocks
    /// only where the series' 1 h buckets over them are final.
    fn delete_aggregates_before(
        &self,
        resolution: Resolution,
        cutoff: i64,
        run: &mut CompactionRun,
    ) -> Result<(), StorageError> {
        let store = self.aggregates(resolution);
        let mut removal = Removal::default();
        let mut deleted = 0;
        for id in self.index.ids() {
            let id = id?;
            let series_cutoff = match resolution {
                Resolution::FiveMinutes => match self.one_hour.watermark(id)? {
                    Some(w) => cutoff.min(w),
                    None => continue,
                },
                _ => cutoff,
            };
            store.remove_before(id, series_cutoff, &mut removal)?;
            if removal.keys >= REMOVAL_BATCH {
                deleted += removal.totals.blocks;
                store.apply(std::mem::take(&mut removal))?;
            }
        }
        deleted += removal.totals.blocks;
        store.apply(removal)?;
        match resolution {
            Resolution::FiveMinutes => run.blocks_5m_deleted += deleted,
            _ => run.blocks_1h_deleted += deleted,
        }
        Ok(())
    }

    /// Over `--storage.max-bytes` once raw is trimmed (by `raw_cutoff`),
    /// drops the oldest 5 min blocks, then the oldest 1 h blocks, a block
    /// period at a time: history thins out before it disappears.
    fn enforce_size_cap(&self, run: &mut CompactionRun) -> Result<(), StorageError> {
        let Some(max_bytes) = self.config.max_bytes else {
            return Ok(());
        };
        for resolution in [Resolution::FiveMinutes, Resolution::OneHour] {
            while self.stored_bytes()? > max_bytes {
                let store = self.aggregates(resolution);
                let Some(oldest) = store.oldest_block()? else {
                    break;
                };
                let before = store.totals()?.blocks;
                let cutoff = oldest + resolution.block_ms();
                self.delete_aggregates_before(resolution, cutoff, run)?;
                self.db.flush()?;
                if store.totals()?.blocks == before {
                    break;
                }
            }
        }
        Ok(())
    }

    /// What `--storage.max-bytes` counts: chunk files, aggregate blocks and
    /// the WAL. sled's own overhead comes on top: it reclaims the space of
    /// deleted values lazily, so its file size would make the cap delete far
    /// more than needed.
    pub fn stored_bytes(&self) -> Result<u64, StorageError> {
        let chunks: u64 = self.sealed.windows()?.iter().map(|(_, b)| b).sum();
        let aggregates = self.five_minutes.totals()?.bytes + self.one_hour.totals()?.bytes;
        Ok(chunks + aggregates + super::dir_size(&self.config.data_dir.join("wal")))
    }

    /// Removes the series that retention has left with no data at any
    /// resolution, so that they stop counting against the cardinality limits
    /// and the index stays the size of the live data. The series with the
    /// highest id stays, whatever it holds: it is what a restart numbers new
    /// series after, and ids are never reused.
    fn drop_dead_series(&self, run: &mut CompactionRun) -> Result<(), StorageError> {
        let highest = self.index.max_id()?;
        let mut dead = Vec::new();
        for id in self.index.ids() {
            let id = id?;
            let empty = !self.sealed.has_chunks(id)?
                && self.five_minutes.first_bucket(id)?.is_none()
                && self.one_hour.first_bucket(id)?.is_none();
            if empty && Some(id) != highest {
                dead.push(id);
            }
        }
        for id in dead {
            // Appends hold the head lock from looking a series up to writing
            // it: under the lock, a series not in the head and without chunks
            // cannot be written to meanwhile.
            let mut head = self.lock();
            if head.newest(id).is_some() || self.sealed.has_chunks(id)? {
                continue;
            }
            let labels = self.index.labels(id)?;
            self.index.remove(id, &labels)?;
            head.forget_series(labels.metric_name().unwrap_or_default());
            drop(head);
            self.five_minutes.forget(id)?;
            self.one_hour.forget(id)?;
            run.series_deleted += 1;
        }
        Ok(())
    }

    pub(crate) fn aggregates(&self, resolution: Resolution) -> &AggregateStore {
        match resolution {
            Resolution::OneHour => &self.one_hour,
            _ => &self.five_minutes,
        }
    }

    /// The newest stored sample's time of a series.
    pub(crate) fn newest_sample_time(&self, id: SeriesId) -> Result<Option<i64>, StorageError> {
        if let Some(known) = self.lock().newest(id) {
            return Ok(known.map(|s| s.t));
        }
        Ok(self.sealed.last_sample(id)?.map(|s| s.t))
    }

    fn oldest_sample_time(&self, id: SeriesId) -> Result<Option<i64>, StorageError> {
        let mut first = None;
        self.for_each_sample(id, i64::MIN, i64::MAX, |s| {
            first = Some(s.t);
            false
        })?;
        Ok(first)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{
        Append, Bucket, CardinalityLimit, DAY_MS, Labels, METRIC_NAME, ManualClock, Matcher,
        RejectReason, Sample, StorageConfig,
    };
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    const MINUTE: i64 = 60_000;
    const START: i64 = 1_700_000_000_000 / DAY_MS * DAY_MS;

    fn open(dir: &std::path::Path, clock: &Arc<ManualClock>) -> Storage {
        let mut config = StorageConfig::new(dir);
        config.sync_wal = false;
        config.cache_bytes = 4 << 20;
        config.retention_raw_ms = 2 * DAY_MS;
        config.retention_5m_ms = 4 * DAY_MS;
        config.retention_1h_ms = 30 * DAY_MS;
        config.clock = clock.clone();
        Storage::open(config).unwrap()
    }

    fn labels(n: usize) -> Labels {
        Labels::new([(METRIC_NAME, format!("m{}", n % 2)), ("n", n.to_string())])
    }

    /// Series 0 is a counter that resets every 1000 samples, series 1 a
    /// gauge, series 2 a gauge with a stale marker now and then; every 15 s.
    fn value(n: usize, i: i64) -> f64 {
        match n {
            0 => ((i % 1000) * 3) as f64,
            1 => ((i * 37) % 101) as f64,
            _ if i % 500 == 499 => f64::from_bits(super::super::STALE_NAN_BITS),
            _ => (i % 7) as f64 - 3.0,
        }
    }

    /// Appends samples `from..to` (indices of 15 s steps after START).
    fn push(store: &Storage, from: i64, to: i64) {
        for chunk in (from..to).collect::<Vec<_>>().chunks(200) {
            let batch: Vec<Append> = (0..3)
                .map(|n| Append {
                    labels: labels(n),
                    samples: chunk
                        .iter()
                        .map(|&i| Sample {
                            t: START + i * 15_000,
                            v: value(n, i),
                        })
                        .collect(),
                })
                .collect();
            let report = store.append(&batch).unwrap();
            assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        }
    }

    /// A bucket as plain numbers: t, count, sum, min, max, first, last,
    /// increase, first_t, last_t.
    type Row = (i64, u64, f64, f64, f64, f64, f64, f64, i64, i64);

    /// The rows of buckets that start before `limit`.
    fn before(limit: i64, rows: Vec<Row>) -> Vec<Row> {
        rows.into_iter().filter(|r| r.0 < limit).collect()
    }

    /// Equal rows, or a panic naming the first difference (not all rows).
    fn assert_rows(got: &[Row], want: &[Row], what: &str) {
        let first = got.iter().zip(want).position(|(a, b)| a != b);
        if let Some(i) = first {
            panic!("{what}: row {i}: got {:?}, want {:?}", got[i], want[i]);
        }
        assert_eq!(got.len(), want.len(), "{what}: number of buckets");
    }

    /// The model: buckets computed by plain loops over the samples.
    fn model(n: usize, to: i64, step: i64) -> Vec<Row> {
        let mut groups: BTreeMap<i64, Vec<(i64, f64)>> = BTreeMap::new();
        for i in 0..to {
            let v = value(n, i);
            if v.to_bits() != super::super::STALE_NAN_BITS {
                let t = START + i * 15_000;
                groups
                    .entry(t.div_euclid(step).saturating_mul(step))
                    .or_default()
                    .push((t, v));
            }
        }
        groups
            .into_iter()
            .map(|(t, samples)| {
                let vs: Vec<f64> = samples.iter().map(|s| s.1).collect();
                let mut increase = 0.0;
                for pair in vs.windows(2) {
                    increase += if pair[1] >= pair[0] {
                        pair[1] - pair[0]
                    } else {
                        pair[1]
                    };
                }
                let min = vs.iter().copied().fold(f64::INFINITY, f64::min);
                let max = vs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let sum = vs.iter().sum();
                let (first, last) = (samples[0], samples[samples.len() - 1]);
                (
                    t,
                    vs.len() as u64,
                    sum,
                    min,
                    max,
                    first.1,
                    last.1,
                    increase,
                    first.0,
                    last.0,
                )
            })
            .collect()
    }

    fn stored(store: &Storage, resolution: Resolution, n: usize) -> Vec<Row> {
        let (id, _) = store
            .select_series(&[super::super::Matcher::equal("n", n.to_string())])
            .unwrap()[0]
            .clone();
        let tuple = |b: &Bucket| -> Row {
            (
                b.t, b.count, b.sum, b.min, b.max, b.first, b.last, b.increase, b.first_t, b.last_t,
            )
        };
        store
            .buckets(resolution, id, i64::MIN, i64::MAX)
            .unwrap()
            .iter()
            .map(tuple)
            .collect()
    }

    fn raw_count(store: &Storage, n: usize) -> usize {
        let (id, _) = store
            .select_series(&[super::super::Matcher::equal("n", n.to_string())])
            .unwrap()[0]
            .clone();
        store.samples(id, i64::MIN, i64::MAX).unwrap().len()
    }

    const PER_DAY: i64 = DAY_MS / 15_000;

    #[test]
    fn passes_between_writes_give_the_buckets_of_a_plain_model_and_a_second_pass_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(START));
        let store = open(dir.path(), &clock);
        // Passes every 97 minutes of data, out of step with the blocks.
        let step = 97 * 4;
        let end = 9 * PER_DAY + 123;
        let mut i = 0;
        while i < end {
            let next = (i + step).min(end);
            push(&store, i, next);
            clock.set(START + next * 15_000);
            store.compact().unwrap();
            i = next;
        }
        // Complete blocks only: up to the block holding the newest sample.
        let five = align(
            START + (end - 1) * 15_000,
            Resolution::FiveMinutes.block_ms(),
        );
        let hour = align(five, Resolution::OneHour.block_ms());
        // 5 min keeps 4 days, and only what 1 h holds already goes.
        let now = START + end * 15_000;
        let kept_from = align(
            (now - 4 * DAY_MS).min(hour),
            Resolution::FiveMinutes.block_ms(),
        );
        for n in 0..3 {
            let want: Vec<Row> = before(five, model(n, end, 5 * MINUTE))
                .into_iter()
                .filter(|r| r.0 >= kept_from)
                .collect();
            assert_rows(&stored(&store, Resolution::FiveMinutes, n), &want, "5m");
            let hourly = stored(&store, Resolution::OneHour, n);
            assert!(hourly.len() >= 4 * 24, "{}", hourly.len());
            assert_rows(&hourly, &before(hour, model(n, end, 60 * MINUTE)), "1h");
        }
        let again = store.compact().unwrap();
        assert_eq!(
            (
                again.series,
                again.series_compacted,
                again.buckets_5m_written
            ),
            (3, 0, 0)
        );
        assert_eq!(again.buckets_1h_written, 0);
        let stats = store.resolution_stats().unwrap();
        assert_eq!(
            stats[1].samples as usize,
            (0..3)
                .map(|n| stored(&store, Resolution::FiveMinutes, n).len())
                .sum::<usize>()
        );
    }

    #[test]
    fn a_week_off_is_caught_up_and_retention_deletes_raw_only_once_aggregated() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(START));
        let store = open(dir.path(), &clock);
        let end = 7 * PER_DAY;
        push(&store, 0, end);
        store.flush().unwrap();
        clock.set(START + end * 15_000);
        let run = store.compact().unwrap();
        let five = align(
            START + (end - 1) * 15_000,
            Resolution::FiveMinutes.block_ms(),
        );
        let hour = align(five, Resolution::OneHour.block_ms());
        for n in 0..3 {
            // 5 min keeps 4 days: from now - 4 d to its last complete block.
            let kept: Vec<Row> = before(five, model(n, end, 5 * MINUTE))
                .into_iter()
                .filter(|r| r.0 >= START + 3 * DAY_MS)
                .collect();
            assert_rows(&stored(&store, Resolution::FiveMinutes, n), &kept, "5m");
            assert_rows(
                &stored(&store, Resolution::OneHour, n),
                &before(hour, model(n, end, 60 * MINUTE)),
                "1h",
            );
        }
        // Raw keeps 2 days; the rest lives on in the aggregates.
        let horizon = run.raw_horizon.unwrap();
        assert_eq!(horizon, START + 5 * DAY_MS);
        assert_eq!(raw_count(&store, 1), (2 * PER_DAY) as usize);
        assert!(run.raw_files_deleted >= 5 * 12, "{run:?}");
        assert_eq!(run.raw_samples_deleted, 3 * 5 * PER_DAY as u64);
        assert_eq!(store.stats().samples, 3 * 2 * PER_DAY as u64);
        // Older samples are refused now, by name.
        let report = store
            .append(&[Append::one(
                labels(1),
                Sample {
                    t: horizon - 1,
                    v: 1.0,
                },
            )])
            .unwrap();
        assert_eq!(report.rejected, vec![(0, RejectReason::TooOld { horizon })]);

        // Everything survives a restart, the horizon and last run included.
        drop(store);
        let store = open(dir.path(), &clock);
        assert_eq!(store.horizon(), horizon);
        assert_eq!(
            store.last_compaction().map(|r| r.started),
            Some(run.started)
        );
        assert_eq!(
            stored(&store, Resolution::OneHour, 0),
            before(hour, model(0, end, 60 * MINUTE))
        );
        assert_eq!(raw_count(&store, 0), (2 * PER_DAY) as usize);
    }

    #[test]
    fn a_size_cap_drops_the_oldest_raw_windows_then_the_oldest_aggregates() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(START));
        let mut config = StorageConfig::new(dir.path());
        config.sync_wal = false;
        config.clock = clock.clone();
        let store = Storage::open(config.clone()).unwrap();
        let end = 10 * PER_DAY;
        push(&store, 0, end);
        store.flush().unwrap();
        clock.set(START + end * 15_000);
        let full = store.stored_bytes().unwrap();
        drop(store);

        config.max_bytes = Some(full / 2);
        let store = Storage::open(config).unwrap();
        let run = store.compact().unwrap();
        // Raw goes from the oldest window on, but only once aggregated; the
        // aggregates (larger than raw for data this regular) then lose their
        // oldest blocks, and the newest stay.
        let now = START + end * 15_000;
        assert!(run.raw_files_deleted > 0, "{run:?}");
        assert!(store.horizon() > START && store.horizon() < now);
        assert_eq!(
            raw_count(&store, 0) as i64,
            (now - store.horizon()) / 15_000
        );
        assert!(run.blocks_5m_deleted > 0, "{run:?}");
        let newest = align(now - 15_000, Resolution::FiveMinutes.block_ms()) - 5 * MINUTE;
        assert_eq!(
            stored(&store, Resolution::FiveMinutes, 0)
                .last()
                .map(|r| r.0),
            Some(newest)
        );
        assert!(store.stored_bytes().unwrap() < full);
    }

    #[test]
    fn series_that_retention_emptied_leave_the_index_and_the_limits() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(START));
        let mut config = StorageConfig::new(dir.path());
        config.sync_wal = false;
        config.clock = clock.clone();
        config.retention_raw_ms = DAY_MS;
        config.retention_5m_ms = 2 * DAY_MS;
        config.retention_1h_ms = 5 * DAY_MS;
        let store = Storage::open(config.clone()).unwrap();
        let gone = Labels::new([(METRIC_NAME, "m0".to_string()), ("n", "gone".to_string())]);
        let kept = labels(0);
        let at = |i: i64| Sample {
            t: START + i * 15_000,
            v: 1.0,
        };
        // "gone" reports for a day and stops; "kept" goes on for 12 days.
        store
            .append(&[Append {
                labels: gone.clone(),
                samples: (0..PER_DAY).map(at).collect(),
            }])
            .unwrap();
        for day in 0..12 {
            let samples = (day * PER_DAY..(day + 1) * PER_DAY).map(at).collect();
            store
                .append(&[Append {
                    labels: kept.clone(),
                    samples,
                }])
                .unwrap();
        }
        // Idle series leave the head (after 15 min of real time).
        store
            .maintain(Instant::now() + std::time::Duration::from_secs(3600))
            .unwrap();
        clock.set(START + 12 * DAY_MS);
        let run = store.compact().unwrap();
        assert_eq!(run.series_deleted, 1, "{run:?}");
        assert!(
            store
                .select_series(&[Matcher::equal("n", "gone")])
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.stats().series, 1);
        assert_eq!(store.top_metrics(5), vec![("m0".to_string(), 1)]);
        assert_eq!(store.resolution_stats().unwrap()[1].series, 1);
        // It comes back as a new series, with a new id, if it reports again.
        let back = Sample {
            t: START + 12 * DAY_MS,
            v: 2.0,
        };
        store.append(&[Append::one(gone, back)]).unwrap();
        let found = store.select_series(&[Matcher::equal("n", "gone")]).unwrap();
        assert_eq!(found.len(), 1);
        assert!(found[0].0 > 1);
        assert_eq!(store.stats().series, 2);
        // After a restart the counts agree, and replaying the WAL (which
        // still logs the old id) does not bring the old series back.
        drop(store);
        let store = Storage::open(config).unwrap();
        assert_eq!(store.stats().series, 2);
        assert_eq!(store.top_metrics(5), vec![("m0".to_string(), 2)]);
        let again = store.select_series(&[Matcher::equal("n", "gone")]).unwrap();
        assert_eq!(
            again.iter().map(|s| s.0).collect::<Vec<_>>(),
            vec![found[0].0]
        );
        assert_eq!(store.samples(found[0].0, 0, i64::MAX).unwrap(), vec![back]);
    }

    #[test]
    fn concurrent_requests_never_overshoot_a_cardinality_limit() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = StorageConfig::new(dir.path());
        config.sync_wal = false;
        config.max_series_per_metric = 100;
        let store = Arc::new(Storage::open(config).unwrap());
        // 8 writers race, each sending 40 requests of 3 new series of "m".
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let mut stored = 0;
                    for r in 0..40 {
                        let batch: Vec<Append> = (0..3)
                            .map(|i| {
                                Append::one(
                                    Labels::new([
                                        (METRIC_NAME, "m".to_string()),
                                        ("n", format!("{w}-{r}-{i}")),
                                    ]),
                                    Sample { t: START, v: 1.0 },
                                )
                            })
                            .collect();
                        match store.append(&batch) {
                            Ok(report) => stored += report.accepted,
                            Err(StorageError::Limit(_)) => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                    stored
                })
            })
            .collect();
        let stored: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
        // Whole requests of 3 fit under 100 at most 33 times: exactly 99
        // series, every one with its sample, and nothing of a refused request.
        assert_eq!(stored, 99);
        assert_eq!(store.stats().series, 99);
        assert_eq!(store.stats().samples, 99);
        assert_eq!(store.top_metrics(1), vec![("m".to_string(), 99)]);
    }

    #[test]
    fn a_request_over_a_cardinality_limit_stores_nothing_and_limits_survive_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(START));
        let mut config = StorageConfig::new(dir.path());
        config.sync_wal = false;
        config.max_series = 5;
        config.max_series_per_metric = 3;
        config.clock = clock;
        let series = |name: &str, n: usize| {
            Append::one(
                Labels::new([(METRIC_NAME, name.to_string()), ("n", n.to_string())]),
                Sample { t: START, v: 1.0 },
            )
        };
        let store = Storage::open(config.clone()).unwrap();
        store.append(&[series("a", 0), series("a", 1)]).unwrap();
        let err = store
            .append(&[series("b", 0), series("a", 2), series("a", 3)])
            .unwrap_err();
        let StorageError::Limit(limit) = err else {
            panic!("{err}")
        };
        assert_eq!(
            limit,
            CardinalityLimit {
                flag: "limits.max-series-per-metric",
                limit: 3,
                metric: "a".into()
            }
        );
        assert_eq!((store.stats().series, store.stats().samples), (2, 2));
        drop(store);
        let store = Storage::open(config).unwrap();
        assert!(store.append(&[series("a", 2)]).is_ok());
        assert!(matches!(
            store.append(&[series("a", 9)]),
            Err(StorageError::Limit(_))
        ));
        store.append(&[series("b", 0), series("c", 0)]).unwrap();
        let StorageError::Limit(limit) = store.append(&[series("d", 0)]).unwrap_err() else {
            panic!()
        };
        assert_eq!(
            (limit.flag, limit.metric.as_str()),
            ("limits.max-series", "d")
        );
        assert_eq!(store.top_metrics(1), vec![("a".to_string(), 3)]);
    }
}
