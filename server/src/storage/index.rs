//! The series index in sled: label set <-> series id, and postings (label pair
//! -> series ids) so that selecting series by matchers reads only the index,
//! never a sample.

use super::labels::{Labels, MatchOp, Matcher, put_varint, take_varint};
use super::{SeriesId, StorageError};
use app::model::MetricType;
use std::ops::Bound;

/// The four index trees. Every write here is idempotent, so replaying the
/// write-ahead log after a crash may repeat them safely.
pub(crate) struct Index {
    /// `series id (u64 BE)` -> canonical labels: to print a selected series.
    series: sled::Tree,
    /// canonical labels -> `series id (u64 BE)`: to find a pushed series' id.
    by_labels: sled::Tree,
    /// `name 0x00 varint(len) value id(u64 BE)` -> empty: one key per label of
    /// each series, so that one prefix scan lists a label pair's series in id order.
    postings: sled::Tree,
    /// metric name -> type byte: what the dashboard needs to pick a chart kind.
    metadata: sled::Tree,
}

impl Index {
    pub(crate) fn open(db: &sled::Db) -> Result<Self, StorageError> {
        Ok(Index {
            series: db.open_tree("series")?,
            by_labels: db.open_tree("series_by_labels")?,
            postings: db.open_tree("postings")?,
            metadata: db.open_tree("metadata")?,
        })
    }

    /// The id of a stored series, if it exists.
    pub(crate) fn lookup(&self, canonical: &[u8]) -> Result<Option<SeriesId>, StorageError> {
        Ok(self.by_labels.get(canonical)?.map(|v| decode_id(&v)))
    }

    /// Highest series id stored, to continue numbering after a restart.
    pub(crate) fn max_id(&self) -> Result<Option<SeriesId>, StorageError> {
        Ok(self.series.last()?.map(|(k, _)| decode_id(&k)))
    }

    /// Every series id, ascending, read lazily (compaction walks them all).
    pub(crate) fn ids(&self) -> impl Iterator<Item = Result<SeriesId, StorageError>> + '_ {
        self.series.iter().keys().map(|k| Ok(decode_id(&k?)))
    }

    /// Per label name: (name, series carrying it, distinct values), from one
    /// scan of the postings (keys sort by name, then value).
    pub(crate) fn label_cardinality(&self) -> Result<Vec<(String, u64, u64)>, StorageError> {
        let corrupt = || StorageError::Corrupt("posting key");
        let mut out: Vec<(String, u64, u64)> = Vec::new();
        let mut last_value: Vec<u8> = Vec::new();
        for key in self.postings.iter().keys() {
            let key = key?;
            let zero = key.iter().position(|&b| b == 0).ok_or_else(corrupt)?;
            let name = &key[..zero];
            let mut rest = &key[zero + 1..];
            let len = take_varint(&mut rest).ok_or_else(corrupt)? as usize;
            let value = rest.get(..len).ok_or_else(corrupt)?;
            match out.last_mut() {
                Some((n, series, values)) if n.as_bytes() == name => {
                    *series += 1;
                    if value != last_value.as_slice() {
                        *values += 1;
                    }
                }
                _ => out.push((String::from_utf8_lossy(name).into_owned(), 1, 1)),
            }
            last_value.clear();
            last_value.extend_from_slice(value);
        }
        Ok(out)
    }

    /// Number of series: counted once when the storage opens.
    pub(crate) fn count_series(&self) -> usize {
        self.series.len()
    }

    pub(crate) fn insert(&self, id: SeriesId, labels: &Labels) -> Result<(), StorageError> {
        let canonical = labels.encode();
        self.series.insert(id.to_be_bytes(), canonical.as_slice())?;
        self.by_labels.insert(canonical, &id.to_be_bytes())?;
        let mut batch = sled::Batch::default();
        for (name, value) in labels.iter() {
            let mut key = value_prefix(name, value);
            key.extend_from_slice(&id.to_be_bytes());
            batch.insert(key, &[]);
        }
        self.postings.apply_batch(batch)?;
        Ok(())
    }

    pub(crate) fn contains(&self, id: SeriesId) -> Result<bool, StorageError> {
        Ok(self.series.contains_key(id.to_be_bytes())?)
    }

    /// Removes a series from all three index trees (retention has left it
    /// nothing). Like `insert`, each step is idempotent.
    pub(crate) fn remove(&self, id: SeriesId, labels: &Labels) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for (name, value) in labels.iter() {
            let mut key = value_prefix(name, value);
            key.extend_from_slice(&id.to_be_bytes());
            batch.remove(key);
        }
        self.postings.apply_batch(batch)?;
        self.by_labels.remove(labels.encode())?;
        self.series.remove(id.to_be_bytes())?;
        Ok(())
    }

    pub(crate) fn set_metric_type(&self, name: &str, kind: MetricType) -> Result<(), StorageError> {
        let byte = [kind_to_byte(kind)];
        if self.metadata.get(name)?.as_deref() != Some(&byte[..]) {
            self.metadata.insert(name, &byte)?;
        }
        Ok(())
    }

    pub(crate) fn metric_type(&self, name: &str) -> Result<Option<MetricType>, StorageError> {
        Ok(self
            .metadata
            .get(name)?
            .and_then(|v| v.first().copied())
            .and_then(kind_from_byte))
    }

    pub(crate) fn labels(&self, id: SeriesId) -> Result<Labels, StorageError> {
        let bytes = self
            .series
            .get(id.to_be_bytes())?
            .ok_or(StorageError::Corrupt("posting names a missing series"))?;
        Labels::decode(&bytes).ok_or(StorageError::Corrupt("undecodable label set"))
    }

    /// Series ids carrying `name=value`, ascending.
    pub(crate) fn postings(&self, name: &str, value: &str) -> Result<Vec<SeriesId>, StorageError> {
        let prefix = value_prefix(name, value);
        self.postings
            .scan_prefix(&prefix)
            .keys()
            .map(|k| Ok(decode_id(&k?[prefix.len()..])))
            .collect()
    }

    /// Every label name in use: one seek per distinct name.
    pub(crate) fn label_names(&self) -> Result<Vec<String>, StorageError> {
        let mut names = Vec::new();
        let mut start: Bound<Vec<u8>> = Bound::Unbounded;
        while let Some((key, _)) = self
            .postings
            .range::<Vec<u8>, _>((start, Bound::Unbounded))
            .next()
            .transpose()?
        {
            let end = key
                .iter()
                .position(|&b| b == 0)
                .ok_or(StorageError::Corrupt("posting key"))?;
            names.push(String::from_utf8_lossy(&key[..end]).into_owned());
            // Skip past every key of this name: the next name sorts after `name 0x01`.
            let mut next = key[..end].to_vec();
            next.push(1);
            start = Bound::Included(next);
        }
        Ok(names)
    }

    /// Every value of a label name: one seek per distinct value, not per series.
    pub(crate) fn label_values(&self, name: &str) -> Result<Vec<String>, StorageError> {
        let mut prefix = name.as_bytes().to_vec();
        prefix.push(0);
        let mut values = Vec::new();
        let mut start = Bound::Included(prefix.clone());
        loop {
            let Some((key, _)) = self
                .postings
                .range::<Vec<u8>, _>((start, Bound::Unbounded))
                .next()
                .transpose()?
            else {
                break;
            };
            if !key.starts_with(&prefix) {
                break;
            }
            let mut rest = &key[prefix.len()..key.len() - 8];
            let len = super::labels::take_varint(&mut rest)
                .ok_or(StorageError::Corrupt("posting key"))?;
            if rest.len() as u64 != len {
                return Err(StorageError::Corrupt("posting key"));
            }
            values.push(String::from_utf8_lossy(rest).into_owned());
            // The last possible key with this value is followed by the next value.
            let mut next = key[..key.len() - 8].to_vec();
            next.extend_from_slice(&[0xff; 8]);
            start = Bound::Excluded(next);
        }
        values.sort();
        Ok(values)
    }

    /// Series matching every matcher, with their labels, by id. Matchers that
    /// reject the empty value narrow the candidates through postings; the rest
    /// are checked against each candidate's labels. Without any narrowing
    /// matcher every series is a candidate (still no sample is read).
    pub(crate) fn select(
        &self,
        matchers: &[Matcher],
    ) -> Result<Vec<(SeriesId, Labels)>, StorageError> {
        let mut candidates: Option<Vec<SeriesId>> = None;
        for matcher in matchers.iter().filter(|m| !m.matches_empty()) {
            let ids = self.matcher_postings(matcher)?;
            candidates = Some(match candidates {
                None => ids,
                Some(current) => intersect(&current, &ids),
            });
            if candidates.as_ref().is_some_and(Vec::is_empty) {
                return Ok(Vec::new());
            }
        }
        let ids: Vec<SeriesId> = match candidates {
            Some(ids) => ids,
            None => self
                .series
                .iter()
                .keys()
                .map(|k| Ok(decode_id(&k?)))
                .collect::<Result<_, StorageError>>()?,
        };
        let filters: Vec<&Matcher> = matchers.iter().filter(|m| m.matches_empty()).collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let labels = self.labels(id)?;
            if filters.iter().all(|m| m.matches_labels(&labels)) {
                out.push((id, labels));
            }
        }
        Ok(out)
    }

    /// Union of the postings of every value of the matcher's label it accepts.
    fn matcher_postings(&self, matcher: &Matcher) -> Result<Vec<SeriesId>, StorageError> {
        if let MatchOp::Equal = matcher.op {
            return self.postings(&matcher.name, &matcher.value);
        }
        let mut ids = Vec::new();
        for value in self.label_values(&matcher.name)? {
            if matcher.matches(&value) {
                ids.extend(self.postings(&matcher.name, &value)?);
            }
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }
}

/// `name 0x00 varint(len(value)) value`: label names never hold a 0x00 byte
/// (validated on ingest), and the length prefix keeps one value's keys
/// contiguous whatever bytes the value holds.
fn value_prefix(name: &str, value: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + value.len() + 12);
    key.extend_from_slice(name.as_bytes());
    key.push(0);
    put_varint(&mut key, value.len() as u64);
    key.extend_from_slice(value.as_bytes());
    key
}

pub(crate) fn decode_id(bytes: &[u8]) -> SeriesId {
    let mut id = [0u8; 8];
    let n = bytes.len().min(8);
    id[..n].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(id)
}

fn intersect(a: &[SeriesId], b: &[SeriesId]) -> Vec<SeriesId> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn kind_to_byte(kind: MetricType) -> u8 {
    match kind {
        MetricType::Counter => 1,
        MetricType::Gauge => 2,
        MetricType::Histogram => 3,
    }
}

fn kind_from_byte(byte: u8) -> Option<MetricType> {
    match byte {
        1 => Some(MetricType::Counter),
        2 => Some(MetricType::Gauge),
        3 => Some(MetricType::Histogram),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::labels::METRIC_NAME;

    fn index() -> Index {
        let db = sled::Config::new().temporary(true).open().unwrap();
        Index::open(&db).unwrap()
    }

    #[test]
    fn selects_by_every_matcher_kind() {
        let index = index();
        let series = [
            Labels::new([
                (METRIC_NAME, "http_requests_total"),
                ("job", "api"),
                ("code", "200"),
            ]),
            Labels::new([
                (METRIC_NAME, "http_requests_total"),
                ("job", "api"),
                ("code", "500"),
            ]),
            Labels::new([(METRIC_NAME, "http_requests_total"), ("job", "web")]),
            Labels::new([(METRIC_NAME, "up"), ("job", "api")]),
        ];
        for (id, labels) in series.iter().enumerate() {
            index.insert(id as u64, labels).unwrap();
        }
        let ids = |m: Vec<Matcher>| -> Vec<u64> {
            index
                .select(&m)
                .unwrap()
                .into_iter()
                .map(|(id, _)| id)
                .collect()
        };
        let name = || Matcher::equal(METRIC_NAME, "http_requests_total");
        assert_eq!(ids(vec![name()]), vec![0, 1, 2]);
        assert_eq!(ids(vec![name(), Matcher::equal("job", "api")]), vec![0, 1]);
        assert_eq!(
            ids(vec![name(), Matcher::not_equal("code", "500")]),
            vec![0, 2]
        );
        assert_eq!(
            ids(vec![name(), Matcher::regex("code", "5..", false).unwrap()]),
            vec![1]
        );
        assert_eq!(
            ids(vec![name(), Matcher::regex("code", "5..", true).unwrap()]),
            vec![0, 2]
        );
        assert_eq!(ids(vec![name(), Matcher::equal("code", "")]), vec![2]);
        assert_eq!(ids(vec![Matcher::not_equal("job", "api")]), vec![2]);
        assert_eq!(ids(vec![Matcher::equal("job", "nope")]), Vec::<u64>::new());
        assert_eq!(
            index.label_names().unwrap(),
            vec![METRIC_NAME, "code", "job"]
        );
        assert_eq!(index.label_values("job").unwrap(), vec!["api", "web"]);
        assert_eq!(
            index.label_values(METRIC_NAME).unwrap(),
            vec!["http_requests_total", "up"]
        );
    }
}
