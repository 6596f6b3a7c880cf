//! The write-ahead log: every accepted sample is appended and fsynced here
//! before the client is told it is stored, so a crash loses nothing that was
//! acknowledged. Samples leave the log once their chunk is sealed into sled.
//!
//! The log is a directory of numbered segment files. A record is
//! `len u32 LE | crc32 u32 LE | kind u8 | payload`, the CRC covering kind and
//! payload; replay stops at the first torn or corrupt record of a segment.

use super::labels::{Labels, put_varint, take_varint};
use super::{Sample, SeriesId, StorageError};
use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A segment is closed and a new one started past this size, so that old
/// segments can be deleted whole once their samples are sealed.
const SEGMENT_BYTES: u64 = 32 << 20;
const KIND_SERIES: u8 = 1;
const KIND_SAMPLES: u8 = 2;
/// A record longer than this is corruption, not data: the bound keeps a
/// damaged length field from making replay allocate gigabytes.
const MAX_RECORD: usize = 256 << 20;

/// One record read back from the log.
pub(crate) enum Record {
    /// Series created by an append, with their labels, so that the index can be
    /// rebuilt if sled lost its latest writes.
    Series(Vec<(SeriesId, Labels)>),
    Samples(Vec<(SeriesId, Sample)>),
}

/// A point in the log: a segment and a length of it. Records before it
/// are durable once an fsync that started after it has returned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct WalMark {
    segment: u64,
    bytes: u64,
}

pub(crate) struct Wal {
    dir: PathBuf,
    /// Shared so that the fsync can run without the head lock.
    file: Arc<File>,
    segment: u64,
    segment_bytes: u64,
    /// Whether to fsync before acknowledging; off only for benchmarks of the
    /// rest of the engine and for tests.
    sync: bool,
    /// A write failed part way: the segment may end in a torn record, which
    /// replay stops at, so the next append starts a new segment.
    torn: bool,
    /// An fsync done here (closing a segment) failed: what was written
    /// before it cannot be trusted to be durable.
    sync_failed: bool,
}

impl Wal {
    /// Opens the log in `dir` for appending to a new segment after the existing ones.
    pub(crate) fn open(dir: &Path, sync: bool) -> Result<Self, StorageError> {
        fs::create_dir_all(dir)?;
        let segment = segments(dir)?.last().map_or(1, |n| n + 1);
        let file = Arc::new(create_segment(dir, segment)?);
        Ok(Wal {
            dir: dir.to_path_buf(),
            file,
            segment,
            segment_bytes: 0,
            sync,
            torn: false,
            sync_failed: false,
        })
    }

    /// The segment the next record goes to.
    pub(crate) fn current_segment(&self) -> u64 {
        self.segment
    }

    pub(crate) fn current_is_empty(&self) -> bool {
        self.segment_bytes == 0
    }

    /// Writes the records, not yet durable: the caller makes them so with
    /// `sync_target` and an fsync before it acknowledges them. The mark to
    /// wait for is `None` when the log is not synced at all.
    pub(crate) fn append(
        &mut self,
        series: &[(SeriesId, &Labels)],
        samples: &[(SeriesId, Sample)],
    ) -> Result<Option<WalMark>, StorageError> {
        let mut buf = Vec::with_capacity(16 + samples.len() * 14);
        if !series.is_empty() {
            let mut payload = Vec::new();
            put_varint(&mut payload, series.len() as u64);
            for (id, labels) in series {
                put_varint(&mut payload, *id);
                let encoded = labels.encode();
                put_varint(&mut payload, encoded.len() as u64);
                payload.extend_from_slice(&encoded);
            }
            frame(&mut buf, KIND_SERIES, &payload);
        }
        if !samples.is_empty() {
            let mut payload = Vec::with_capacity(samples.len() * 14);
            put_varint(&mut payload, samples.len() as u64);
            for (id, s) in samples {
                put_varint(&mut payload, *id);
                put_varint(&mut payload, zigzag(s.t));
                payload.extend_from_slice(&s.v.to_bits().to_le_bytes());
            }
            frame(&mut buf, KIND_SAMPLES, &payload);
        }
        // Even with nothing to write the caller waits for the mark: what it
        // found already stored (duplicates) may still be waiting for its fsync.
        if !buf.is_empty() {
            let full =
                self.segment_bytes > 0 && self.segment_bytes + buf.len() as u64 > SEGMENT_BYTES;
            if full || self.torn {
                self.rotate()?;
            }
            if let Err(e) = (&*self.file).write_all(&buf) {
                self.torn = true;
                return Err(e.into());
            }
            self.segment_bytes += buf.len() as u64;
        }
        Ok(self.sync.then(|| self.mark()))
    }

    fn mark(&self) -> WalMark {
        WalMark {
            segment: self.segment,
            bytes: self.segment_bytes,
        }
    }

    /// The current segment and how far it is written: an fsync of the file
    /// makes everything up to the mark durable (older segments were synced
    /// whole when they were closed). An error if closing one failed.
    pub(crate) fn sync_target(&self) -> Result<(Arc<File>, WalMark), StorageError> {
        if self.sync_failed {
            return Err(StorageError::Io(std::io::Error::other(
                "an fsync of a WAL segment failed",
            )));
        }
        Ok((Arc::clone(&self.file), self.mark()))
    }

    /// Starts a new segment; the old one becomes deletable once sealed.
    pub(crate) fn rotate(&mut self) -> Result<(), StorageError> {
        if let Err(e) = self.file.sync_all() {
            self.sync_failed = true;
            return Err(e.into());
        }
        // Numbered only once it exists: records never go to a file under
        // another segment's number.
        let file = create_segment(&self.dir, self.segment + 1)?;
        self.segment += 1;
        self.file = Arc::new(file);
        self.segment_bytes = 0;
        self.torn = false;
        Ok(())
    }

    /// Deletes every segment numbered below `keep_from`. The caller has made
    /// sure that everything in them is durable in sled.
    pub(crate) fn truncate_before(&mut self, keep_from: u64) -> Result<(), StorageError> {
        for n in segments(&self.dir)? {
            if n < keep_from && n != self.segment {
                fs::remove_file(segment_path(&self.dir, n))?;
            }
        }
        Ok(())
    }
}

/// Reads every record of every segment in `dir`, oldest first, calling
/// `visit(segment, record)`. A torn tail (a crash mid-write) ends its segment.
pub(crate) fn replay(
    dir: &Path,
    mut visit: impl FnMut(u64, Record) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    if !dir.exists() {
        return Ok(());
    }
    for n in segments(dir)? {
        let mut reader = BufReader::new(File::open(segment_path(dir, n))?);
        while let Some((kind, payload)) = read_record(&mut reader)? {
            match decode_record(kind, &payload) {
                Some(record) => visit(n, record)?,
                None => {
                    tracing::warn!(
                        segment = n,
                        "undecodable WAL record; skipping the rest of the segment"
                    );
                    break;
                }
            }
        }
    }
    Ok(())
}

fn frame(buf: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&[kind]);
    hasher.update(payload);
    buf.extend_from_slice(&(payload.len() as u32 + 1).to_le_bytes());
    buf.extend_from_slice(&hasher.finalize().to_le_bytes());
    buf.push(kind);
    buf.extend_from_slice(payload);
}

/// Next intact record, or `None` at the end or at a torn/corrupt record.
fn read_record(reader: &mut impl Read) -> Result<Option<(u8, Vec<u8>)>, StorageError> {
    let mut head = [0u8; 8];
    if !read_full(reader, &mut head)? {
        return Ok(None);
    }
    let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(head[4..].try_into().expect("4 bytes"));
    if len == 0 || len > MAX_RECORD {
        return Ok(None);
    }
    let mut body = vec![0u8; len];
    if !read_full(reader, &mut body)? || crc32fast::hash(&body) != crc {
        return Ok(None);
    }
    let kind = body.remove(0);
    Ok(Some((kind, body)))
}

/// Fills `buf`; false if the stream ended first.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> Result<bool, StorageError> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => return Ok(false),
            n => filled += n,
        }
    }
    Ok(true)
}

fn decode_record(kind: u8, mut payload: &[u8]) -> Option<Record> {
    let count = usize::try_from(take_varint(&mut payload)?).ok()?;
    match kind {
        KIND_SERIES => {
            let mut series = Vec::with_capacity(count.min(1 << 16));
            for _ in 0..count {
                let id = take_varint(&mut payload)?;
                let len = usize::try_from(take_varint(&mut payload)?).ok()?;
                let bytes = payload.get(..len)?;
                payload = &payload[len..];
                series.push((id, Labels::decode(bytes)?));
            }
            Some(Record::Series(series))
        }
        KIND_SAMPLES => {
            let mut samples = Vec::with_capacity(count.min(1 << 20));
            for _ in 0..count {
                let id = take_varint(&mut payload)?;
                let t = unzigzag(take_varint(&mut payload)?);
                let bits = payload.get(..8)?;
                payload = &payload[8..];
                let v = f64::from_bits(u64::from_le_bytes(bits.try_into().ok()?));
                samples.push((id, Sample { t, v }));
            }
            Some(Record::Samples(samples))
        }
        _ => None,
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:016}"))
}

fn create_segment(dir: &Path, n: u64) -> Result<File, StorageError> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(segment_path(dir, n))?;
    // Make the new file's directory entry durable too.
    File::open(dir)?.sync_all()?;
    Ok(file)
}

/// Segment numbers present in `dir`, ascending.
fn segments(dir: &Path) -> Result<Vec<u64>, StorageError> {
    let mut out: Vec<u64> = fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    out.sort_unstable();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Seek;

    fn read_all(dir: &Path) -> Vec<(u64, Sample)> {
        let mut out = Vec::new();
        replay(dir, |_, record| {
            if let Record::Samples(s) = record {
                out.extend(s);
            }
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn records_survive_reopen_bit_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let labels = Labels::new([("__name__", "up")]);
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let samples = vec![
            (
                7,
                Sample {
                    t: i64::MIN + 1,
                    v: stale,
                },
            ),
            (
                7,
                Sample {
                    t: -5,
                    v: f64::NEG_INFINITY,
                },
            ),
            (
                9,
                Sample {
                    t: i64::MAX,
                    v: -0.0,
                },
            ),
        ];
        let mut wal = Wal::open(dir.path(), true).unwrap();
        wal.append(&[(7, &labels)], &samples).unwrap();
        drop(wal);
        let got = read_all(dir.path());
        assert_eq!(got.len(), 3);
        for (a, b) in got.iter().zip(&samples) {
            assert_eq!(a.0, b.0);
            assert_eq!(a.1.t, b.1.t);
            assert_eq!(a.1.v.to_bits(), b.1.v.to_bits());
        }
    }

    #[test]
    fn a_torn_tail_ends_replay_without_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), false).unwrap();
        wal.append(&[], &[(1, Sample { t: 1, v: 1.0 })]).unwrap();
        wal.append(&[], &[(1, Sample { t: 2, v: 2.0 })]).unwrap();
        let path = segment_path(dir.path(), wal.current_segment());
        drop(wal);
        let mut file = OpenOptions::new().write(true).open(&path).unwrap();
        let len = file.seek(std::io::SeekFrom::End(0)).unwrap();
        file.set_len(len - 3).unwrap();
        assert_eq!(read_all(dir.path()).len(), 1);
    }

    #[test]
    fn truncation_keeps_the_current_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), false).unwrap();
        wal.append(&[], &[(1, Sample { t: 1, v: 1.0 })]).unwrap();
        wal.rotate().unwrap();
        wal.append(&[], &[(1, Sample { t: 2, v: 2.0 })]).unwrap();
        wal.truncate_before(wal.current_segment()).unwrap();
        assert_eq!(read_all(dir.path()).len(), 1);
    }
}
