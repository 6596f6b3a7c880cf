//! The storage engine: a series index and compressed chunks in sled, open
//! chunks in memory, and a write-ahead log that makes every acknowledged sample
//! survive a crash.
//!
//! Writes go `validate -> WAL (fsync) -> head`; a series' open chunk is sealed
//! (compressed into sled) when it fills, crosses a chunk window or goes idle,
//! after which the WAL segments holding its samples can be deleted. Reads merge
//! sealed chunks with the open one. See docs/storage-format.md for the bytes.

mod aggregate;
pub(crate) mod chunk;
mod compaction;
mod head;
mod index;
pub mod labels;
mod sealed;
mod wal;

pub use aggregate::{Bucket, Resolution, counter_delta};
pub use head::{AppendReport, RejectReason};
pub use labels::{Labels, METRIC_NAME, MatchOp, Matcher};

use aggregate::AggregateStore;
use app::model::{CompactionRun, MetricType, ResolutionStats};
use head::{Entry, Head, SeriesKey};
use index::Index;
pub(crate) use sealed::read_ahead;
use sealed::{Cores, SealedChunks};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Where WAL durability stands; see `Storage::make_durable`.
#[derive(Default)]
struct WalDurability {
    durable: wal::WalMark,
    /// An fsync failed: from then on no append is acknowledged.
    broken: bool,
}

/// Threads for work spread over the cores (a query's series reads, a burst
/// of chunk encoding): as many as there are cores, up to 8.
pub(crate) fn worker_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(8)))
}

/// Starts rayon's pool, which reads a query's series: `worker_threads`
/// threads named `tinyobs-read-<i>`, each pinned to a CPU of its own when
/// the process has as many CPUs as threads. Call once, before any query; a
/// process that does not (the tests) gets rayon's default pool. Returns
/// whether the threads are pinned.
///
/// Why pin: a query comes after an idle spell, and wakes the pool's sleeping
/// threads. Linux wakes a thread on the CPU of the thread that wakes it
/// where it can, so on two cores the second reader often queued behind the
/// first and joined the query late. Over HTTP, 20 ms after the request
/// before, the rate by status took 16 ms unpinned and 8.4 pinned, the rate
/// by mode 21 and 11.4; back to back, the rate by status took 8.0 and 7.4
/// (ninth session). A pinned thread kept off its CPU by another process
/// only delays its share: the other takes whatever series are left.
pub fn start_reading_threads() -> bool {
    use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};
    let threads = worker_threads();
    let cpus: Vec<usize> = sched_getaffinity(None)
        .map(|set| (0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect())
        .unwrap_or_default();
    let pin = cpus.len() == threads;
    let built = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("tinyobs-read-{i}"))
        .start_handler(move |i| {
            if pin {
                let mut one = CpuSet::new();
                one.set(cpus[i]);
                // Best effort: unpinned, it still works.
                let _ = sched_setaffinity(None, &one);
            }
        })
        .build_global();
    if let Err(e) = &built {
        tracing::warn!("query threads already started: {e}");
    }
    built.is_ok() && pin
}

/// A series' id: dense, assigned in creation order, never reused.
pub type SeriesId = u64;

/// One sample: milliseconds since the epoch and a value. Values are kept
/// bit-exact, NaN payloads (the Prometheus stale marker) included.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub t: i64,
    pub v: f64,
}

/// The bit pattern Prometheus writes when a series disappears.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("chunk: {0}")]
    Chunk(String),
    #[error("corrupt storage: {0}")]
    Corrupt(&'static str),
    /// A request would create series beyond a cardinality limit; nothing of
    /// it was stored.
    #[error("{0}")]
    Limit(CardinalityLimit),
}

/// Which cardinality limit a request hit, and through which metric.
#[derive(Clone, Debug, PartialEq)]
pub struct CardinalityLimit {
    /// The flag that sets it, e.g. `limits.max-series-per-metric`.
    pub flag: &'static str,
    pub limit: u64,
    pub metric: String,
}

impl std::fmt::Display for CardinalityLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cardinality limit --{}={} reached by metric {:?}; nothing from this request was stored",
            self.flag, self.limit, self.metric
        )
    }
}

/// The time compaction and retention go by. Injectable, so that a test can
/// drive months of data through them in minutes.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the epoch.
    fn now_ms(&self) -> i64;
}

/// The wall clock.
#[derive(Debug)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A clock that moves only when told: for tests and simulations.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now_ms: i64) -> Self {
        ManualClock(AtomicI64::new(now_ms))
    }

    pub fn set(&self, now_ms: i64) {
        self.0.store(now_ms, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl From<chunk::ChunkError> for StorageError {
    fn from(e: chunk::ChunkError) -> Self {
        StorageError::Chunk(e.to_string())
    }
}

/// Everything the engine needs to know, decided once in `main`.
#[derive(Clone, Debug)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    /// sled's page cache; with the open chunks, the bulk of the memory used.
    pub cache_bytes: u64,
    /// fsync the WAL before acknowledging a write. Off only in tests.
    pub sync_wal: bool,
    /// A chunk is sealed once it holds this many samples...
    pub chunk_max_samples: usize,
    /// ...or when a sample falls into the next aligned window of this length,
    /// so that chunks of all series line up in time.
    pub chunk_window_ms: i64,
    /// A series without writes for this long has its chunk sealed and leaves
    /// memory, so memory follows active series, not all series ever seen.
    pub idle_after: Duration,
    /// Hard cap on the number of series; a request creating more is refused.
    pub max_series: u64,
    /// Hard cap on the series of one metric name.
    pub max_series_per_metric: u64,
    /// How long each resolution is kept, in ms.
    pub retention_raw_ms: i64,
    pub retention_5m_ms: i64,
    pub retention_1h_ms: i64,
    /// Optional cap on bytes on disk; compaction drops the oldest data to meet it.
    pub max_bytes: Option<u64>,
    /// What compaction and retention take as now.
    pub clock: Arc<dyn Clock>,
}

impl StorageConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        StorageConfig {
            data_dir: data_dir.into(),
            cache_bytes: 64 << 20,
            sync_wal: true,
            chunk_max_samples: chunk::MAX_CHUNK_SAMPLES,
            chunk_window_ms: 2 * 3600 * 1000,
            idle_after: Duration::from_secs(15 * 60),
            max_series: 1_000_000,
            max_series_per_metric: 100_000,
            retention_raw_ms: 14 * DAY_MS,
            retention_5m_ms: 90 * DAY_MS,
            retention_1h_ms: 365 * DAY_MS,
            max_bytes: None,
            clock: Arc::new(SystemClock),
        }
    }

    pub fn retention_ms(&self, resolution: Resolution) -> i64 {
        match resolution {
            Resolution::Raw => self.retention_raw_ms,
            Resolution::FiveMinutes => self.retention_5m_ms,
            Resolution::OneHour => self.retention_1h_ms,
        }
    }
}

pub const DAY_MS: i64 = 24 * 3_600_000;

/// Figures for `/v1/stats`, read from counters.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StorageStats {
    pub series: u64,
    pub active_series: u64,
    pub samples: u64,
    /// Of `samples`, those in sealed chunks (on disk, not in the head).
    pub sealed_samples: u64,
    pub sealed_chunks: u64,
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
    pub rejected_samples: u64,
    pub disk_bytes: u64,
}

/// Pushed samples of one series, in the order sent. Grouping them lets the
/// engine resolve the series once per request rather than once per sample.
#[derive(Clone, Debug)]
pub struct Append {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// One series' samples for `Storage::append_keyed`, the series named by
/// how a client's wire format spells its labels (`None`: it has no single
/// spelling, and its labels are decoded every time).
pub struct KeyedAppend<'a> {
    pub key: Option<&'a [u8]>,
    pub samples: &'a [Sample],
}

impl Append {
    pub fn one(labels: Labels, sample: Sample) -> Self {
        Append {
            labels,
            samples: vec![sample],
        }
    }
}

pub struct Storage {
    /// Writes sealed chunks in the background (see `Sealer`). First, so that
    /// it is dropped first: its thread finishes before the rest closes.
    sealer: Sealer,
    db: sled::Db,
    index: Index,
    sealed: Arc<SealedChunks>,
    head: Arc<Mutex<Head>>,
    /// How far the WAL is known durable. Held while an fsync runs, so that
    /// appends arriving meanwhile wait and then find themselves covered by
    /// it, or run one fsync for all of them (group commit).
    wal_durable: Mutex<WalDurability>,
    config: StorageConfig,
    /// Samples accepted since the store was opened: a cheap "anything new?"
    /// for live dashboards, read without the head lock.
    accepted: AtomicU64,
    five_minutes: AggregateStore,
    one_hour: AggregateStore,
    /// Raw samples before this are deleted and refused (`i64::MIN`: none).
    horizon: AtomicI64,
    /// Held by a compaction pass: passes never overlap.
    compacting: Mutex<()>,
    last_run: Mutex<Option<CompactionRun>>,
}

impl Storage {
    /// Opens (or creates) the store in `config.data_dir` and replays the WAL.
    pub fn open(config: StorageConfig) -> Result<Self, StorageError> {
        std::fs::create_dir_all(&config.data_dir)?;
        let db = open_sled(&config)?;
        let index = Index::open(&db)?;
        let sealed =
            SealedChunks::open(&db, &config.data_dir.join("chunks"), config.chunk_window_ms)?;
        let head = Head::recover(&config, &index, &sealed, compaction::read_horizon(&db)?)?;
        let (head, sealed) = (Arc::new(Mutex::new(head)), Arc::new(sealed));
        let sealer = Sealer::start(Arc::clone(&head), Arc::clone(&sealed))?;
        let storage = Storage {
            five_minutes: AggregateStore::open(&db, Resolution::FiveMinutes)?,
            one_hour: AggregateStore::open(&db, Resolution::OneHour)?,
            db,
            index,
            sealed,
            head,
            sealer,
            wal_durable: Mutex::new(WalDurability::default()),
            config,
            accepted: AtomicU64::new(0),
            horizon: AtomicI64::new(i64::MIN),
            compacting: Mutex::new(()),
            last_run: Mutex::new(None),
        };
        storage.load_compaction_state()?;
        Ok(storage)
    }

    pub fn config(&self) -> &StorageConfig {
        &self.config
    }

    /// Stores a batch. Returns once every accepted sample is in the fsynced
    /// WAL; out-of-order and conflicting samples are reported, not stored, by
    /// their position among all the batch's samples in order.
    pub fn append(&self, batch: &[Append]) -> Result<AppendReport, StorageError> {
        let entries: Vec<Entry> = batch
            .iter()
            .map(|a| Entry {
                series: SeriesKey::Labels(&a.labels),
                samples: &a.samples,
            })
            .collect();
        let mut head = self.lock();
        let (report, wal_mark) =
            head.append(&entries, &self.index, &self.sealed, self.horizon())?;
        self.after_append(head, report, wal_mark)
    }

    /// `append` for series named by `key`: their labels as the client's wire
    /// format spells them (remote_write's label fields, undecoded). A key
    /// that named an active series before stands for it, unparsed; only the
    /// others are turned into labels, by `labels_of(index in batch)`, which
    /// validates them. Its error refuses the whole batch, before anything is
    /// stored. Under remote_write every request names every series again,
    /// and parsing, validating and looking up their labels was a third of
    /// the server's CPU.
    pub fn append_keyed<E: From<StorageError>>(
        &self,
        batch: &[KeyedAppend],
        labels_of: impl Fn(usize) -> Result<Labels, E>,
    ) -> Result<AppendReport, E> {
        let mut head = self.lock();
        // Resolved under the head lock, so that a key found is still active
        // when appended to; in a steady stream, keys are rarely new.
        enum Named {
            Known(SeriesId),
            Decoded(Labels),
        }
        let mut named = Vec::with_capacity(batch.len());
        for (i, item) in batch.iter().enumerate() {
            named.push(match item.key.and_then(|key| head.by_key(key)) {
                Some(id) => Named::Known(id),
                // An empty entry is skipped whatever it names.
                None if item.samples.is_empty() => Named::Known(SeriesId::default()),
                None => Named::Decoded(labels_of(i)?),
            });
        }
        let entries: Vec<Entry> = batch
            .iter()
            .zip(&named)
            .map(|(item, named)| Entry {
                series: match named {
                    Named::Known(id) => SeriesKey::Active(*id),
                    Named::Decoded(labels) => SeriesKey::Labels(labels),
                },
                samples: item.samples,
            })
            .collect();
        let (report, wal_mark) =
            head.append(&entries, &self.index, &self.sealed, self.horizon())?;
        for (item, named) in batch.iter().zip(&named) {
            if let (Some(key), Named::Decoded(labels)) = (item.key, named) {
                head.remember_key(key, labels);
            }
        }
        self.after_append(head, report, wal_mark).map_err(E::from)
    }

    /// Makes an append durable and hands its sealed chunks to the sealer.
    fn after_append(
        &self,
        head: MutexGuard<'_, Head>,
        report: AppendReport,
        wal_mark: Option<wal::WalMark>,
    ) -> Result<AppendReport, StorageError> {
        let (sealed_some, behind) = (head.has_pending(), head.sealing_behind());
        drop(head);
        if let Some(mark) = wal_mark {
            self.make_durable(mark)?;
        }
        self.accepted.fetch_add(report.accepted, Ordering::Relaxed);
        // Chunks this append sealed are written by the sealer, unless it is
        // so far behind that they would pile up: then by this append.
        if behind {
            self.sealer.write_now()?;
        } else if sealed_some {
            self.sealer.wake();
        }
        Ok(report)
    }

    /// Returns once the WAL is durable up to `mark`. The fsync runs without
    /// the head lock, so other appends go on meanwhile, and whatever they
    /// wrote before it started is made durable by it too.
    fn make_durable(&self, mark: wal::WalMark) -> Result<(), StorageError> {
        let mut state = lock(&self.wal_durable);
        if state.broken {
            return Err(StorageError::Io(std::io::Error::other(
                "an earlier fsync of the WAL failed; restart TinyObs to recover from the WAL",
            )));
        }
        if state.durable >= mark {
            return Ok(());
        }
        // The head lock only for this statement: the fsync runs without it.
        let target = self.lock().wal_sync_target();
        let synced = target.and_then(|(file, written)| {
            file.sync_data()?;
            Ok(written)
        });
        match synced {
            Ok(written) => {
                state.durable = written;
                Ok(())
            }
            Err(e) => {
                // The kernel may have dropped the pages it could not write and
                // report success to the next fsync: nothing written before
                // this one can be acknowledged any more.
                state.broken = true;
                Err(e)
            }
        }
    }

    /// Samples accepted since this store was opened.
    pub fn accepted_since_open(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// A saved document (a dashboard), by id.
    pub fn document(&self, id: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.documents()?.get(id)?.map(|v| v.to_vec()))
    }

    /// Every saved document as (id, bytes), in id order.
    pub fn documents_list(&self) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        self.documents()?
            .iter()
            .map(|entry| {
                let (k, v) = entry?;
                Ok((String::from_utf8_lossy(&k).into_owned(), v.to_vec()))
            })
            .collect()
    }

    /// Saves a document, flushed before this returns: saving is rare and a
    /// user expects a saved dashboard to survive a crash.
    pub fn put_document(&self, id: &str, bytes: &[u8]) -> Result<(), StorageError> {
        self.documents()?.insert(id, bytes)?;
        self.db.flush()?;
        Ok(())
    }

    /// Deletes a document; true if it existed.
    pub fn delete_document(&self, id: &str) -> Result<bool, StorageError> {
        let existed = self.documents()?.remove(id)?.is_some();
        self.db.flush()?;
        Ok(existed)
    }

    fn documents(&self) -> Result<sled::Tree, StorageError> {
        Ok(self.db.open_tree("documents")?)
    }

    /// Records a metric's type, for the dashboard.
    pub fn set_metric_type(&self, name: &str, kind: MetricType) -> Result<(), StorageError> {
        self.index.set_metric_type(name, kind)
    }

    pub fn metric_type(&self, name: &str) -> Result<Option<MetricType>, StorageError> {
        self.index.metric_type(name)
    }

    /// Series matching all matchers, by id. Reads only the index.
    pub fn select_series(
        &self,
        matchers: &[Matcher],
    ) -> Result<Vec<(SeriesId, Labels)>, StorageError> {
        self.index.select(matchers)
    }

    pub fn label_names(&self) -> Result<Vec<String>, StorageError> {
        self.index.label_names()
    }

    pub fn label_values(&self, name: &str) -> Result<Vec<String>, StorageError> {
        self.index.label_values(name)
    }

    /// Number of series carrying `name=value`, from the postings.
    pub fn count_postings(&self, name: &str, value: &str) -> Result<usize, StorageError> {
        Ok(self.index.postings(name, value)?.len())
    }

    /// Calls `visit` on each sample of series `id` in `[mint, maxt]` in time
    /// order, sealed chunks first, then the head; stops when it returns false.
    pub fn for_each_sample(
        &self,
        id: SeriesId,
        mint: i64,
        maxt: i64,
        mut visit: impl FnMut(Sample) -> bool,
    ) -> Result<(), StorageError> {
        self.for_each_run(id, mint, maxt, |run| run.iter().all(|&s| visit(s)))
    }

    /// Appends the samples of series `id` in `[mint, maxt]` to `out` as
    /// `(t, v)`, each chunk decoded straight into it: what a query reads.
    pub fn extend_samples(
        &self,
        id: SeriesId,
        mint: i64,
        maxt: i64,
        out: &mut Vec<(i64, f64)>,
    ) -> Result<(), StorageError> {
        let open = self.read_sealed(id, mint, maxt, out, |_| true)?;
        out.extend(open.iter().map(|s| (s.t, s.v)));
        Ok(())
    }

    /// Calls `visit` on runs of consecutive samples of series `id` in
    /// `[mint, maxt]`: each sealed chunk's, then the head's; stops when it
    /// returns false.
    fn for_each_run(
        &self,
        id: SeriesId,
        mint: i64,
        maxt: i64,
        mut visit: impl FnMut(&[Sample]) -> bool,
    ) -> Result<(), StorageError> {
        // One decode buffer per thread, taken out while in use (so that a
        // nested read gets its own) and put back for the next read.
        thread_local! {
            static DECODED: std::cell::Cell<Vec<Sample>> = const { std::cell::Cell::new(Vec::new()) };
        }
        let mut decoded = DECODED.take();
        decoded.clear();
        let mut more = true;
        let open = self.read_sealed(id, mint, maxt, &mut decoded, |run| {
            more = visit(run);
            run.clear();
            more
        });
        DECODED.set(decoded);
        let open = open?;
        if more && !open.is_empty() {
            visit(&open);
        }
        Ok(())
    }

    /// Decodes the sealed chunks of series `id` that overlap `[mint, maxt]`
    /// onto the end of `out`, oldest first, keeping the samples in the
    /// range; after each chunk, `each` sees (and may take) what `out` holds
    /// and says whether to go on. Returns the head's samples in the range
    /// that are newer than the sealed ones.
    fn read_sealed<S: chunk::Slot>(
        &self,
        id: SeriesId,
        mint: i64,
        maxt: i64,
        out: &mut Vec<S>,
        mut each: impl FnMut(&mut Vec<S>) -> bool,
    ) -> Result<Vec<Sample>, StorageError> {
        // Snapshot the open chunk first: if it is sealed meanwhile, its samples
        // show up in sled and the `t > last` filter below drops the copies.
        let mut open = self.lock().open_samples(id, mint, maxt);
        let mut last = None;
        // One chunk buffer per thread, taken out while in use (so that a
        // nested read gets its own) and put back for the next read.
        thread_local! {
            static BYTES: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
        }
        let mut bytes = BYTES.take();
        let result = (|| {
            for chunk_ref in self.sealed.refs(id, mint, maxt) {
                if !self.sealed.read_into(&chunk_ref?, &mut bytes)? {
                    continue;
                }
                let base = out.len();
                chunk::decode_append(&bytes, out)?;
                let from = out[base..].partition_point(|s| s.t() < mint);
                let to = out[base..].partition_point(|s| s.t() <= maxt);
                out.truncate(base + to.max(from));
                out.drain(base..base + from);
                if out.len() > base {
                    last = Some(out[out.len() - 1].t());
                    if !each(out) {
                        return Ok(false);
                    }
                }
            }
            Ok::<_, StorageError>(true)
        })();
        BYTES.set(bytes);
        if !result? {
            return Ok(Vec::new());
        }
        let newer = last.map_or(0, |last| open.partition_point(|s| s.t <= last));
        open.drain(..newer);
        Ok(open)
    }

    /// All samples of series `id` in `[mint, maxt]`.
    pub fn samples(&self, id: SeriesId, mint: i64, maxt: i64) -> Result<Vec<Sample>, StorageError> {
        let mut out = Vec::new();
        self.for_each_sample(id, mint, maxt, |s| {
            out.push(s);
            true
        })?;
        Ok(out)
    }

    pub fn stats(&self) -> StorageStats {
        let mut stats = self.lock().stats();
        stats.disk_bytes = self.disk_bytes();
        stats
    }

    /// Per resolution: series, chunks or blocks, samples or buckets, bytes.
    pub fn resolution_stats(&self) -> Result<Vec<ResolutionStats>, StorageError> {
        let raw = self.stats();
        let raw_bytes: u64 = self.sealed.windows()?.iter().map(|(_, b)| b).sum();
        let mut out = vec![ResolutionStats {
            resolution: Resolution::Raw.name().into(),
            series: raw.series,
            chunks: raw.sealed_chunks,
            samples: raw.samples,
            bytes_on_disk: raw_bytes,
            bytes_per_sample: per_sample(raw_bytes, raw.sealed_samples),
            retention_ms: self.config.retention_raw_ms,
        }];
        for resolution in [Resolution::FiveMinutes, Resolution::OneHour] {
            let totals = self.aggregates(resolution).totals()?;
            out.push(ResolutionStats {
                resolution: resolution.name().into(),
                series: totals.series,
                chunks: totals.blocks,
                samples: totals.buckets,
                bytes_on_disk: totals.bytes,
                bytes_per_sample: per_sample(totals.bytes, totals.buckets),
                retention_ms: self.config.retention_ms(resolution),
            });
        }
        Ok(out)
    }

    /// The aggregate buckets of series `id` at `resolution` (5m or 1h) with
    /// `mint <= t <= maxt`, oldest first.
    pub fn buckets(
        &self,
        resolution: Resolution,
        id: SeriesId,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Bucket>, StorageError> {
        self.aggregates(resolution).buckets(id, mint, maxt)
    }

    /// Where each resolution of series `id` can answer, as `[from, until)`
    /// (empty when `from >= until`): raw from the horizon on; an aggregate
    /// from its first sample to its watermark (the end of its last block).
    pub fn coverage(&self, id: SeriesId) -> Result<[(Resolution, i64, i64); 3], StorageError> {
        let horizon = self.horizon();
        let mut out = [(Resolution::Raw, horizon, i64::MAX); 3];
        for (slot, resolution) in [Resolution::FiveMinutes, Resolution::OneHour]
            .into_iter()
            .enumerate()
        {
            let store = self.aggregates(resolution);
            let range = match (store.first_bucket(id)?, store.watermark(id)?) {
                (Some(first), Some(until)) => (first.first_t, until),
                _ => (0, 0),
            };
            out[slot + 1] = (resolution, range.0, range.1);
        }
        Ok(out)
    }

    /// Per label name: series carrying it and distinct values, most series first.
    pub fn label_cardinality(&self, limit: usize) -> Result<Vec<(String, u64, u64)>, StorageError> {
        let mut all = self.index.label_cardinality()?;
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.truncate(limit);
        Ok(all)
    }

    /// Metric names by number of series, most first.
    pub fn top_metrics(&self, limit: usize) -> Vec<(String, u64)> {
        self.lock().top_metrics(limit)
    }

    /// Bytes the store takes on disk (sled files and WAL segments).
    pub fn disk_bytes(&self) -> u64 {
        dir_size(&self.config.data_dir)
    }

    /// Seals idle series, drops them from memory and deletes WAL segments that
    /// hold only sealed samples. Called periodically by the server.
    pub fn maintain(&self, now: Instant) -> Result<(), StorageError> {
        let _sealing = self.sealer.exclusive();
        let mut head = self.lock();
        head.seal_idle(now, self.config.idle_after, &self.sealed)?;
        head.truncate_wal(&self.db)
    }

    /// Seals every open chunk, flushes sled and empties the WAL: the state a
    /// clean shutdown leaves, and what "bytes on disk after a flush" measures.
    pub fn flush(&self) -> Result<(), StorageError> {
        let _sealing = self.sealer.exclusive();
        let mut head = self.lock();
        head.seal_all(&self.sealed)?;
        head.truncate_wal(&self.db)?;
        self.db.flush()?;
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Head> {
        lock(&self.head)
    }
}

/// Takes a lock even if a panic poisoned it: the panic is a bug already
/// reported, and the data behind the lock is kept consistent between calls.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Encodes and writes sealed chunks off the append path. At a chunk
/// window's edge every active series seals at once, and encoding them is
/// the costliest step of ingest; their samples are already durable in the
/// WAL and stay readable in the head, so appends need not wait for it. A
/// thread of its own does it, woken by the appends that seal chunks.
struct Sealer {
    head: Arc<Mutex<Head>>,
    sealed: Arc<SealedChunks>,
    /// Held while a batch is taken, encoded and written, so that one batch
    /// is in flight at a time, and by the head's own seals (flush,
    /// maintenance), which must not take the batch in flight. Taken before
    /// the head lock, never while holding it.
    sealing: Arc<Mutex<()>>,
    wake: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sealer {
    fn start(head: Arc<Mutex<Head>>, sealed: Arc<SealedChunks>) -> Result<Self, StorageError> {
        let sealing = Arc::new(Mutex::new(()));
        // One wake-up waiting is enough: the thread writes all there is.
        let (wake, woken) = std::sync::mpsc::sync_channel(1);
        let (h, s, l) = (Arc::clone(&head), Arc::clone(&sealed), Arc::clone(&sealing));
        let thread = std::thread::Builder::new()
            .name("tinyobs-sealer".into())
            .spawn(move || {
                while woken.recv().is_ok() {
                    let _sealing = lock(&l);
                    // On this thread alone: the other cores keep serving
                    // appends and queries meanwhile.
                    if let Err(e) = write_sealed(&h, &s, Cores::One) {
                        // The chunks stay in the head and are tried again at
                        // the next wake-up, maintenance or flush.
                        tracing::error!("writing sealed chunks failed: {e}");
                    }
                }
            })?;
        Ok(Sealer {
            head,
            sealed,
            sealing,
            wake: Some(wake),
            thread: Some(thread),
        })
    }

    fn wake(&self) {
        if let Some(wake) = &self.wake {
            // Full: a wake-up is already waiting.
            let _ = wake.try_send(());
        }
    }

    /// Writes what is sealed now, on the calling thread (and every core):
    /// the caller waits for it.
    fn write_now(&self) -> Result<(), StorageError> {
        let _sealing = lock(&self.sealing);
        write_sealed(&self.head, &self.sealed, Cores::All)
    }

    /// Keeps the sealer out until dropped, after its batch in flight.
    fn exclusive(&self) -> MutexGuard<'_, ()> {
        lock(&self.sealing)
    }

    /// Lets the thread finish its batch and stop; later seals are written
    /// by the appends that fall a generation behind, maintenance and flush.
    fn stop(&mut self) {
        self.wake.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Sealer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes the head's sealed chunks batch by batch, encoding each without
/// the head lock. The caller holds the sealing lock.
fn write_sealed(
    head: &Mutex<Head>,
    sealed: &SealedChunks,
    cores: Cores,
) -> Result<(), StorageError> {
    loop {
        let Some(batch) = lock(head).start_sealing() else {
            return Ok(());
        };
        let encoded = sealed::encode_all(batch.chunks(), cores)?;
        lock(head).finish_sealing(batch, encoded, sealed)?;
    }
}

/// Opens sled, waiting briefly if a previous `Storage` of this process is
/// still releasing the directory lock (sled's flusher thread lets go of it a
/// moment after the handle is dropped).
fn open_sled(config: &StorageConfig) -> Result<sled::Db, StorageError> {
    let sled_config = sled::Config::new()
        .path(config.data_dir.join("sled"))
        .cache_capacity(config.cache_bytes)
        .flush_every_ms(Some(1000))
        .use_compression(true);
    let mut attempts = 0;
    loop {
        match sled_config.open() {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock") && attempts < 100 =>
            {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return Ok(other?),
        }
    }
}

fn per_sample(bytes: u64, samples: u64) -> f64 {
    if samples == 0 {
        0.0
    } else {
        bytes as f64 / samples as f64
    }
}

/// The bytes `samples` take as one sealed chunk in a chunk file, or `None`
/// where one chunk cannot hold them (none, over 1,024, timestamps not
/// increasing). For benchmarks that weigh the codec against a bound.
pub fn sealed_chunk_len(samples: &[Sample]) -> Option<usize> {
    chunk::encode(samples).ok().map(|c| c.len())
}

/// Bytes of the files under `path`, recursively (0 if it cannot be read).
pub fn dir_size(path: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn config(dir: &std::path::Path) -> StorageConfig {
        let mut c = StorageConfig::new(dir);
        c.sync_wal = false;
        c.chunk_max_samples = 5;
        c.chunk_window_ms = 100;
        c.cache_bytes = 1 << 20;
        c
    }

    fn series_labels(n: u8) -> Labels {
        let job = if n.is_multiple_of(2) { "api" } else { "web" };
        Labels::new([
            (METRIC_NAME, format!("m{}", n % 3)),
            ("job", job.to_string()),
            ("n", n.to_string()),
        ])
    }

    #[derive(Clone, Debug)]
    enum Op {
        /// Samples of series `n`; `keyed`: through `append_keyed`, each
        /// series spelled one of two ways.
        Append {
            items: Vec<(u8, i64, u64)>,
            keyed: bool,
        },
        Reopen {
            flush: bool,
        },
        Maintain,
        Query {
            name: u8,
            job: Option<bool>,
            mint: i64,
            maxt: i64,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        let value_bits = prop_oneof![
            (0u32..50).prop_map(|v| f64::from(v).to_bits()),
            Just(STALE_NAN_BITS),
            Just(f64::NAN.to_bits()),
            Just(f64::INFINITY.to_bits()),
            any::<u64>(),
        ];
        prop_oneof![
            6 => (prop::collection::vec((0u8..6, -50i64..400, value_bits), 1..20), any::<bool>())
                .prop_map(|(items, keyed)| Op::Append { items, keyed }),
            1 => any::<bool>().prop_map(|flush| Op::Reopen { flush }),
            1 => Just(Op::Maintain),
            3 => (0u8..3, prop::option::of(any::<bool>()), -100i64..400, 0i64..500)
                .prop_map(|(name, job, mint, len)| Op::Query { name, job, mint, maxt: mint + len }),
        ]
    }

    /// The reference: per series, the accepted samples in order.
    #[derive(Default)]
    struct Model(BTreeMap<u8, Vec<Sample>>);

    impl Model {
        fn append(&mut self, n: u8, s: Sample) -> &'static str {
            let series = self.0.entry(n).or_default();
            let identical = series
                .iter()
                .any(|x| x.t == s.t && x.v.to_bits() == s.v.to_bits());
            match series.last() {
                Some(l) if s.t < l.t && identical => "duplicate",
                Some(l) if s.t < l.t => "rejected",
                Some(l) if s.t == l.t && s.v.to_bits() == l.v.to_bits() => "duplicate",
                Some(l) if s.t == l.t => "rejected",
                _ => {
                    series.push(s);
                    "accepted"
                }
            }
        }
    }

    fn bits(samples: &[Sample]) -> Vec<(i64, u64)> {
        samples.iter().map(|s| (s.t, s.v.to_bits())).collect()
    }

    #[test]
    fn a_sample_repeated_within_one_request_is_a_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        let store = Storage::open(config(dir.path())).unwrap();
        let at = |t| Sample { t, v: 1.0 };
        let mut append = Append::one(series_labels(0), at(1));
        append.samples.extend([at(2), at(1)]);
        // An empty series is no series: nothing to store, nothing created.
        let empty = Append {
            labels: series_labels(1),
            samples: Vec::new(),
        };
        let report = store.append(&[append, empty]).unwrap();
        assert_eq!((report.accepted, report.duplicates), (2, 1));
        assert!(report.rejected.is_empty());
        assert_eq!(store.stats().series, 1);
    }

    /// A store in `dir` whose chunks hold at most `max` samples.
    fn store_with_chunks_of(dir: &std::path::Path, max: usize) -> Storage {
        let mut c = config(dir);
        c.chunk_max_samples = max;
        c.sync_wal = true;
        Storage::open(c).unwrap()
    }

    /// Appends one sample at `t` (value `t`) to series 0.
    fn append_at(store: &Storage, t: i64) -> AppendReport {
        append_to(store, 0, t)
    }

    /// Appends one sample at `t` (value `t`) to series `n`.
    fn append_to(store: &Storage, n: u8, t: i64) -> AppendReport {
        let sample = Sample { t, v: t as f64 };
        store
            .append(&[Append::one(series_labels(n), sample)])
            .unwrap()
    }

    /// Every series' id, in id order.
    fn all_ids(store: &Storage) -> Vec<SeriesId> {
        let selected = store.select_series(&[]).unwrap();
        selected.iter().map(|s| s.0).collect()
    }

    /// The times of every sample of `id`.
    fn times_of(store: &Storage, id: SeriesId) -> Vec<i64> {
        let samples = store.samples(id, i64::MIN, i64::MAX).unwrap();
        samples.iter().map(|s| s.t).collect()
    }

    #[test]
    fn chunks_seal_by_window_at_the_ends_of_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_chunks_of(dir.path(), 1000);
        // Two windows of 100 ms at the very start of time, one at its end.
        let times = [
            i64::MIN,
            i64::MIN + 99,
            i64::MIN + 100,
            i64::MAX - 1,
            i64::MAX,
        ];
        for &t in &times {
            assert_eq!(append_at(&store, t).accepted, 1);
        }
        // Acknowledged once more, as a duplicate, after its fsync.
        assert_eq!(append_at(&store, i64::MAX).duplicates, 1);
        let id = store.select_series(&[]).unwrap()[0].0;
        store.sealer.write_now().unwrap();
        let chunks = store.sealed.chunks(id, i64::MIN, i64::MAX).count();
        assert_eq!(
            chunks, 2,
            "the first two windows are sealed, the last is open"
        );
        assert_eq!(times_of(&store, id), times);
    }

    /// A key seen before stands for its series without decoding labels; a
    /// batch whose new labels do not decode stores nothing.
    #[test]
    fn keyed_appends_decode_only_labels_they_do_not_know() {
        let dir = tempfile::tempdir().unwrap();
        let store = Storage::open(config(dir.path())).unwrap();
        let decoded = std::cell::Cell::new(0);
        let labels_of = |i: usize| {
            decoded.set(decoded.get() + 1);
            match i {
                0 => Ok(series_labels(1)),
                _ => Err(StorageError::Corrupt("undecodable test labels")),
            }
        };
        let at: Vec<[Sample; 1]> = (0..5).map(|t| [Sample { t, v: 1.0 }]).collect();
        let one = |key: &'static [u8], t: usize| KeyedAppend {
            key: Some(key),
            samples: &at[t],
        };
        let report = store.append_keyed(&[one(b"a", 1)], labels_of).unwrap();
        assert_eq!((report.accepted, decoded.get()), (1, 1));
        let report = store.append_keyed(&[one(b"a", 2)], labels_of).unwrap();
        assert_eq!((report.accepted, decoded.get()), (1, 1));

        // Series 1 is bad: the batch is refused, series 0's sample too.
        let refused = store.append_keyed(&[one(b"a", 3), one(b"b", 3)], labels_of);
        assert!(matches!(refused, Err(StorageError::Corrupt(_))));
        assert_eq!(store.stats().samples, 2);

        // Once idle and out of the head, a key is decoded again.
        store
            .maintain(Instant::now() + Duration::from_secs(3600))
            .unwrap();
        let report = store.append_keyed(&[one(b"a", 4)], labels_of).unwrap();
        assert_eq!((report.accepted, decoded.get()), (1, 3));
        let id = store.select_series(&[Matcher::equal("n", "1")]).unwrap()[0].0;
        assert_eq!(times_of(&store, id), [1, 2, 4]);
    }

    #[test]
    fn sealed_chunks_are_read_from_the_head_until_the_sealer_writes_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_chunks_of(dir.path(), 4);
        // One chunk sealed, two samples open: a second sealed chunk of the
        // one series would put the sealer a generation behind, and the
        // append would wait to write it itself.
        let times: Vec<i64> = (0..6).collect();
        let id = {
            // The sealer cannot take a batch while this is held.
            let _sealing = store.sealer.exclusive();
            for &t in &times {
                assert_eq!(append_at(&store, t).accepted, 1);
                // Another series' chunks wait beside series 0's.
                assert_eq!(append_to(&store, 1, t + 1000).accepted, 1);
            }
            let ids = all_ids(&store);
            let id = ids[0];
            assert_eq!(
                store.sealed.chunks(id, 0, 100).count(),
                0,
                "none written yet"
            );
            assert_eq!(times_of(&store, id), times);
            let other: Vec<i64> = times.iter().map(|t| t + 1000).collect();
            assert_eq!(times_of(&store, ids[1]), other);
            // A retry of a sealed sample is still found, as a duplicate.
            assert_eq!(append_at(&store, 1).duplicates, 1);
            assert_eq!(append_at(&store, 2).duplicates, 1);
            id
        };
        store.sealer.write_now().unwrap();
        assert_eq!(store.sealed.chunks(id, 0, 100).count(), 1);
        assert_eq!(times_of(&store, id), times);
        assert_eq!(
            store.stats().sealed_samples,
            8,
            "a chunk of 4 for each series"
        );
        drop(store);
        // Whatever was only in the head came back from the WAL.
        let store = Storage::open(config(dir.path())).unwrap();
        assert_eq!(times_of(&store, id), times);
    }

    /// Chunk writes that fail after their bytes reached the chunk file and
    /// before sled refers to them: appends keep their samples (an append
    /// that had to write may report the failure, its samples durable all
    /// the same), reads find every sample in the head, a later write
    /// succeeds, and a restart finds everything.
    #[test]
    fn failed_chunk_writes_lose_nothing_and_are_retried() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_chunks_of(dir.path(), 4);
        store
            .sealed
            .fail_writes
            .store(usize::MAX, Ordering::Relaxed);
        let times: Vec<i64> = (0..30).collect();
        for &t in &times {
            for n in 0..3 {
                let sample = Sample { t, v: t as f64 };
                match store.append(&[Append::one(series_labels(n), sample)]) {
                    Ok(report) => assert_eq!(report.accepted, 1),
                    Err(e) => assert!(e.to_string().contains("injected"), "{e}"),
                }
            }
        }
        let ids = all_ids(&store);
        assert_eq!(ids.len(), 3);
        let check = |store: &Storage| {
            for &id in &ids {
                assert_eq!(times_of(store, id), times);
                assert_eq!(
                    store.sealed.chunks(id, 0, 100).count(),
                    0,
                    "nothing referenced yet"
                );
            }
        };
        check(&store);
        assert!(store.flush().is_err(), "the flush cannot write either");
        check(&store);

        store.sealed.fail_writes.store(0, Ordering::Relaxed);
        store.flush().unwrap();
        for &id in &ids {
            assert_eq!(times_of(&store, id), times);
            assert!(
                store.sealed.chunks(id, 0, 100).count() >= 7,
                "30 samples, 4 a chunk"
            );
        }
        assert_eq!(store.stats().sealed_samples, 90);
        drop(store);
        let store = Storage::open(config(dir.path())).unwrap();
        for &id in &ids {
            assert_eq!(times_of(&store, id), times);
        }
        assert_eq!(store.stats().samples, 90);
    }

    #[test]
    fn an_append_writes_sealed_chunks_itself_when_a_generation_waits() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_chunks_of(dir.path(), 2);
        // Nothing is written in the background from here on.
        store.sealer.stop();
        let times: Vec<i64> = (0..=6).collect();
        for &t in &times {
            append_at(&store, t);
        }
        let id = store.select_series(&[]).unwrap()[0].0;
        // [0, 1] waited alone; [2, 3] made two for one series, so the append
        // that sealed it wrote both; [4, 5] waits.
        assert_eq!(store.sealed.chunks(id, 0, 100).count(), 2);
        assert_eq!(times_of(&store, id), times);
        store.flush().unwrap();
        assert_eq!(store.sealed.chunks(id, 0, 100).count(), 4);
    }

    #[test]
    fn written_chunks_lend_their_buffers_to_the_next_open_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_chunks_of(dir.path(), 2);
        store.sealer.stop();
        let spare = |store: &Storage| store.lock().spare_buffers();
        // [0, 1] sealed at 2 and written: its buffer is spare.
        (0..=2).for_each(|t| _ = append_at(&store, t));
        assert_eq!(spare(&store), 0);
        store.sealer.write_now().unwrap();
        assert_eq!(spare(&store), 1);
        // [2, 3] sealed at 4: the chunk opened at 4 takes the spare buffer.
        (3..=4).for_each(|t| _ = append_at(&store, t));
        assert_eq!(spare(&store), 0);
        store.sealer.write_now().unwrap();
        // [4, 5] sealed at 6 (reusing the spare), [6, 7] at 8: two chunks
        // wait for one series, so the append writes both, and keeps one
        // buffer, as many as there are series.
        (5..=8).for_each(|t| _ = append_at(&store, t));
        assert_eq!(store.sealed.chunks(all_ids(&store)[0], 0, 100).count(), 4);
        assert_eq!(spare(&store), 1);
        // Reused buffers held nothing of before.
        assert_eq!(
            times_of(&store, all_ids(&store)[0]),
            (0..=8).collect::<Vec<_>>()
        );
        // An idle series leaves the head and takes its spare buffer along.
        store
            .maintain(Instant::now() + Duration::from_secs(3600))
            .unwrap();
        assert_eq!(spare(&store), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn storage_matches_an_in_memory_model(ops in prop::collection::vec(op(), 1..40)) {
            let dir = tempfile::tempdir().unwrap();
            let mut storage = Some(Storage::open(config(dir.path())).unwrap());
            let mut model = Model::default();
            for op in ops {
                let store = storage.as_ref().unwrap();
                match op {
                    Op::Append { items, keyed } => {
                        // Consecutive samples of one series travel in one Append,
                        // as remote_write groups them.
                        let mut batch: Vec<(u8, Append)> = Vec::new();
                        for &(n, t, v) in &items {
                            let sample = Sample { t, v: f64::from_bits(v) };
                            match batch.last_mut() {
                                Some((last, append)) if *last == n => append.samples.push(sample),
                                _ => batch.push((n, Append::one(series_labels(n), sample))),
                            }
                        }
                        let series: Vec<u8> = batch.iter().map(|(n, _)| *n).collect();
                        let appends: Vec<Append> = batch.into_iter().map(|(_, a)| a).collect();
                        let report = match keyed {
                            false => store.append(&appends).unwrap(),
                            true => {
                                let keys: Vec<[u8; 2]> = (0..).zip(&series).map(|(i, &n)| [n, i % 2]).collect();
                                let keyed: Vec<KeyedAppend> = keys.iter().zip(&appends)
                                    .map(|(key, a)| KeyedAppend { key: Some(key), samples: &a.samples })
                                    .collect();
                                store.append_keyed(&keyed, |i| Ok::<_, StorageError>(series_labels(series[i]))).unwrap()
                            }
                        };
                        let mut expected = AppendReport::default();
                        let mut expected_rejected = Vec::new();
                        for (i, &(n, t, v)) in items.iter().enumerate() {
                            match model.append(n, Sample { t, v: f64::from_bits(v) }) {
                                "accepted" => expected.accepted += 1,
                                "duplicate" => expected.duplicates += 1,
                                _ => expected_rejected.push(i),
                            }
                        }
                        prop_assert_eq!(report.accepted, expected.accepted);
                        prop_assert_eq!(report.duplicates, expected.duplicates);
                        let rejected: Vec<usize> = report.rejected.iter().map(|(i, _)| *i).collect();
                        prop_assert_eq!(rejected, expected_rejected);
                    }
                    Op::Reopen { flush } => {
                        if flush {
                            store.flush().unwrap();
                        }
                        drop(storage.take());
                        storage = Some(Storage::open(config(dir.path())).unwrap());
                    }
                    Op::Maintain => {
                        let later = Instant::now() + Duration::from_secs(3600);
                        store.maintain(later).unwrap();
                    }
                    Op::Query { name, job, mint, maxt } => {
                        let mut matchers = vec![Matcher::equal(METRIC_NAME, format!("m{name}"))];
                        if let Some(api) = job {
                            matchers.push(Matcher::not_equal("job", if api { "web" } else { "api" }));
                        }
                        let selected = store.select_series(&matchers).unwrap();
                        let mut got = BTreeMap::new();
                        for (id, labels) in selected {
                            let n: u8 = labels.get("n").unwrap().parse().unwrap();
                            got.insert(n, bits(&store.samples(id, mint, maxt).unwrap()));
                        }
                        let want: BTreeMap<u8, Vec<(i64, u64)>> = model.0.iter()
                            .filter(|(n, _)| *n % 3 == name)
                            .filter(|(n, _)| job.is_none_or(|api| (*n % 2 == 0) == api))
                            .map(|(n, s)| {
                                let inside: Vec<Sample> = s.iter().filter(|x| x.t >= mint && x.t <= maxt).copied().collect();
                                (*n, bits(&inside))
                            })
                            .collect();
                        prop_assert_eq!(got, want);
                    }
                }
            }
            let store = storage.as_ref().unwrap();
            let total: usize = model.0.values().map(Vec::len).sum();
            prop_assert_eq!(store.stats().samples, total as u64);
            prop_assert_eq!(store.stats().series, model.0.len() as u64);
        }
    }
}
