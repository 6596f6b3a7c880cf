//! PromQL over the storage engine: expressions parsed by `promql-parser`,
//! evaluated with Prometheus's semantics (5 min lookback, stale markers end a
//! series, `offset` and `@`, Prometheus 3's delayed `__name__` dropping).
//! Range queries evaluate the expression at each step, reading each selector
//! once for the whole range (`eval.rs`), except the common
//! `aggr(func(sel[r]))`, evaluated for all steps in one pass (`batch.rs`).
//! What it does not evaluate is an `Unsupported` error, never a wrong answer;
//! `tests/promql_scripts.rs` measures it against Prometheus's own test scripts.

mod batch;
mod eval;
mod fill;
mod functions;

use crate::storage::{STALE_NAN_BITS, Storage, StorageError};
use std::collections::BTreeMap;
use std::time::Instant;

/// How far back an instant selector looks for a sample.
pub const LOOKBACK_MS: i64 = 5 * 60 * 1000;
/// Most samples one query may read, as Prometheus's `query.max-samples`:
/// memory stays bounded whatever the query.
pub const MAX_SAMPLES: u64 = 50_000_000;
/// Most points one series of a range result may have, as in Prometheus.
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// A label set, `__name__` included when there is a metric name.
pub type LabelSet = BTreeMap<String, String>;

/// Where a function puts the metric name it drops. As in Prometheus 3, the
/// name goes only when evaluation ends, so that `label_replace` and
/// `by (__name__)` can still read it; no real label can have this name.
pub(crate) const DROPPED_NAME: &str = "\u{0}__name__";

/// A result's labels as returned: names marked dropped are gone.
fn finished(mut samples: Vec<Sample>) -> Result<Vec<Sample>, PromqlError> {
    for s in &mut samples {
        s.labels.remove(DROPPED_NAME);
    }
    functions::unique_label_sets(samples)
}

/// One element of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: LabelSet,
    pub t: i64,
    pub v: f64,
}

/// One series of a range vector or a range result.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: LabelSet,
    pub points: Vec<(i64, f64)>,
}

/// What an expression evaluates to.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar { t: i64, v: f64 },
    String(String),
    Vector(Vec<Sample>),
    Matrix(Vec<Series>),
}

#[derive(Debug, thiserror::Error)]
pub enum PromqlError {
    #[error("parse error: {0}")]
    Parse(String),
    #[error("not supported yet: {0}")]
    Unsupported(String),
    #[error("{0}")]
    Eval(String),
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("query timed out")]
    Timeout,
}

/// The time frame of one evaluation: the step being evaluated and the whole
/// query's range (what `@ start()` and `@ end()` mean).
#[derive(Clone, Copy, Debug)]
pub(crate) struct At {
    pub(crate) t: i64,
    pub(crate) start: i64,
    pub(crate) end: i64,
    /// The range query's step (0 for an instant query): `step()`.
    pub(crate) step: i64,
}

pub struct Engine<'a> {
    storage: &'a Storage,
    max_samples: u64,
    deadline: Option<Instant>,
}

impl<'a> Engine<'a> {
    pub fn new(storage: &'a Storage) -> Self {
        Engine {
            storage,
            max_samples: MAX_SAMPLES,
            deadline: None,
        }
    }

    /// Stops a query at `deadline` with `PromqlError::Timeout`: one that
    /// outlived its caller's patience would otherwise go on reading on the
    /// threads the queries after it share.
    pub fn deadline(self, deadline: Instant) -> Self {
        Engine {
            deadline: Some(deadline),
            ..self
        }
    }

    /// Caps the samples one query may read (`MAX_SAMPLES` by default).
    pub fn max_samples(self, max_samples: u64) -> Self {
        Engine {
            max_samples,
            ..self
        }
    }

    fn evaluator(&self) -> eval::Evaluator<'a> {
        let mut evaluator = eval::Evaluator::new(self.storage);
        evaluator.max_samples = self.max_samples;
        evaluator.deadline = self.deadline;
        evaluator
    }

    /// Evaluates `query` at time `t` (ms).
    pub fn instant(&self, query: &str, t: i64) -> Result<Value, PromqlError> {
        let expr = promql_parser::parser::parse(query).map_err(PromqlError::Parse)?;
        let at = At {
            t,
            start: t,
            end: t,
            step: 0,
        };
        Ok(match self.evaluator().eval(&expr, at)? {
            Value::Vector(samples) => Value::Vector(finished(samples)?),
            Value::Matrix(mut series) => {
                for s in &mut series {
                    s.labels.remove(DROPPED_NAME);
                }
                Value::Matrix(series)
            }
            other => other,
        })
    }

    /// Evaluates `query` at every `step` from `start` to `end` (ms, inclusive).
    /// A scalar result becomes one series without labels.
    pub fn range(
        &self,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Vec<Series>, PromqlError> {
        if step <= 0 {
            return Err(PromqlError::Eval(
                "zero or negative query resolution step widths are not accepted".into(),
            ));
        }
        if end < start {
            return Err(PromqlError::Eval(
                "end timestamp must not be before start time".into(),
            ));
        }
        if (end - start) / step >= MAX_POINTS_PER_SERIES {
            return Err(PromqlError::Eval(format!(
                "exceeded maximum resolution of {MAX_POINTS_PER_SERIES} points per timeseries"
            )));
        }
        let expr = promql_parser::parser::parse(query).map_err(PromqlError::Parse)?;
        let mut evaluator = self.evaluator();
        let whole = (start, end, step);
        if let Some(series) = batch::selector_range(&evaluator, &expr, whole)? {
            return Ok(series);
        }
        if let Some(series) = batch::call_range(&evaluator, &expr, whole)? {
            return Ok(series);
        }
        if let Some(series) = batch::aggregate_range(&evaluator, &expr, whole)? {
            return Ok(series);
        }
        if let Some(series) = batch::quantile_range(&evaluator, &expr, whole)? {
            return Ok(series);
        }
        evaluator.precomputed = batch::precompute(&evaluator, &expr, (start, end, step))?;
        let mut series: BTreeMap<LabelSet, Vec<(i64, f64)>> = BTreeMap::new();
        let mut t = start;
        while t <= end {
            evaluator.check_deadline()?;
            match evaluator.eval(
                &expr,
                At {
                    t,
                    start,
                    end,
                    step,
                },
            )? {
                Value::Scalar { v, .. } => series.entry(LabelSet::new()).or_default().push((t, v)),
                Value::Vector(samples) => {
                    for s in finished(samples)? {
                        series.entry(s.labels).or_default().push((t, s.v));
                    }
                }
                _ => {
                    return Err(PromqlError::Eval(
                        "range queries need an expression of type scalar or instant vector".into(),
                    ));
                }
            }
            t += step;
        }
        Ok(series
            .into_iter()
            .map(|(labels, points)| Series { labels, points })
            .collect())
    }
}

fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::eval::Evaluator;
    use crate::storage::{Append, Labels, Sample as StoredSample, StorageConfig};
    use std::time::Duration;

    fn empty_store() -> (tempfile::TempDir, Storage) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = StorageConfig::new(dir.path());
        config.sync_wal = false;
        let storage = Storage::open(config).unwrap();
        (dir, storage)
    }

    fn store_with(values: impl Iterator<Item = (i64, f64)>) -> (tempfile::TempDir, Storage) {
        let (dir, storage) = empty_store();
        let samples = values.map(|(t, v)| StoredSample { t, v }).collect();
        let labels = Labels::new([("__name__", "x")]);
        storage.append(&[Append { labels, samples }]).unwrap();
        (dir, storage)
    }

    #[test]
    fn a_bare_selector_over_a_range_answers_as_each_instant_does() {
        // Samples every 10 s with a 10 min hole, a stale marker and a value after it.
        let stale = f64::from_bits(STALE_NAN_BITS);
        let values = (0..200)
            .filter(|i| !(60..120).contains(i))
            .map(|i| (i * 10_000, if i == 150 { stale } else { i as f64 }));
        let (_dir, storage) = store_with(values);
        let engine = Engine::new(&storage);
        for query in ["x", "(x offset 1m)"] {
            let range = engine.range(query, 0, 2_400_000, 7_000).unwrap();
            let mut expected = Vec::new();
            for t in (0..=2_400_000).step_by(7_000) {
                let Value::Vector(v) = engine.instant(query, t).unwrap() else {
                    panic!("a vector");
                };
                expected.extend(v.iter().map(|s| (s.t, s.v)));
            }
            assert_eq!(range.len(), 1, "{query}");
            assert_eq!(range[0].points, expected, "{query}");
            assert!(
                expected.len() > 100 && expected.len() < 343,
                "{query}: gaps kept"
            );
        }
    }

    #[test]
    fn a_range_function_over_a_range_answers_as_each_instant_does() {
        // A counter every 10 s with a reset, a 10 min hole and a stale marker.
        let stale = f64::from_bits(STALE_NAN_BITS);
        let values = (0..200).filter(|i| !(60..120).contains(i)).map(|i| {
            let v = match i {
                150 => stale,
                _ if i < 40 => 3.0 * i as f64,
                _ => (i - 40) as f64,
            };
            (i * 10_000, v)
        });
        let (_dir, storage) = store_with(values);
        let engine = Engine::new(&storage);
        for query in [
            "rate(x[1m])",
            "(increase(x[2m] offset 30s))",
            "last_over_time(x[1m])",
            "avg_over_time(x[5m])",
            // Aggregations of range functions take another one-pass path.
            "sum(avg_over_time(x[1m]))",
            "count(count_over_time(x[1m] offset 1m))",
        ] {
            if query.starts_with("sum") || query.starts_with("count") {
                let parsed = promql_parser::parser::parse(query).unwrap();
                let whole = (0, 2_400_000, 7_000);
                let fast = batch::aggregate_range(&Evaluator::new(&storage), &parsed, whole);
                assert!(fast.unwrap().is_some(), "{query} takes the one-pass path");
            }
            let range = engine.range(query, 0, 2_400_000, 7_000).unwrap();
            let mut expected = Vec::new();
            for t in (0..=2_400_000).step_by(7_000) {
                let Value::Vector(v) = engine.instant(query, t).unwrap() else {
                    panic!("a vector");
                };
                expected.extend(v.into_iter().map(|s| (s.labels, s.t, s.v)));
            }
            assert_eq!(range.len(), 1, "{query}");
            let got: Vec<_> = range[0]
                .points
                .iter()
                .map(|&(t, v)| (range[0].labels.clone(), t, v))
                .collect();
            assert_eq!(got, expected, "{query}");
            assert!(expected.len() > 100, "{query}");
        }
    }

    #[test]
    fn a_histogram_quantile_over_a_range_answers_as_each_instant_does() {
        // Two histograms (job a and b); job a's bound 1 spelled "1" on one
        // instance and "1.0" on the other; a +Inf bucket that resets; job b
        // has a 10 min hole.
        let (_dir, storage) = empty_store();
        let buckets = [
            ("a", "0", "0.1", 1.0),
            ("a", "0", "1", 3.0),
            ("a", "0", "+Inf", 4.0),
            ("a", "1", "1.0", 2.0),
            ("a", "1", "+Inf", 5.0),
            ("b", "0", "0.5", 1.0),
            ("b", "0", "+Inf", 2.0),
        ];
        let appends: Vec<Append> = buckets
            .iter()
            .map(|&(job, instance, le, per_step)| Append {
                labels: Labels::new([
                    ("__name__", "x_bucket"),
                    ("job", job),
                    ("instance", instance),
                    ("le", le),
                ]),
                samples: (0..200)
                    .filter(|i| job == "a" || !(60..120).contains(i))
                    .map(|i| StoredSample {
                        t: i * 10_000,
                        v: match (i, le) {
                            (150.., "+Inf") => per_step * (i - 150) as f64,
                            _ => per_step * i as f64,
                        },
                    })
                    .collect(),
            })
            .collect();
        storage.append(&appends).unwrap();
        let engine = Engine::new(&storage);
        let range = (0, 2_400_000, 7_000);
        for query in [
            "histogram_quantile(0.9, sum by (job, le) (rate(x_bucket[1m])))",
            "(histogram_quantile((0.5), sum without (instance) (increase(x_bucket[2m]))))",
            "histogram_quantile(0.99, max by (le) (rate(x_bucket[1m] offset 30s)))",
        ] {
            // The one-pass path answers, and as the instants do.
            let parsed = promql_parser::parser::parse(query).unwrap();
            let fast = batch::quantile_range(&Evaluator::new(&storage), &parsed, range);
            assert!(fast.unwrap().is_some(), "{query}");
            let got: BTreeMap<LabelSet, Vec<(i64, f64)>> = engine
                .range(query, range.0, range.1, range.2)
                .unwrap()
                .into_iter()
                .map(|s| (s.labels, s.points))
                .collect();
            let mut expected: BTreeMap<LabelSet, Vec<(i64, f64)>> = BTreeMap::new();
            for t in (range.0..=range.1).step_by(range.2 as usize) {
                let Value::Vector(v) = engine.instant(query, t).unwrap() else {
                    panic!("a vector");
                };
                for s in v {
                    expected.entry(s.labels).or_default().push((s.t, s.v));
                }
            }
            // Debug output, so that NaN answers compare equal.
            assert_eq!(format!("{got:?}"), format!("{expected:?}"), "{query}");
            let points: usize = expected.values().map(Vec::len).sum();
            assert!(points > 250, "{query}: {points} points");
        }
    }

    #[test]
    fn a_query_reading_too_many_samples_fails_cleanly() {
        let (_dir, storage) = empty_store();
        // 12 series of 300 samples: 3,600 in all, enough work to be read on
        // several threads (where there are several cores).
        let batch: Vec<Append> = (0..12)
            .map(|s| Append {
                labels: Labels::new([("__name__", "x".to_string()), ("s", s.to_string())]),
                samples: (0..300)
                    .map(|i| StoredSample {
                        t: i * 10_000,
                        v: i as f64,
                    })
                    .collect(),
            })
            .collect();
        storage.append(&batch).unwrap();
        let end = 3_000_000;
        for query in ["x", "rate(x[5m])", "sum(rate(x[5m]))", "x * 2"] {
            let capped = Engine::new(&storage).max_samples(3_000);
            let err = capped.range(query, 0, end, 60_000).unwrap_err();
            assert!(
                err.to_string().contains("too many samples"),
                "{query}: {err}"
            );
            let roomy = Engine::new(&storage).max_samples(3_600);
            assert!(roomy.range(query, 0, end, 60_000).is_ok(), "{query}");
        }
    }

    #[test]
    fn a_query_past_its_deadline_stops_with_a_timeout() {
        let (_dir, storage) = store_with((0..=1000).map(|i| (i * 10_000, i as f64)));
        let late = Engine::new(&storage).deadline(Instant::now());
        for query in ["x", "rate(x[5m])", "sum(rate(x[5m]))", "x * 2"] {
            let err = late.range(query, 0, 10_000_000, 60_000).unwrap_err();
            assert!(matches!(err, PromqlError::Timeout), "{query}: {err}");
        }
        assert!(matches!(
            late.instant("x", 10_000_000),
            Err(PromqlError::Timeout)
        ));
        let in_time = Engine::new(&storage).deadline(Instant::now() + Duration::from_secs(600));
        assert!(
            in_time
                .range("sum(rate(x[5m]))", 0, 10_000_000, 60_000)
                .is_ok()
        );
    }

    #[test]
    fn offset_moves_the_window_and_its_extrapolation_back() {
        // 0, 30, 60, … every 10 s until 10,000 s.
        let (_dir, storage) = store_with((0..=1000).map(|i| (i * 10_000, 30.0 * i as f64)));
        let engine = Engine::new(&storage);
        let Value::Vector(v) = engine
            .instant("rate(x[1m] offset 10000s)", 18_000_000)
            .unwrap()
        else {
            panic!("a vector");
        };
        assert_eq!(v.len(), 1);
        assert!((v[0].v - 3.0).abs() < 1e-9, "{v:?}");
    }
}
