//! Label sets and label matchers: the identity of a series and the way queries
//! pick series, with Prometheus's rules for both.

use regex::Regex;
use std::collections::BTreeMap;
use std::fmt;

/// The metric name is stored as the label `__name__`, as Prometheus does, so
/// that one index serves name and label look-ups alike.
pub const METRIC_NAME: &str = "__name__";

/// A series' label set, sorted by name with unique names and no empty values
/// (an empty value means "no such label" in Prometheus).
///
/// Names and values are held back to back in one string, so that a label
/// set costs two allocations rather than two per label: a remote_write
/// request builds one per series it carries.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Labels {
    /// Each label's name then value, in name order.
    text: Box<str>,
    /// Where each name and each value ends in `text`.
    ends: Box<[usize]>,
}

impl Labels {
    /// Builds a label set from pairs in any order; empty values are dropped and
    /// a repeated name keeps its last value.
    pub fn new<I, N, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let mut pairs: Vec<(N, V)> = pairs.into_iter().collect();
        // A stable sort keeps repeated names in input order; keeping the last
        // of each run gives "last value wins". Sorting a short Vec in place is
        // far cheaper than a map on the ingest path.
        pairs.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        let kept = pairs.iter().enumerate().filter(|&(i, (name, value))| {
            let last_of_name = pairs
                .get(i + 1)
                .is_none_or(|next| next.0.as_ref() != name.as_ref());
            last_of_name && !value.as_ref().is_empty()
        });
        let size = kept
            .clone()
            .map(|(_, (n, v))| n.as_ref().len() + v.as_ref().len())
            .sum();
        let mut text = String::with_capacity(size);
        let mut ends = Vec::with_capacity(pairs.len() * 2);
        for (_, (name, value)) in kept {
            for part in [name.as_ref(), value.as_ref()] {
                text.push_str(part);
                ends.push(text.len());
            }
        }
        Labels {
            text: text.into(),
            ends: ends.into(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// The labels in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        (0..self.len()).map(|i| {
            let start = if i == 0 { 0 } else { self.ends[2 * i - 1] };
            let (name_end, end) = (self.ends[2 * i], self.ends[2 * i + 1]);
            (&self.text[start..name_end], &self.text[name_end..end])
        })
    }

    pub fn len(&self) -> usize {
        self.ends.len() / 2
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    /// The canonical byte form, the series' key in the index: for each label in
    /// name order, `varint(len) name varint(len) value`. Length prefixes rather
    /// than separators, because a label value may hold any byte.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.text.len() + self.ends.len() * 2);
        for (name, value) in self.iter() {
            put_bytes(&mut out, name.as_bytes());
            put_bytes(&mut out, value.as_bytes());
        }
        out
    }

    /// Reverses [`Labels::encode`]; `None` for bytes it did not produce.
    pub fn decode(mut bytes: &[u8]) -> Option<Self> {
        let mut text = String::with_capacity(bytes.len());
        let mut ends = Vec::new();
        let mut previous_name = None;
        while !bytes.is_empty() {
            let start = text.len();
            let name = std::str::from_utf8(take_bytes(&mut bytes)?).ok()?;
            let value = std::str::from_utf8(take_bytes(&mut bytes)?).ok()?;
            if previous_name.is_some_and(|p: std::ops::Range<usize>| &text[p] >= name)
                || value.is_empty()
            {
                return None;
            }
            text.push_str(name);
            ends.push(text.len());
            previous_name = Some(start..text.len());
            text.push_str(value);
            ends.push(text.len());
        }
        Some(Labels {
            text: text.into(),
            ends: ends.into(),
        })
    }
}

impl std::hash::Hash for Labels {
    /// The text in one call: the head looks every pushed series up by its
    /// labels, and a hasher call per offset cost as much as the text. Label
    /// sets that differ only in where names end hash alike, which `Eq` tells
    /// apart.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write(self.text.as_bytes());
        state.write_usize(self.ends.len());
    }
}

impl Ord for Labels {
    /// Label by label, name then value: the order of Prometheus's output.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.iter().cmp(other.iter())
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl fmt::Display for Labels {
    /// Prometheus text form: `name{a="b", c="d"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{{", self.metric_name().unwrap_or(""))?;
        let mut first = true;
        for (name, value) in self.iter().filter(|(n, _)| *n != METRIC_NAME) {
            if !first {
                write!(f, ", ")?;
            }
            first = false;
            write!(f, "{name}={value:?}")?;
        }
        write!(f, "}}")
    }
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

pub(crate) fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn take_bytes<'a>(bytes: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = usize::try_from(take_varint(bytes)?).ok()?;
    if bytes.len() < len {
        return None;
    }
    let (head, rest) = bytes.split_at(len);
    *bytes = rest;
    Some(head)
}

/// How a matcher compares a label value.
#[derive(Clone, Debug)]
pub enum MatchOp {
    Equal,
    NotEqual,
    /// Fully anchored, as in PromQL: `=~"a.*"` must match the whole value.
    Regex(Regex),
    NotRegex(Regex),
}

/// One `name op "value"` condition of a selector. A series without the label
/// is treated as having the empty value, so `{a!="x"}` also picks series
/// without `a`, exactly as in Prometheus.
#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
}

impl Matcher {
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
        }
    }

    pub fn not_equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            name: name.into(),
            op: MatchOp::NotEqual,
            value: value.into(),
        }
    }

    /// A regex matcher (`=~` or, with `negate`, `!~`), anchored at both ends.
    pub fn regex(
        name: impl Into<String>,
        pattern: &str,
        negate: bool,
    ) -> Result<Self, regex::Error> {
        let re = Regex::new(&format!("^(?s:{pattern})$"))?;
        Ok(Matcher {
            name: name.into(),
            op: if negate {
                MatchOp::NotRegex(re)
            } else {
                MatchOp::Regex(re)
            },
            value: pattern.to_string(),
        })
    }

    pub fn matches(&self, value: &str) -> bool {
        match &self.op {
            MatchOp::Equal => value == self.value,
            MatchOp::NotEqual => value != self.value,
            MatchOp::Regex(re) => re.is_match(value),
            MatchOp::NotRegex(re) => !re.is_match(value),
        }
    }

    /// Whether the matcher accepts series lacking the label. Only matchers that
    /// do not can be answered from postings alone.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex(_) => "=~",
            MatchOp::NotRegex(_) => "!~",
        };
        write!(f, "{}{}{:?}", self.name, op, self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_sorted_and_drop_empty_values() {
        let labels = Labels::new([("b", "2"), ("a", "1"), ("c", "")]);
        assert_eq!(
            labels.iter().collect::<Vec<_>>(),
            vec![("a", "1"), ("b", "2")]
        );
        assert_eq!(labels.get("c"), None);
    }

    #[test]
    fn canonical_bytes_round_trip_with_any_value_bytes() {
        let labels = Labels::new([(METRIC_NAME, "up"), ("v", "a\0b\u{ff}=\"}")]);
        assert_eq!(Labels::decode(&labels.encode()), Some(labels));
        assert_eq!(Labels::decode(&[5, b'a']), None);
    }

    #[test]
    fn label_sets_order_label_by_label_not_by_their_bytes() {
        let pair = |n: &str, v: &str| Labels::new([(n, v)]);
        // The bytes put the shorter value first; Prometheus compares values.
        assert!(pair("a", "10") < pair("a", "2"));
        assert!(pair("a", "1") < Labels::new([("a", "1"), ("b", "0")]));
        assert_eq!(Labels::new([("a", "1"), ("a", "2")]), pair("a", "2"));
        assert_eq!(Labels::new([("a", "1"), ("a", "")]).len(), 0);
    }

    #[test]
    fn only_canonical_bytes_decode() {
        let unsorted = [pair_bytes("b"), pair_bytes("a")].concat();
        assert_eq!(Labels::decode(&unsorted), None);
        let repeated = [pair_bytes("a"), pair_bytes("a")].concat();
        assert_eq!(Labels::decode(&repeated), None);
        assert_eq!(Labels::decode(&[1, b'a', 0]), None, "empty value");
        assert_eq!(Labels::decode(&[1, 0xff, 1, b'x']), None, "not UTF-8");
    }

    fn pair_bytes(name: &str) -> Vec<u8> {
        Labels::new([(name, "v")]).encode()
    }

    #[test]
    fn matchers_follow_prometheus_rules() {
        let labels = Labels::new([("job", "api"), (METRIC_NAME, "up")]);
        assert!(Matcher::equal("job", "api").matches_labels(&labels));
        assert!(Matcher::not_equal("env", "prod").matches_labels(&labels));
        let re = Matcher::regex("job", "a.i", false).unwrap();
        assert!(re.matches_labels(&labels));
        // Anchored: "pi" alone does not match "api".
        assert!(
            !Matcher::regex("job", "pi", false)
                .unwrap()
                .matches_labels(&labels)
        );
        assert!(Matcher::regex("env", ".*", false).unwrap().matches_empty());
        assert!(!Matcher::equal("job", "api").matches_empty());
        assert_eq!(labels.to_string(), "up{job=\"api\"}");
    }
}
