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
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// Builds a label set from pairs in any order; empty values are dropped and
    /// a repeated name keeps its last value.
    pub fn new<I, N, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (N, V)>,
        N: Into<String>,
        V: Into<String>,
    {
        let mut pairs: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(n, v)| (n.into(), v.into()))
            .collect();
        // A stable sort keeps repeated names in input order; keeping the last
        // of each run gives "last value wins". Sorting a short Vec in place is
        // far cheaper than a map on the ingest path.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(String, String)> = Vec::with_capacity(pairs.len());
        for (name, value) in pairs {
            match out.last_mut() {
                Some(last) if last.0 == name => last.1 = value,
                _ => out.push((name, value)),
            }
        }
        out.retain(|(_, v)| !v.is_empty());
        Labels(out)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.0.iter().cloned().collect()
    }

    /// The canonical byte form, the series' key in the index: for each label in
    /// name order, `varint(len) name varint(len) value`. Length prefixes rather
    /// than separators, because a label value may hold any byte.
    pub fn encode(&self) -> Vec<u8> {
        let size: usize = self.0.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
        let mut out = Vec::with_capacity(size);
        for (name, value) in &self.0 {
            put_bytes(&mut out, name.as_bytes());
            put_bytes(&mut out, value.as_bytes());
        }
        out
    }

    /// Reverses [`Labels::encode`]; `None` for bytes it did not produce.
    pub fn decode(mut bytes: &[u8]) -> Option<Self> {
        let mut pairs = Vec::new();
        while !bytes.is_empty() {
            let name = take_bytes(&mut bytes)?;
            let value = take_bytes(&mut bytes)?;
            pairs.push((
                String::from_utf8(name.to_vec()).ok()?,
                String::from_utf8(value.to_vec()).ok()?,
            ));
        }
        Some(Labels(pairs))
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
