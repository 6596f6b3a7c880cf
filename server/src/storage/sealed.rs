//! Sealed chunks. Their bytes go to append-only **chunk files**, one per time
//! window (`<data-dir>/chunks/<window start ms>`); sled's `chunks` tree holds
//! only a small reference per chunk, keyed `series id | chunk maxt`, so that
//! reading a series from time `mint` seeks straight to the first chunk ending
//! at or after `mint`, and a range read touches only the chunks it needs.
//!
//! Why not the chunk bytes in sled itself: sled's page format stores values of
//! a few hundred bytes at about three times their size. Plain files hold them
//! at their size, and a whole window can later be dropped by deleting a file.

use super::chunk;
use super::labels::{put_varint, take_varint};
use super::{Sample, SeriesId, StorageError};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Series id reserved for the storage totals record, kept in the same tree as
/// the chunk references so that one atomic batch updates both.
const TOTALS_ID: SeriesId = u64::MAX;

/// Chunk files kept open at once; beyond this the cache starts over (a query
/// over months touches one file per window).
const MAX_OPEN_FILES: usize = 128;

/// The block cache (see `read_ahead`): bytes per block, and the most bytes
/// it holds.
const BLOCK_BYTES: u64 = 64 * 1024;
const CACHE_BYTES: usize = 16 << 20;

/// Chunk references the reference cache holds at most, a series counting
/// one more than its references; about 40 bytes each (10 MB): two days of
/// 10,000 series at one chunk per 2 h window.
const CACHED_REFS: usize = 240_000;

thread_local! {
    /// Whether this thread reads ahead now (`read_ahead`).
    static READ_AHEAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `read` with read-ahead on for this thread, if it is one of rayon's
/// pool: a chunk that is not in the store's block cache is then read with
/// the whole 64 KiB block of its file around it, and the block kept for the
/// chunks after it (every reader of the store finds it there, up to 16 MiB
/// of blocks, the oldest dropped first). A query over many series reads one
/// window's chunks of neighbouring series one after the other, and a
/// `pread` of each took a third of the time decoding it did; one read per
/// block serves dozens, and a query asked again reads almost no file (a
/// chunk across two blocks is read from its file every time). It
/// is the page cache's copy kept in the process (as `mmap` would give it,
/// which the crate's `forbid(unsafe_code)` rules out). Bytes a block holds
/// never change: a chunk file only grows, and a block ends at the length
/// its file had when every write to it was complete.
pub(crate) fn read_ahead<R>(read: impl FnOnce() -> R) -> R {
    // Only rayon's threads (one per core) fill the cache: a query over a
    // few series would read 64 KiB for each of its chunks.
    if rayon::current_thread_index().is_none() {
        return read();
    }
    /// Puts the flag back however `read` ends, a panic included.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            READ_AHEAD.set(self.0);
        }
    }
    let _restore = Restore(READ_AHEAD.replace(true));
    read()
}

/// Blocks of chunk files, by file and block number: bytes
/// `[number × 64 KiB, + len)` of the file.
#[derive(Default)]
struct BlockCache {
    blocks: HashMap<(i64, u64), Block>,
    /// Keys in the order they came in: the first ones go first.
    order: std::collections::VecDeque<(i64, u64)>,
    bytes: usize,
}

struct Block {
    /// The store's `deletions` when it was read: a deleted file's blocks
    /// are not used again, even if a file of the same window comes back.
    deletions: u64,
    bytes: Arc<[u8]>,
}

impl BlockCache {
    /// The block holding `[offset, end)` of `file`, if one does.
    fn get(&self, file: i64, (offset, end): (u64, u64), deletions: u64) -> Option<Arc<[u8]>> {
        let block = self.blocks.get(&(file, offset / BLOCK_BYTES))?;
        let block_end = offset - offset % BLOCK_BYTES + block.bytes.len() as u64;
        (block.deletions == deletions && end <= block_end).then(|| Arc::clone(&block.bytes))
    }

    fn insert(&mut self, key: (i64, u64), block: Block) {
        self.bytes += block.bytes.len();
        match self.blocks.insert(key, block) {
            Some(old) => self.bytes -= old.bytes.len(),
            None => self.order.push_back(key),
        }
        while self.bytes > CACHE_BYTES {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(gone) = self.blocks.remove(&oldest) {
                self.bytes -= gone.bytes.len();
            }
        }
    }

    fn forget_file(&mut self, file: i64) {
        self.blocks.retain(|&(f, _), _| f != file);
        self.order.retain(|&(f, _)| f != file);
        self.bytes = self.blocks.values().map(|b| b.bytes.len()).sum();
    }
}

/// The chunk references of series read lately, `(maxt, reference)` in
/// time order, as sled's `chunks` tree holds them: iterating the tree
/// for a series' dozen references took 8 % of a query's CPU over many
/// series. Every change to the tree (`write`, `apply_removal`) drops the
/// series it touched and counts a generation; a reader that found a series
/// missing keeps what it read from sled only if no change came between
/// (the generation is the one it saw before reading), so the cache never
/// holds references older than the tree's.
#[derive(Default)]
struct RefCache {
    series: HashMap<SeriesId, CachedRefs>,
    /// References held, over all series, and one per series.
    refs: usize,
    generation: u64,
}

struct CachedRefs {
    /// The series' references with `maxt >= from`: all of them.
    from: i64,
    refs: Arc<[(i64, ChunkRef)]>,
}

impl RefCache {
    /// `id`'s references with `maxt >= mint`, if held (and more maybe).
    fn get(&self, id: SeriesId, mint: i64) -> Option<Arc<[(i64, ChunkRef)]>> {
        let held = self.series.get(&id)?;
        (held.from <= mint).then(|| Arc::clone(&held.refs))
    }

    /// Keeps `refs`, read from sled at `generation`, unless the tree has
    /// changed since; starts over when full.
    fn insert(&mut self, id: SeriesId, from: i64, generation: u64, refs: Arc<[(i64, ChunkRef)]>) {
        if generation != self.generation {
            return;
        }
        // A series counts one more than its references: an empty list
        // (every sample still in the head) takes room too.
        let size = refs.len() + 1;
        if self.refs + size > CACHED_REFS {
            self.series.clear();
            self.refs = 0;
        }
        self.refs += size;
        if let Some(old) = self.series.insert(id, CachedRefs { from, refs }) {
            self.refs -= old.refs.len() + 1;
        }
    }

    /// After a change to these series' references in the tree.
    fn forget(&mut self, ids: impl IntoIterator<Item = SeriesId>) {
        for id in ids {
            if let Some(old) = self.series.remove(&id) {
                self.refs -= old.refs.len() + 1;
            }
        }
        self.generation += 1;
    }

    /// After a change to any number of series' references.
    fn clear(&mut self) {
        self.series.clear();
        self.refs = 0;
        self.generation += 1;
    }
}

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
            self.chunks += 1;
            self.oldest = Some(self.oldest.map_or(first.t, |o| o.min(first.t)));
            self.newest = Some(self.newest.map_or(last.t, |n| n.max(last.t)));
        }
    }
}

/// The references `SealedChunks::refs` yields.
pub(crate) enum Refs<'a> {
    Cached {
        refs: Arc<[(i64, ChunkRef)]>,
        next: usize,
        maxt: i64,
    },
    Sled(Box<FromSled<'a>>),
    Done,
}

/// A read of references from sled, kept as it goes.
pub(crate) struct FromSled<'a> {
    store: &'a SealedChunks,
    entries: sled::Iter,
    /// What the iteration has read so far, `(maxt, reference)`.
    seen: Vec<(i64, ChunkRef)>,
    /// The series, the `mint` read from, and the cache's generation
    /// before the first read: what keeping `seen` needs.
    keep: (SeriesId, i64, u64),
    maxt: i64,
}

impl Iterator for Refs<'_> {
    type Item = Result<ChunkRef, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Refs::Cached { refs, next, maxt } => {
                let (_, chunk_ref) = *refs.get(*next)?;
                if chunk_ref.mint > *maxt {
                    *self = Refs::Done;
                    return None;
                }
                *next += 1;
                Some(Ok(chunk_ref))
            }
            Refs::Sled(from_sled) => {
                let FromSled {
                    store,
                    entries,
                    seen,
                    keep,
                    maxt,
                } = &mut **from_sled;
                let read = match entries.next() {
                    None => {
                        // Every reference from `mint` on has been read.
                        let (id, from, generation) = *keep;
                        let refs = Arc::from(std::mem::take(seen));
                        store.ref_cache().insert(id, from, generation, refs);
                        *self = Refs::Done;
                        return None;
                    }
                    Some(entry) => entry.map_err(StorageError::from).and_then(|(k, v)| {
                        let chunk_ref =
                            ChunkRef::decode(&k, &v).ok_or(StorageError::Corrupt("chunk ref"))?;
                        Ok((unflip(k[8..16].try_into().expect("16-byte key")), chunk_ref))
                    }),
                };
                match read {
                    Ok((_, chunk_ref)) if chunk_ref.mint > *maxt => {
                        *self = Refs::Done;
                        None
                    }
                    Ok(pair) => {
                        seen.push(pair);
                        Some(Ok(pair.1))
                    }
                    Err(e) => {
                        *self = Refs::Done;
                        Some(Err(e))
                    }
                }
            }
            Refs::Done => None,
        }
    }
}

/// Where a sealed chunk's bytes are: the value of its key in the `chunks` tree.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ChunkRef {
    /// The chunk file, named by the start of its window.
    file: i64,
    offset: u64,
    /// Bytes in the file: the encoded chunk, then its CRC-32 (4 bytes LE).
    len: u64,
    mint: i64,
}

impl ChunkRef {
    /// `zigzag(file) | offset | len | maxt - mint`, four varints: 10 to 14
    /// bytes for a typical chunk.
    fn encode(&self, maxt: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(20);
        put_varint(&mut out, zigzag(self.file));
        put_varint(&mut out, self.offset);
        put_varint(&mut out, self.len);
        put_varint(&mut out, maxt.wrapping_sub(self.mint) as u64);
        out
    }

    fn decode(key: &[u8], mut value: &[u8]) -> Option<Self> {
        let maxt = unflip(key.get(8..16)?.try_into().ok()?);
        let file = unzigzag(take_varint(&mut value)?);
        let offset = take_varint(&mut value)?;
        let len = take_varint(&mut value)?;
        let span = take_varint(&mut value)?;
        value.is_empty().then_some(ChunkRef {
            file,
            offset,
            len,
            mint: maxt.wrapping_sub(span as i64),
        })
    }
}

/// An open chunk file and how far it is written.
struct ChunkFile {
    file: Arc<File>,
    len: u64,
}

pub(crate) struct SealedChunks {
    /// Chunk files deleted so far (`delete_window`).
    deletions: std::sync::atomic::AtomicU64,
    /// Blocks of chunk files read ahead (`read_ahead`).
    cache: Mutex<BlockCache>,
    /// Chunk references of series read lately.
    refs: Mutex<RefCache>,
    tree: sled::Tree,
    dir: PathBuf,
    window_ms: i64,
    files: Mutex<HashMap<i64, ChunkFile>>,
    /// Tests: how many writes to fail, after their chunk bytes are in the
    /// files and before sled references them (the worst moment).
    #[cfg(test)]
    pub(crate) fail_writes: std::sync::atomic::AtomicUsize,
}

impl SealedChunks {
    pub(crate) fn open(db: &sled::Db, dir: &Path, window_ms: i64) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir)?;
        Ok(SealedChunks {
            deletions: std::sync::atomic::AtomicU64::new(0),
            cache: Mutex::new(BlockCache::default()),
            refs: Mutex::new(RefCache::default()),
            tree: db.open_tree("chunks")?,
            dir: dir.to_path_buf(),
            window_ms: window_ms.max(1),
            files: Mutex::new(HashMap::new()),
            #[cfg(test)]
            fail_writes: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    pub(crate) fn totals(&self) -> Result<Totals, StorageError> {
        match self.tree.get(key(TOTALS_ID, 0))? {
            None => Ok(Totals::default()),
            Some(bytes) => Totals::decode(&bytes).ok_or(StorageError::Corrupt("totals record")),
        }
    }

    /// Stores chunks (each a series id and its samples, 1..=1024 in time
    /// order), their bytes from `encode_all` in the same order, and the new
    /// totals. The bytes are appended to the chunk files
    /// and fdatasync'ed *before* sled learns where they are, so a reference
    /// that survives a crash always points at durable bytes; bytes whose
    /// reference is lost are never read, and their samples are still in the WAL.
    pub(crate) fn write(
        &self,
        chunks: &[(SeriesId, Vec<Sample>)],
        encoded: Vec<Vec<u8>>,
        totals: &Totals,
    ) -> Result<(), StorageError> {
        debug_assert_eq!(chunks.len(), encoded.len(), "one encoding per chunk");
        // Grouped by chunk file, outside the file lock.
        let mut by_file: HashMap<i64, Vec<u8>> = HashMap::new();
        let mut placed = Vec::with_capacity(chunks.len());
        for ((id, samples), bytes) in chunks.iter().zip(encoded) {
            let (mint, maxt) = (samples[0].t, samples[samples.len() - 1].t);
            let file = mint
                .div_euclid(self.window_ms)
                .saturating_mul(self.window_ms);
            let buf = by_file.entry(file).or_default();
            let start = buf.len() as u64;
            buf.extend_from_slice(&bytes);
            buf.extend_from_slice(&crc32fast::hash(&bytes).to_le_bytes());
            placed.push((*id, maxt, file, start, buf.len() as u64 - start, mint));
        }

        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        let mut base = HashMap::with_capacity(by_file.len());
        for (&file, buf) in &by_file {
            let entry = self
                .file_entry(&mut files, file, true)?
                .expect("created when missing");
            entry.file.write_all_at(buf, entry.len)?;
            entry.file.sync_data()?;
            base.insert(file, entry.len);
        }
        // Only now, with every byte durable, do the files grow.
        for (file, buf) in &by_file {
            if let Some(entry) = files.get_mut(file) {
                entry.len += buf.len() as u64;
            }
        }
        drop(files);

        let mut batch = sled::Batch::default();
        let ids: Vec<SeriesId> = placed.iter().map(|p| p.0).collect();
        for (id, maxt, file, start, len, mint) in placed {
            let chunk_ref = ChunkRef {
                file,
                offset: base[&file] + start,
                len,
                mint,
            };
            batch.insert(&key(id, maxt)[..], chunk_ref.encode(maxt));
        }
        batch.insert(&key(TOTALS_ID, 0)[..], &totals.encode()[..]);
        #[cfg(test)]
        {
            use std::sync::atomic::Ordering::Relaxed;
            if self
                .fail_writes
                .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(std::io::Error::other("injected chunk write failure").into());
            }
        }
        self.tree.apply_batch(batch)?;
        self.ref_cache().forget(ids);
        Ok(())
    }

    fn ref_cache(&self) -> std::sync::MutexGuard<'_, RefCache> {
        self.refs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The open handle of chunk file `file`, opening it, and creating it
    /// when `create` (writes); a read of a missing file gets `None`.
    fn file_entry<'a>(
        &self,
        files: &'a mut HashMap<i64, ChunkFile>,
        file: i64,
        create: bool,
    ) -> Result<Option<&'a mut ChunkFile>, StorageError> {
        if !files.contains_key(&file) {
            if files.len() >= MAX_OPEN_FILES {
                files.clear();
            }
            let path = self.dir.join(file.to_string());
            let created = !path.exists();
            if created && !create {
                // Deleted by retention while a reader held its reference.
                return Ok(None);
            }
            let handle = OpenOptions::new()
                .read(true)
                .write(true)
                .create(create)
                .truncate(false)
                .open(&path)?;
            if created {
                // The new name must survive a crash as well as the bytes.
                File::open(&self.dir)?.sync_all()?;
            }
            // Bytes past the last reference (a crash between writing and
            // referencing) are garbage: new chunks go after them all the same.
            let len = handle.metadata()?.len();
            files.insert(
                file,
                ChunkFile {
                    file: Arc::new(handle),
                    len,
                },
            );
        }
        Ok(files.get_mut(&file))
    }

    /// Reads and checks the bytes of one chunk; `None` if retention deleted
    /// its file meanwhile.
    fn read(&self, chunk_ref: &ChunkRef) -> Result<Option<Vec<u8>>, StorageError> {
        let mut bytes = Vec::new();
        Ok(self.read_into(chunk_ref, &mut bytes)?.then_some(bytes))
    }

    /// Reads a chunk's bytes into `bytes`, replacing what it held (a reader
    /// of many chunks reuses one buffer); false if retention deleted its
    /// file meanwhile.
    pub(crate) fn read_into(
        &self,
        chunk_ref: &ChunkRef,
        bytes: &mut Vec<u8>,
    ) -> Result<bool, StorageError> {
        let len = usize::try_from(chunk_ref.len)
            .ok()
            .filter(|&n| n > 4)
            .ok_or(StorageError::Corrupt("chunk reference length"))?;
        let end = chunk_ref.offset.saturating_add(chunk_ref.len);
        let deletions = self.deletions.load(std::sync::atomic::Ordering::Acquire);
        let span = (chunk_ref.offset, end);
        let cached = self.cache().get(chunk_ref.file, span, deletions);
        let block = match cached {
            Some(block) => Some(block),
            None => {
                let (handle, written) = {
                    let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
                    match self.file_entry(&mut files, chunk_ref.file, false)? {
                        Some(entry) => (Arc::clone(&entry.file), entry.len),
                        None => return Ok(false),
                    }
                };
                // The chunk's block, if the chunk lies within one and this
                // thread reads ahead.
                let number = chunk_ref.offset / BLOCK_BYTES;
                let block_end = written.min((number + 1) * BLOCK_BYTES);
                match READ_AHEAD.get() && end <= block_end {
                    true => Some(self.read_block(
                        &handle,
                        (chunk_ref.file, number),
                        block_end,
                        deletions,
                    )?),
                    false => {
                        bytes.clear();
                        bytes.resize(len, 0);
                        handle.read_exact_at(bytes, chunk_ref.offset)?;
                        None
                    }
                }
            }
        };
        if let Some(block) = block {
            let from = (chunk_ref.offset % BLOCK_BYTES) as usize;
            bytes.clear();
            bytes.extend_from_slice(&block[from..from + len]);
        }
        let crc = u32::from_le_bytes(bytes[len - 4..].try_into().expect("4 bytes"));
        bytes.truncate(len - 4);
        if crc32fast::hash(bytes) != crc {
            return Err(StorageError::Corrupt("chunk checksum mismatch"));
        }
        Ok(true)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, BlockCache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads block `number` of `file` (up to `block_end`, what is written of
    /// it) into the cache.
    fn read_block(
        &self,
        handle: &File,
        (file, number): (i64, u64),
        block_end: u64,
        deletions: u64,
    ) -> Result<Arc<[u8]>, StorageError> {
        let start = number * BLOCK_BYTES;
        let mut block = vec![0; (block_end - start) as usize];
        handle.read_exact_at(&mut block, start)?;
        let bytes: Arc<[u8]> = block.into();
        let kept = Block {
            deletions,
            bytes: Arc::clone(&bytes),
        };
        self.cache().insert((file, number), kept);
        Ok(bytes)
    }

    /// The newest sealed sample of a series: what a new sample must follow.
    pub(crate) fn last_sample(&self, id: SeriesId) -> Result<Option<Sample>, StorageError> {
        let range = key(id, i64::MIN)..=key(id, i64::MAX);
        match self.tree.range(range).next_back().transpose()? {
            None => Ok(None),
            Some((k, v)) => {
                let chunk_ref =
                    ChunkRef::decode(&k, &v).ok_or(StorageError::Corrupt("chunk ref"))?;
                match self.read(&chunk_ref)? {
                    Some(bytes) => Ok(chunk::decode(&bytes)?.last().copied()),
                    None => Ok(None),
                }
            }
        }
    }

    /// The encoded chunks of `id` that overlap `[mint, maxt]`, oldest first,
    /// each read from its file only when the iterator reaches it.
    pub(crate) fn chunks(
        &self,
        id: SeriesId,
        mint: i64,
        maxt: i64,
    ) -> impl Iterator<Item = Result<Vec<u8>, StorageError>> + '_ {
        self.refs(id, mint, maxt)
            .filter_map(|r| r.and_then(|c| self.read(&c)).transpose())
    }

    /// The references of `id`'s chunks that overlap `[mint, maxt]`, oldest
    /// first: for `read_into`. From the reference cache if it holds them;
    /// else from sled, lazily (a reader that stops early reads no more),
    /// kept in the cache only when the read ran to the series' newest chunk
    /// (as a query up to now does): then they are all its references from
    /// `mint` on.
    pub(crate) fn refs(&self, id: SeriesId, mint: i64, maxt: i64) -> Refs<'_> {
        let generation = {
            let cache = self.ref_cache();
            if let Some(refs) = cache.get(id, mint) {
                let next = refs.partition_point(|r| r.0 < mint);
                return Refs::Cached { refs, next, maxt };
            }
            cache.generation
        };
        Refs::Sled(Box::new(FromSled {
            store: self,
            entries: self.tree.range(key(id, mint)..=key(id, i64::MAX)),
            seen: Vec::new(),
            keep: (id, mint, generation),
            maxt,
        }))
    }

    /// Whether series `id` has any sealed chunk.
    pub(crate) fn has_chunks(&self, id: SeriesId) -> Result<bool, StorageError> {
        Ok(self
            .tree
            .range(key(id, i64::MIN)..=key(id, i64::MAX))
            .next()
            .transpose()?
            .is_some())
    }

    /// Gathers into `removal` the references of `id`'s chunks that end
    /// before `cutoff`, counting their samples from the chunk headers.
    pub(crate) fn remove_before(
        &self,
        id: SeriesId,
        cutoff: i64,
        removal: &mut RawRemoval,
    ) -> Result<(), StorageError> {
        for entry in self.tree.range(key(id, i64::MIN)..key(id, cutoff)) {
            let (k, v) = entry?;
            let chunk_ref = ChunkRef::decode(&k, &v).ok_or(StorageError::Corrupt("chunk ref"))?;
            if let Some(bytes) = self.read(&chunk_ref)? {
                removal.samples += u64::from(chunk::peek_header(&bytes)?.count);
            }
            removal.chunks += 1;
            removal.batch.remove(k);
        }
        Ok(())
    }

    /// Deletes gathered references and writes the totals left, in one batch.
    pub(crate) fn apply_removal(
        &self,
        removal: RawRemoval,
        totals: &Totals,
    ) -> Result<(), StorageError> {
        let mut batch = removal.batch;
        batch.insert(&key(TOTALS_ID, 0)[..], &totals.encode()[..]);
        self.tree.apply_batch(batch)?;
        self.ref_cache().clear();
        Ok(())
    }

    /// The chunk files as (window start, bytes), oldest first.
    pub(crate) fn windows(&self) -> Result<Vec<(i64, u64)>, StorageError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if let Some(start) = entry.file_name().to_str().and_then(|n| n.parse().ok()) {
                out.push((start, entry.metadata()?.len()));
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Deletes the chunk file of the window starting at `start`. Its
    /// references must be gone already (and durable): a reference left to a
    /// deleted file would read as nothing.
    pub(crate) fn delete_window(&self, start: i64) -> Result<(), StorageError> {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        files.remove(&start);
        self.deletions
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        self.cache().forget_file(start);
        match std::fs::remove_file(self.dir.join(start.to_string())) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    pub(crate) fn window_ms(&self) -> i64 {
        self.window_ms
    }
}

/// Raw chunk references gathered for deletion across series.
#[derive(Default)]
pub(crate) struct RawRemoval {
    pub(crate) batch: sled::Batch,
    pub(crate) chunks: u64,
    pub(crate) samples: u64,
}

/// `series id (u64 BE) | maxt (i64 with the sign bit flipped, BE)`: big-endian
/// with a flipped sign bit sorts bytes in numeric order, negative times too.
pub(crate) fn key(id: SeriesId, maxt: i64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&id.to_be_bytes());
    out[8..].copy_from_slice(&((maxt as u64) ^ (1 << 63)).to_be_bytes());
    out
}

pub(crate) fn unflip(bytes: [u8; 8]) -> i64 {
    (u64::from_be_bytes(bytes) ^ (1 << 63)) as i64
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// How many cores `encode_all` may use.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Cores {
    /// The calling thread: encoding runs beside other work.
    One,
    /// Every core, when there are many chunks: someone waits for them.
    All,
}

/// Encodes chunks in order.
pub(crate) fn encode_all(
    chunks: &[(SeriesId, Vec<Sample>)],
    cores: Cores,
) -> Result<Vec<Vec<u8>>, StorageError> {
    /// Fewer chunks than this are encoded on the calling thread.
    const PARALLEL_MIN: usize = 64;
    let encode_part = |part: &[(SeriesId, Vec<Sample>)]| {
        part.iter()
            .map(|(_, samples)| chunk::encode(samples).map_err(StorageError::from))
            .collect::<Result<Vec<_>, _>>()
    };
    let threads = crate::storage::worker_threads();
    if cores == Cores::One || threads < 2 || chunks.len() < PARALLEL_MIN {
        return encode_part(chunks);
    }
    std::thread::scope(|scope| {
        let parts: Vec<_> = chunks
            .chunks(chunks.len().div_ceil(threads))
            .map(|part| scope.spawn(move || encode_part(part)))
            .collect();
        let mut out = Vec::with_capacity(chunks.len());
        for part in parts {
            out.extend(
                part.join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))?,
            );
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(start: i64) -> Vec<Sample> {
        (0..10)
            .map(|i| Sample {
                t: start + i * 10,
                v: i as f64,
            })
            .collect()
    }

    fn write(sealed: &SealedChunks, chunks: &[(SeriesId, Vec<Sample>)], totals: &Totals) {
        let encoded = encode_all(chunks, Cores::All).unwrap();
        sealed.write(chunks, encoded, totals).unwrap();
    }

    /// A temporary store holding one chunk of series 1 from time 0, in 1 s windows.
    fn one_chunk_store() -> (tempfile::TempDir, sled::Db, SealedChunks) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().temporary(true).open().unwrap();
        let sealed = SealedChunks::open(&db, dir.path(), 1000).unwrap();
        write(&sealed, &[(1, samples(0))], &Totals::default());
        (dir, db, sealed)
    }

    fn first_times(sealed: &SealedChunks, id: SeriesId, mint: i64, maxt: i64) -> Vec<i64> {
        sealed
            .chunks(id, mint, maxt)
            .map(|c| chunk::decode(&c.unwrap()).unwrap()[0].t)
            .collect()
    }

    #[test]
    fn cached_references_follow_writes_and_removals() {
        let (_dir, _db, sealed) = one_chunk_store();
        write(&sealed, &[(2, samples(0))], &Totals::default());
        // Read (and cached) from a later time first, then from earlier.
        assert_eq!(first_times(&sealed, 1, 95, 5000), Vec::<i64>::new());
        assert_eq!(first_times(&sealed, 1, 0, 5000), vec![0]);
        assert_eq!(first_times(&sealed, 2, 0, 5000), vec![0]);
        // A chunk sealed after the read is found by the next.
        write(&sealed, &[(1, samples(1000))], &Totals::default());
        assert_eq!(first_times(&sealed, 1, 0, 5000), vec![0, 1000]);
        assert_eq!(first_times(&sealed, 1, 500, 5000), vec![1000]);
        assert_eq!(first_times(&sealed, 1, 0, 500), vec![0]);
        // Removed references are gone, of every series.
        let mut removal = RawRemoval::default();
        for id in [1, 2] {
            sealed.remove_before(id, 500, &mut removal).unwrap();
        }
        sealed.apply_removal(removal, &Totals::default()).unwrap();
        assert_eq!(first_times(&sealed, 1, 0, 5000), vec![1000]);
        assert_eq!(first_times(&sealed, 2, 0, 5000), Vec::<i64>::new());
        // Only a read that runs to the series' newest chunk is kept: not
        // one that ends before it, nor one its reader stops early.
        write(&sealed, &[(1, samples(2000))], &Totals::default());
        assert_eq!(first_times(&sealed, 1, 0, 1500), vec![1000]);
        assert!(sealed.ref_cache().get(1, 0).is_none());
        assert!(sealed.refs(1, 0, i64::MAX).next().is_some());
        assert!(sealed.ref_cache().get(1, 0).is_none());
        assert_eq!(first_times(&sealed, 1, 0, 5000), vec![1000, 2000]);
        assert_eq!(sealed.ref_cache().get(1, 0).map(|r| r.len()), Some(2));
        // A reader that began before a change keeps nothing it read.
        let mut cache = sealed.ref_cache();
        let before = cache.generation;
        cache.forget([3]);
        cache.insert(3, 0, before, Arc::from([]));
        assert!(cache.get(3, 0).is_none());
        // Series without references count too: the cache keeps to its size.
        for id in 0..CACHED_REFS as u64 + 10 {
            let generation = cache.generation;
            cache.insert(id, 0, generation, Arc::from([]));
            assert!(cache.refs <= CACHED_REFS && cache.series.len() <= CACHED_REFS);
        }
    }

    #[test]
    fn keys_sort_in_time_order_across_zero() {
        assert!(key(1, -5) < key(1, 0));
        assert!(key(1, 0) < key(1, 5));
        assert!(key(1, i64::MAX) < key(2, i64::MIN));
        assert_eq!(unflip(key(1, -5)[8..].try_into().unwrap()), -5);
    }

    #[test]
    fn chunk_refs_round_trip() {
        let r = ChunkRef {
            file: -7_200_000,
            offset: 123_456,
            len: 300,
            mint: -10,
        };
        assert_eq!(ChunkRef::decode(&key(9, 500), &r.encode(500)), Some(r));
        assert_eq!(ChunkRef::decode(&key(9, 500), &[0x80]), None);
    }

    #[test]
    fn range_reads_seek_to_the_chunks_needed() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().temporary(true).open().unwrap();
        // A 150 ms window puts the chunks in two files.
        let sealed = SealedChunks::open(&db, &dir.path().join("chunks"), 150).unwrap();
        let mut totals = Totals::default();
        for start in [0i64, 100, 200] {
            let chunk = samples(start);
            totals.add(&chunk);
            write(&sealed, &[(3, chunk)], &totals);
        }
        assert_eq!(first_times(&sealed, 3, 150, 205), vec![100, 200]);
        assert_eq!(sealed.chunks(4, 0, 1000).count(), 0);
        assert_eq!(sealed.last_sample(3).unwrap().map(|s| s.t), Some(290));
        let stored = sealed.totals().unwrap();
        assert_eq!(
            (stored.samples, stored.chunks, stored.oldest, stored.newest),
            (30, 3, Some(0), Some(290))
        );
        assert_eq!(
            std::fs::read_dir(dir.path().join("chunks"))
                .unwrap()
                .count(),
            2
        );
    }

    #[test]
    fn bytes_left_unreferenced_by_a_crash_are_skipped() {
        let (dir, db, _) = one_chunk_store();
        // A crash after the bytes of a chunk were written but before sled
        // recorded where they are leaves them behind in the file.
        let mut file = OpenOptions::new()
            .append(true)
            .open(dir.path().join("0"))
            .unwrap();
        std::io::Write::write_all(&mut file, b"torn chunk").unwrap();
        let reopened = SealedChunks::open(&db, dir.path(), 1000).unwrap();
        write(&reopened, &[(1, samples(200))], &Totals::default());
        assert_eq!(first_times(&reopened, 1, 0, 1000), vec![0, 200]);
    }

    #[test]
    fn reads_ahead_see_what_plain_reads_see() {
        // Only rayon's threads read ahead.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        pool.install(reads_ahead_as_plain_reads_do);
    }

    fn reads_ahead_as_plain_reads_do() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().temporary(true).open().unwrap();
        let sealed = SealedChunks::open(&db, dir.path(), 1000).unwrap();
        let decoded = |id, maxt| -> Vec<Vec<Sample>> {
            let chunks: Vec<_> = sealed.chunks(id, 0, maxt).map(Result::unwrap).collect();
            chunks.iter().map(|c| chunk::decode(c).unwrap()).collect()
        };
        let both = |id, maxt| {
            let plain = decoded(id, maxt);
            assert_eq!(read_ahead(|| decoded(id, maxt)), plain);
            plain
        };
        // Three series' chunks side by side in one file; a block read for
        // the first holds the others.
        let first: Vec<_> = (1..=3).map(|id| (id, samples(id as i64))).collect();
        write(&sealed, &first, &Totals::default());
        for id in 1..=3 {
            assert_eq!(both(id, 500), vec![samples(id as i64)]);
        }
        // Chunks written after a block was read lie past its end: they are
        // read from the file, not from the block.
        write(
            &sealed,
            &[(1, samples(300)), (2, samples(300))],
            &Totals::default(),
        );
        read_ahead(|| assert_eq!(decoded(1, 500).len(), 2));
        assert_eq!(both(2, 500), vec![samples(2), samples(300)]);
        // A deleted file's blocks are not used again.
        sealed.tree.clear().unwrap();
        sealed.ref_cache().clear();
        write(&sealed, &[(1, samples(0))], &Totals::default());
        read_ahead(|| assert_eq!(decoded(1, 500).len(), 1));
        sealed.delete_window(0).unwrap();
        assert!(read_ahead(|| decoded(1, 500)).is_empty());
    }

    #[test]
    fn the_block_cache_keeps_to_its_size_dropping_the_oldest_first() {
        let mut cache = BlockCache::default();
        let block = |deletions| Block {
            deletions,
            bytes: vec![7; BLOCK_BYTES as usize].into(),
        };
        let blocks = 2 * CACHE_BYTES / BLOCK_BYTES as usize;
        for number in 0..blocks as u64 {
            cache.insert((1, number), block(0));
            assert!(cache.bytes <= CACHE_BYTES);
        }
        let whole = |number: u64| (number * BLOCK_BYTES, (number + 1) * BLOCK_BYTES);
        assert!(cache.get(1, whole(0), 0).is_none());
        let newest = blocks as u64 - 1;
        assert!(cache.get(1, whole(newest), 0).is_some());
        // Read before a file was deleted: not used after.
        assert!(cache.get(1, whole(newest), 1).is_none());
        // A block read again replaces the old one and keeps the count right.
        cache.insert((1, newest), block(1));
        assert!(cache.get(1, whole(newest), 1).is_some());
        assert_eq!(cache.bytes, cache.blocks.len() * BLOCK_BYTES as usize);
        cache.forget_file(1);
        assert_eq!((cache.bytes, cache.order.len()), (0, 0));
    }

    #[test]
    fn a_damaged_chunk_is_an_error_not_a_panic() {
        let (dir, _db, sealed) = one_chunk_store();
        let path = dir.path().join("0");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[3] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        sealed.files.lock().unwrap().clear();
        assert!(matches!(
            sealed.chunks(1, 0, 100).next(),
            Some(Err(StorageError::Corrupt(_)))
        ));
    }
}
