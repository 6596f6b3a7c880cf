//! The head: open chunks of active series in memory, the WAL that protects
//! them, and the append rules (order, duplicates, series limit).

use super::index::Index;
use super::labels::Labels;
use super::sealed::{self, RawRemoval, SealedChunks, Totals};
use super::wal::{self, Record, Wal, WalMark};
use super::{
    CardinalityLimit, METRIC_NAME, Sample, SeriesId, StorageConfig, StorageError, StorageStats,
};
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::fs::File;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a sample was not stored. Values, not errors: the rest of the batch is.
#[derive(Clone, Debug, PartialEq)]
pub enum RejectReason {
    /// Older than the newest sample of its series. TinyObs keeps each series
    /// append-only, as Prometheus does by default, so chunks never need rewriting.
    OutOfOrder { newest: i64 },
    /// Same timestamp as the newest sample, different value.
    ConflictingValue { t: i64 },
    /// Older than what raw retention keeps: it would be deleted at once, and
    /// its aggregates are already final.
    TooOld { horizon: i64 },
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RejectReason::OutOfOrder { newest } => {
                write!(
                    f,
                    "out of order: series already has a sample at {newest} ms"
                )
            }
            RejectReason::ConflictingValue { t } => {
                write!(f, "duplicate timestamp {t} ms with a different value")
            }
            RejectReason::TooOld { horizon } => {
                write!(f, "too old: raw data before {horizon} ms is deleted")
            }
        }
    }
}

/// One series' samples in a batch for `Head::append`.
pub(crate) struct Entry<'a> {
    pub(crate) series: SeriesKey<'a>,
    pub(crate) samples: &'a [Sample],
}

/// How an entry names its series.
#[derive(Clone, Copy)]
pub(crate) enum SeriesKey<'a> {
    /// By its labels: looked up, loaded from the index or created.
    Labels(&'a Labels),
    /// An id the caller found with `Head::by_key` under the same lock, so
    /// the series is in the head.
    Active(SeriesId),
}

/// The outcome of one append.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AppendReport {
    pub accepted: u64,
    /// Identical to a stored sample (same time, same value bits): ignored, so
    /// that a retried request is harmless.
    pub duplicates: u64,
    /// By index in the batch.
    pub rejected: Vec<(usize, RejectReason)>,
}

struct HeadSeries {
    labels: Labels,
    /// The open chunk, in time order.
    open: Vec<Sample>,
    /// The last millisecond of the chunk window `open` lies in: a later
    /// sample seals it. Kept so that a push divides nothing.
    open_window_end: i64,
    /// The newest sample stored, open or sealed: the bar for the next one.
    last: Option<Sample>,
    /// WAL segment holding `open[0]`; older segments are not needed for this series.
    first_segment: u64,
    last_write: Instant,
}

/// Chunks sealed out of the head and not yet in the chunk files. Their
/// samples are in the WAL, so an append need not wait for them: they are
/// encoded without the head lock and written in one go (see
/// `Head::start_sealing`). Until then reads find them here.
#[derive(Default)]
pub(crate) struct Pending {
    chunks: Vec<(SeriesId, Vec<Sample>)>,
    /// Where each series' chunks are in `chunks`, oldest first: a read of
    /// one series looks here instead of scanning every chunk sealed at a
    /// window's edge.
    of_series: FxHashMap<SeriesId, Vec<usize>>,
    /// WAL segment of the oldest sample pending: the WAL keeps it until written.
    first_segment: Option<u64>,
}

impl Pending {
    pub(crate) fn chunks(&self) -> &[(SeriesId, Vec<Sample>)] {
        &self.chunks
    }

    fn push(&mut self, id: SeriesId, chunk: Vec<Sample>, first_segment: u64) {
        self.of_series
            .entry(id)
            .or_default()
            .push(self.chunks.len());
        self.chunks.push((id, chunk));
        self.first_segment = Some(
            self.first_segment
                .map_or(first_segment, |s| s.min(first_segment)),
        );
    }

    /// The chunks of `id`, oldest first.
    fn of(&self, id: SeriesId) -> impl DoubleEndedIterator<Item = &Vec<Sample>> {
        let indexes = self.of_series.get(&id).into_iter().flatten();
        indexes.map(|&i| &self.chunks[i].1)
    }
}

pub(crate) struct Head {
    /// foldhash rather than std's SipHash: every pushed series is looked up
    /// here, and hashing its labels with SipHash was a tenth of the server's
    /// CPU under remote_write. Its random seed still keeps clients from
    /// choosing colliding label sets.
    ids: HashMap<Labels, SeriesId, foldhash::fast::RandomState>,
    /// Active series by their labels as a client's wire format spells them
    /// (see `Storage::append_keyed`): a request that names a known series
    /// this way is not parsed, validated or hashed label by label. Only
    /// series in `series` are here, so an entry never outlives its series.
    by_key: HashMap<Box<[u8]>, SeriesId, foldhash::fast::RandomState>,
    /// Keyed by the ids TinyObs hands out, so the fast non-keyed Fx hash is
    /// safe here; it is looked up for every sample.
    series: FxHashMap<SeriesId, HeadSeries>,
    /// Sealed since the last batch was taken for writing.
    pending: Pending,
    /// The batch being encoded and written, older than `pending`; left here
    /// if its write failed, to be written again first.
    sealing: Option<Arc<Pending>>,
    /// Emptied buffers of written chunks, for the open chunks that follow:
    /// at most one per active series (idle series take theirs along).
    /// Returned to the allocator instead, a window's worth of buffers went
    /// back to the system and came back page by page as the next window
    /// filled (zeroing pages was 4 % of the server's CPU under the bench's
    /// ingest).
    spare: Vec<Vec<Sample>>,
    wal: Wal,
    totals: Totals,
    head_samples: u64,
    series_count: u64,
    next_id: SeriesId,
    oldest: Option<i64>,
    newest: Option<i64>,
    rejected: u64,
    chunk_max_samples: usize,
    chunk_window_ms: i64,
    max_series: u64,
    max_series_per_metric: u64,
    /// Series per metric name, counted from the index at start: what the
    /// per-metric limit is checked against.
    per_metric: HashMap<String, u64>,
}

impl Head {
    /// Rebuilds the head from sled and the WAL after a start or a crash.
    /// Samples before `horizon` (deleted by retention) are not replayed.
    pub(crate) fn recover(
        config: &StorageConfig,
        index: &Index,
        sealed: &SealedChunks,
        horizon: i64,
    ) -> Result<Self, StorageError> {
        let totals = sealed.totals()?;
        let wal_dir = config.data_dir.join("wal");
        let mut head = Head {
            ids: HashMap::default(),
            by_key: HashMap::default(),
            series: FxHashMap::default(),
            pending: Pending::default(),
            sealing: None,
            spare: Vec::new(),
            // Replay first, then open a fresh segment after the replayed ones.
            wal: Wal::open(&wal_dir, config.sync_wal)?,
            totals,
            head_samples: 0,
            series_count: index.count_series() as u64,
            next_id: index.max_id()?.map_or(0, |id| id + 1),
            oldest: totals.oldest,
            newest: totals.newest,
            rejected: 0,
            chunk_max_samples: config
                .chunk_max_samples
                .clamp(1, super::chunk::MAX_CHUNK_SAMPLES),
            chunk_window_ms: config.chunk_window_ms.max(1),
            max_series: config.max_series,
            max_series_per_metric: config.max_series_per_metric,
            per_metric: HashMap::new(),
        };
        for name in index.label_values(METRIC_NAME)? {
            let count = index.postings(METRIC_NAME, &name)?.len() as u64;
            head.per_metric.insert(name, count);
        }
        let current = head.wal.current_segment();
        let now = Instant::now();
        // Ids the WAL still mentions but retention has since removed from the
        // index (and, for some, created again under a new id): their samples
        // are older than what is kept, so replay leaves them out.
        let mut removed: std::collections::HashSet<SeriesId> = Default::default();
        wal::replay(&wal_dir, |segment, record| {
            if segment >= current {
                return Ok(());
            }
            match record {
                Record::Series(list) => {
                    for (id, labels) in list {
                        head.next_id = head.next_id.max(id + 1);
                        // Re-insert even if the series is found: sled may have
                        // kept some of the index trees' writes and not others.
                        match index.lookup(&labels.encode())? {
                            Some(current) if current != id => {
                                removed.insert(id);
                                continue;
                            }
                            Some(_) => {}
                            None => {
                                head.series_count += 1;
                                let name = labels.metric_name().unwrap_or_default();
                                *head.per_metric.entry(name.to_string()).or_default() += 1;
                            }
                        }
                        index.insert(id, &labels)?;
                    }
                }
                Record::Samples(list) => {
                    for (id, sample) in list {
                        if sample.t < horizon {
                            continue;
                        }
                        if removed.contains(&id) || !index.contains(id)? {
                            removed.insert(id);
                            continue;
                        }
                        head.load(id, index, sealed, now)?;
                        let series = head.series.get(&id).expect("just loaded");
                        if series.last.is_none_or(|l| sample.t > l.t) {
                            head.push(id, [sample], segment, now);
                        }
                    }
                    head.commit(sealed)?;
                }
            }
            Ok(())
        })?;
        Ok(head)
    }

    /// Stores what it can of `batch`. Samples before `horizon` (what raw
    /// retention deleted) are rejected; a batch that would pass a cardinality
    /// limit is refused whole, before anything is written. The accepted
    /// samples are written to the WAL but not yet durable: the caller syncs
    /// it up to the returned mark, outside the head lock, before it answers.
    pub(crate) fn append(
        &mut self,
        batch: &[Entry],
        index: &Index,
        sealed: &SealedChunks,
        horizon: i64,
    ) -> Result<(AppendReport, Option<WalMark>), StorageError> {
        let now = Instant::now();
        let mut report = AppendReport::default();
        let mut accepted: Vec<(SeriesId, Sample)> = Vec::with_capacity(batch.len());
        // Series created by this batch; they join the head only once the WAL
        // write succeeded, so a failed write leaves no trace.
        let mut fresh: HashMap<&Labels, SeriesId> = HashMap::new();
        // Newest sample per series including this batch's accepted ones.
        let mut pending_last: FxHashMap<SeriesId, Sample> = FxHashMap::default();
        let next_id_before = self.next_id;

        let mut position = 0;
        for item in batch {
            let first = position;
            position += item.samples.len();
            if item.samples.is_empty() {
                // No sample, no series: an empty remote_write series leaves no trace.
                continue;
            }
            let id = match item.series {
                SeriesKey::Active(id) => id,
                SeriesKey::Labels(labels) => match self.ids.get(labels) {
                    Some(&id) => id,
                    None => match fresh.get(labels) {
                        Some(&id) => id,
                        None => match index.lookup(&labels.encode())? {
                            Some(id) => {
                                self.load(id, index, sealed, now)?;
                                id
                            }
                            None => {
                                let id = self.next_id;
                                self.next_id += 1;
                                fresh.insert(labels, id);
                                id
                            }
                        },
                    },
                },
            };
            let mut last = pending_last
                .get(&id)
                .copied()
                .or_else(|| self.series.get(&id).and_then(|s| s.last));
            for (i, &s) in (first..).zip(item.samples) {
                match last {
                    _ if s.t < horizon => {
                        report.rejected.push((i, RejectReason::TooOld { horizon }))
                    }
                    Some(l) if s.t < l.t && self.is_stored(id, s, &accepted, sealed)? => {
                        report.duplicates += 1
                    }
                    Some(l) if s.t < l.t => report
                        .rejected
                        .push((i, RejectReason::OutOfOrder { newest: l.t })),
                    Some(l) if s.t == l.t && s.v.to_bits() == l.v.to_bits() => {
                        report.duplicates += 1
                    }
                    Some(l) if s.t == l.t => report
                        .rejected
                        .push((i, RejectReason::ConflictingValue { t: s.t })),
                    _ => {
                        last = Some(s);
                        accepted.push((id, s));
                    }
                }
            }
            if let Some(l) = last {
                pending_last.insert(id, l);
            }
        }

        let mut new_series: Vec<(SeriesId, &Labels)> =
            fresh.iter().map(|(&labels, &id)| (id, labels)).collect();
        new_series.sort_by_key(|(id, _)| *id);
        if let Err(e) = self.check_limits(&new_series) {
            self.next_id = next_id_before;
            return Err(e);
        }
        let wal_mark = match self.wal.append(&new_series, &accepted) {
            Ok(mark) => mark,
            Err(e) => {
                self.next_id = next_id_before;
                return Err(e);
            }
        };
        let segment = self.wal.current_segment();
        report.accepted = accepted.len() as u64;
        for (labels, id) in fresh {
            index.insert(id, labels)?;
            self.series_count += 1;
            let name = labels.metric_name().unwrap_or_default();
            *self.per_metric.entry(name.to_string()).or_default() += 1;
            self.track(id, labels.clone(), None, now);
        }
        // A series' samples travel together: one look-up for each run.
        for run in accepted.chunk_by(|a, b| a.0 == b.0) {
            self.push(run[0].0, run.iter().map(|&(_, s)| s), segment, now);
        }
        self.rejected += report.rejected.len() as u64;
        Ok((report, wal_mark))
    }

    /// What an fsync needs to make the WAL durable up to now.
    pub(crate) fn wal_sync_target(&self) -> Result<(Arc<File>, WalMark), StorageError> {
        self.wal.sync_target()
    }

    /// Refuses new series beyond the total or per-metric limit. Checked under
    /// the head lock, so concurrent requests cannot overshoot together.
    fn check_limits(&self, new_series: &[(SeriesId, &Labels)]) -> Result<(), StorageError> {
        let limit = |flag: &'static str, limit: u64, metric: &str| {
            Err(StorageError::Limit(CardinalityLimit {
                flag,
                limit,
                metric: metric.to_string(),
            }))
        };
        if let Some((_, labels)) =
            new_series.get(self.max_series.saturating_sub(self.series_count) as usize)
        {
            return limit(
                "limits.max-series",
                self.max_series,
                labels.metric_name().unwrap_or_default(),
            );
        }
        let mut added: HashMap<&str, u64> = HashMap::new();
        for (_, labels) in new_series {
            let name = labels.metric_name().unwrap_or_default();
            let count = added.entry(name).or_default();
            *count += 1;
            let existing = self.per_metric.get(name).copied().unwrap_or(0);
            if existing + *count > self.max_series_per_metric {
                return limit(
                    "limits.max-series-per-metric",
                    self.max_series_per_metric,
                    name,
                );
            }
        }
        Ok(())
    }

    /// Series per metric name, most first, at most `limit`.
    pub(crate) fn top_metrics(&self, limit: usize) -> Vec<(String, u64)> {
        let mut all: Vec<(String, u64)> = self
            .per_metric
            .iter()
            .map(|(n, c)| (n.clone(), *c))
            .collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.truncate(limit);
        all
    }

    /// Takes removed raw chunks out of the totals and writes the removal:
    /// under the head lock, because every seal writes the totals too.
    pub(crate) fn remove_sealed(
        &mut self,
        removal: RawRemoval,
        horizon: i64,
        sealed: &SealedChunks,
    ) -> Result<(), StorageError> {
        let mut next = self.totals;
        next.samples = next.samples.saturating_sub(removal.samples);
        next.chunks = next.chunks.saturating_sub(removal.chunks);
        next.oldest = next.oldest.map(|o| o.max(horizon));
        sealed.apply_removal(removal, &next)?;
        self.totals = next;
        self.oldest = self.oldest.map(|o| o.max(horizon));
        Ok(())
    }

    /// Counts a series out of the limits: retention left it nothing.
    pub(crate) fn forget_series(&mut self, metric: &str) {
        self.series_count = self.series_count.saturating_sub(1);
        if let Some(count) = self.per_metric.get_mut(metric) {
            *count -= 1;
            if *count == 0 {
                self.per_metric.remove(metric);
            }
        }
    }

    /// The newest sample of a series, if the head knows it.
    pub(crate) fn newest(&self, id: SeriesId) -> Option<Option<Sample>> {
        if let Some(series) = self.series.get(&id) {
            return Some(series.last);
        }
        self.newest_unwritten(id).map(Some)
    }

    /// The sealed chunks of `id` not yet in the chunk files, oldest first.
    fn unwritten(&self, id: SeriesId) -> impl DoubleEndedIterator<Item = &Vec<Sample>> {
        let sealing = self.sealing.iter().flat_map(move |batch| batch.of(id));
        sealing.chain(self.pending.of(id))
    }

    /// The last sample of the newest unwritten chunk of `id`.
    fn newest_unwritten(&self, id: SeriesId) -> Option<Sample> {
        self.unwritten(id)
            .next_back()
            .and_then(|chunk| chunk.last().copied())
    }

    /// Whether exactly this sample (time and value bits) is already stored or
    /// accepted earlier in this batch, so that a retried request with several
    /// samples per series is harmless too. Only called for samples older than
    /// the newest, which are rare.
    fn is_stored(
        &self,
        id: SeriesId,
        s: Sample,
        batch_accepted: &[(SeriesId, Sample)],
        sealed: &SealedChunks,
    ) -> Result<bool, StorageError> {
        let same = |found: &Sample| found.v.to_bits() == s.v.to_bits();
        if let Some((_, found)) = batch_accepted.iter().find(|(i, x)| *i == id && x.t == s.t) {
            return Ok(same(found));
        }
        if let Some(series) = self.series.get(&id)
            && let Ok(i) = series.open.binary_search_by_key(&s.t, |x| x.t)
        {
            return Ok(same(&series.open[i]));
        }
        for chunk in self.unwritten(id) {
            if let Ok(i) = chunk.binary_search_by_key(&s.t, |x| x.t) {
                return Ok(same(&chunk[i]));
            }
        }
        for chunk in sealed.chunks(id, s.t, s.t) {
            let samples = super::chunk::decode(&chunk?)?;
            if let Ok(i) = samples.binary_search_by_key(&s.t, |x| x.t) {
                return Ok(same(&samples[i]));
            }
        }
        Ok(false)
    }

    /// Brings a stored series into the head, with its newest sealed sample.
    fn load(
        &mut self,
        id: SeriesId,
        index: &Index,
        sealed: &SealedChunks,
        now: Instant,
    ) -> Result<(), StorageError> {
        if self.series.contains_key(&id) {
            return Ok(());
        }
        let labels = index.labels(id)?;
        let last = match self.newest_unwritten(id) {
            Some(sample) => Some(sample),
            None => sealed.last_sample(id)?,
        };
        self.track(id, labels, last, now);
        Ok(())
    }

    /// Registers a series in the head with an empty open chunk.
    fn track(&mut self, id: SeriesId, labels: Labels, last: Option<Sample>, now: Instant) {
        self.ids.insert(labels.clone(), id);
        let series = HeadSeries {
            labels,
            open: Vec::new(),
            open_window_end: i64::MIN,
            last,
            first_segment: self.wal.current_segment(),
            last_write: now,
        };
        self.series.insert(id, series);
    }

    /// Adds accepted samples of one series, oldest first, to its open chunk,
    /// sealing the chunk first where a sample does not belong in it.
    fn push(
        &mut self,
        id: SeriesId,
        samples: impl IntoIterator<Item = Sample>,
        segment: u64,
        now: Instant,
    ) {
        let window = self.chunk_window_ms;
        let max = self.chunk_max_samples;
        let series = self.series.get_mut(&id).expect("series loaded before push");
        let (mut oldest, mut newest) = (self.oldest, self.newest);
        for sample in samples {
            // Accepted samples of a series only move forward in time.
            let must_seal = !series.open.is_empty()
                && (series.open.len() >= max || sample.t > series.open_window_end);
            if must_seal {
                Self::seal(series, id, &mut self.pending);
            }
            if series.open.is_empty() {
                if series.open.capacity() == 0 {
                    series.open = self.spare.pop().unwrap_or_default();
                }
                series.first_segment = segment;
                // Cannot overflow downwards, as start + window - 1 could.
                series.open_window_end = sample
                    .t
                    .saturating_add(window - 1 - sample.t.rem_euclid(window));
            }
            series.open.push(sample);
            series.last = Some(sample);
            self.head_samples += 1;
            oldest = Some(oldest.map_or(sample.t, |o| o.min(sample.t)));
            newest = Some(newest.map_or(sample.t, |n| n.max(sample.t)));
        }
        series.last_write = now;
        (self.oldest, self.newest) = (oldest, newest);
    }

    /// Moves a series' open chunk to the pending list.
    fn seal(series: &mut HeadSeries, id: SeriesId, pending: &mut Pending) {
        if series.open.is_empty() {
            return;
        }
        let chunk = std::mem::take(&mut series.open);
        pending.push(id, chunk, series.first_segment);
    }

    /// Writes every sealed chunk and the totals that count them, encoding
    /// under the head lock: for recovery and the periodic and final seals,
    /// which the sealing lock keeps apart from a batch being encoded.
    fn commit(&mut self, sealed: &SealedChunks) -> Result<(), StorageError> {
        while let Some(batch) = self.start_sealing() {
            let encoded = sealed::encode_all(&batch.chunks, sealed::Cores::All)?;
            self.finish_sealing(batch, encoded, sealed)?;
        }
        Ok(())
    }

    /// Takes the sealed chunks as a batch to encode without the head lock;
    /// `None` if there are none. They stay readable until written. The
    /// caller holds the sealing lock, so one batch is in flight at a time; a
    /// batch whose write failed is taken again.
    pub(crate) fn start_sealing(&mut self) -> Option<Arc<Pending>> {
        if self.sealing.is_none() && !self.pending.chunks.is_empty() {
            self.sealing = Some(Arc::new(std::mem::take(&mut self.pending)));
        }
        self.sealing.clone()
    }

    /// Writes a batch from `start_sealing`, encoded in order, with the totals
    /// that count it.
    pub(crate) fn finish_sealing(
        &mut self,
        batch: Arc<Pending>,
        encoded: Vec<Vec<u8>>,
        sealed: &SealedChunks,
    ) -> Result<(), StorageError> {
        let mut next = self.totals;
        for (_, chunk) in &batch.chunks {
            next.add(chunk);
        }
        sealed.write(&batch.chunks, encoded, &next)?;
        self.head_samples -= next.samples - self.totals.samples;
        self.totals = next;
        self.sealing = None;
        // The head's copy is gone: the batch is the caller's alone.
        if let Ok(written) = Arc::try_unwrap(batch) {
            let keep = self.series.len().saturating_sub(self.spare.len());
            for (_, mut chunk) in written.chunks.into_iter().take(keep) {
                chunk.clear();
                self.spare.push(chunk);
            }
        }
        Ok(())
    }

    /// Whether the sealer has fallen a generation behind: more chunks wait to
    /// be written than there are active series. At a window's edge each
    /// series seals one chunk, which the sealer writes while the next fill
    /// up; if it is still busy at the next edge, the appender writes them
    /// itself, so the head holds at most one generation of sealed chunks
    /// besides the open one.
    pub(crate) fn sealing_behind(&self) -> bool {
        let in_flight = self.sealing.as_ref().map_or(0, |batch| batch.chunks.len());
        in_flight + self.pending.chunks.len() > self.series.len().max(1)
    }

    #[cfg(test)]
    pub(crate) fn spare_buffers(&self) -> usize {
        self.spare.len()
    }

    /// Whether there are sealed chunks to write.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.chunks.is_empty()
    }

    /// Copies the open samples of `id` in `[mint, maxt]`.
    /// Unwritten sealed chunks included: they are not in the chunk files yet.
    pub(crate) fn open_samples(&self, id: SeriesId, mint: i64, maxt: i64) -> Vec<Sample> {
        let open = self.series.get(&id).map(|s| &s.open);
        self.unwritten(id)
            .chain(open)
            .flatten()
            .filter(|x| x.t >= mint && x.t <= maxt)
            .copied()
            .collect()
    }

    pub(crate) fn seal_all(&mut self, sealed: &SealedChunks) -> Result<(), StorageError> {
        for (&id, series) in self.series.iter_mut() {
            Self::seal(series, id, &mut self.pending);
        }
        self.commit(sealed)
    }

    /// The active series a client's spelling of its labels was last seen
    /// naming (see `remember_key`).
    pub(crate) fn by_key(&self, key: &[u8]) -> Option<SeriesId> {
        self.by_key.get(key).copied()
    }

    /// Remembers that `key` spells `labels`, if that series is active. One
    /// series may be spelled several ways (its labels in another order), so
    /// the map is cleared when it outgrows twice the active series: it is a
    /// cache, and a client cannot make it grow without bound.
    pub(crate) fn remember_key(&mut self, key: &[u8], labels: &Labels) {
        let Some(&id) = self.ids.get(labels) else {
            return;
        };
        if self.by_key.len() >= 2 * self.series.len() + 1024 {
            self.by_key.clear();
        }
        self.by_key.insert(key.into(), id);
    }

    /// Seals and forgets series idle for `idle_after`.
    pub(crate) fn seal_idle(
        &mut self,
        now: Instant,
        idle_after: Duration,
        sealed: &SealedChunks,
    ) -> Result<(), StorageError> {
        let idle: Vec<SeriesId> = self
            .series
            .iter()
            .filter(|(_, s)| now.saturating_duration_since(s.last_write) >= idle_after)
            .map(|(&id, _)| id)
            .collect();
        for id in idle {
            let mut series = self.series.remove(&id).expect("listed above");
            Self::seal(&mut series, id, &mut self.pending);
            self.ids.remove(&series.labels);
        }
        let series = &self.series;
        self.by_key.retain(|_, id| series.contains_key(id));
        // At most one spare buffer per series still active.
        self.spare.truncate(self.series.len());
        self.commit(sealed)
    }

    /// Deletes WAL segments older than every open sample, after making sled
    /// durable (the deleted segments may hold the only copy of index writes).
    /// The chunk files need no flush here: their bytes are fdatasync'ed before
    /// sled references them.
    pub(crate) fn truncate_wal(&mut self, db: &sled::Db) -> Result<(), StorageError> {
        let keep_from = self
            .series
            .values()
            .filter(|s| !s.open.is_empty())
            .map(|s| s.first_segment)
            .chain(self.pending.first_segment)
            .chain(self.sealing.as_ref().and_then(|b| b.first_segment))
            .min();
        let keep_from = match keep_from {
            Some(n) => n,
            None => {
                // Nothing open: start a fresh segment so every older one can go.
                if !self.wal.current_is_empty() {
                    self.wal.rotate()?;
                }
                self.wal.current_segment()
            }
        };
        db.flush()?;
        self.wal.truncate_before(keep_from)
    }

    pub(crate) fn stats(&self) -> StorageStats {
        StorageStats {
            series: self.series_count,
            active_series: self.series.len() as u64,
            samples: self.totals.samples + self.head_samples,
            sealed_samples: self.totals.samples,
            sealed_chunks: self.totals.chunks,
            oldest: self.oldest,
            newest: self.newest,
            rejected_samples: self.rejected,
            disk_bytes: 0,
        }
    }
}
