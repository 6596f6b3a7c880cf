//! The metrics a client holds: one shared state per (name, labels), updated
//! lock-free by handles, and turned into ingest samples by `snapshot`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// An f64 updated atomically (its bits in an `AtomicU64`).
#[derive(Debug, Default)]
pub(crate) struct AtomicF64(AtomicU64);

impl AtomicF64 {
    pub(crate) fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    pub(crate) fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }

    pub(crate) fn add(&self, delta: f64) {
        let mut current = self.0.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(current) + delta).to_bits();
            match self
                .0
                .compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }
}

/// A histogram's counts per bucket (not cumulative; the last is `+Inf`) and sum.
#[derive(Debug)]
pub(crate) struct HistogramState {
    pub(crate) bounds: Vec<f64>,
    counts: Vec<AtomicU64>,
    sum: AtomicF64,
}

impl HistogramState {
    pub(crate) fn new(bounds: &[f64]) -> Self {
        let mut bounds: Vec<f64> = bounds.iter().copied().filter(|b| b.is_finite()).collect();
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        HistogramState {
            bounds,
            counts,
            sum: AtomicF64::default(),
        }
    }

    /// Counts `v` in the first bucket whose bound is at least `v`; above the
    /// last bound it lands in `+Inf`, so no observation is ever lost.
    pub(crate) fn observe(&self, v: f64) {
        if v.is_nan() {
            return;
        }
        let i = self.bounds.partition_point(|b| *b < v);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum.add(v);
    }

    /// Cumulative counts per bound (`+Inf` last) and the sum.
    fn read(&self) -> (Vec<u64>, f64) {
        let mut total = 0;
        let cumulative = self
            .counts
            .iter()
            .map(|c| {
                total += c.load(Ordering::Relaxed);
                total
            })
            .collect();
        (cumulative, self.sum.get())
    }
}

#[derive(Clone, Debug)]
pub(crate) enum State {
    Counter(Arc<AtomicF64>),
    Gauge(Arc<AtomicF64>),
    Histogram(Arc<HistogramState>),
}

/// Sorted labels: one series has one key however its labels were ordered.
pub(crate) type Labels = BTreeMap<String, String>;

/// One sample ready for `/v1/ingest`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub kind: &'static str,
    pub value: f64,
    /// Milliseconds since the epoch.
    pub timestamp_ms: i64,
    pub labels: Labels,
}

#[derive(Default)]
pub(crate) struct Registry {
    metrics: Mutex<HashMap<(String, Labels), State>>,
}

impl Registry {
    /// The state of a series, created by `make` on first use. A name already
    /// registered with another type keeps its first type: `None`.
    pub(crate) fn get_or_insert(
        &self,
        name: &str,
        labels: Labels,
        make: impl FnOnce() -> State,
    ) -> Option<State> {
        let mut metrics = self.metrics.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = make();
        let state = metrics
            .entry((name.to_string(), labels))
            .or_insert_with(|| fresh.clone());
        let same_kind = std::mem::discriminant(state) == std::mem::discriminant(&fresh);
        same_kind.then(|| state.clone())
    }

    /// Every series' current value as samples at `timestamp_ms`; histograms
    /// as `_bucket{le}`, `_sum` and `_count`, the way Prometheus exposes them.
    pub(crate) fn snapshot(&self, timestamp_ms: i64) -> Vec<Sample> {
        let metrics = self.metrics.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::with_capacity(metrics.len());
        let sample = |name: String, kind, value, labels: Labels| Sample {
            name,
            kind,
            value,
            timestamp_ms,
            labels,
        };
        for ((name, labels), state) in metrics.iter() {
            match state {
                State::Counter(v) => {
                    out.push(sample(name.clone(), "counter", v.get(), labels.clone()))
                }
                State::Gauge(v) => out.push(sample(name.clone(), "gauge", v.get(), labels.clone())),
                State::Histogram(h) => {
                    let (cumulative, sum) = h.read();
                    let les = h
                        .bounds
                        .iter()
                        .map(|b| format_le(*b))
                        .chain(["+Inf".to_string()]);
                    for (le, count) in les.zip(&cumulative) {
                        let mut bucket_labels = labels.clone();
                        bucket_labels.insert("le".into(), le);
                        out.push(sample(
                            format!("{name}_bucket"),
                            "histogram",
                            *count as f64,
                            bucket_labels,
                        ));
                    }
                    let total = cumulative.last().copied().unwrap_or(0) as f64;
                    out.push(sample(
                        format!("{name}_sum"),
                        "histogram",
                        sum,
                        labels.clone(),
                    ));
                    out.push(sample(
                        format!("{name}_count"),
                        "histogram",
                        total,
                        labels.clone(),
                    ));
                }
            }
        }
        out
    }
}

/// A bucket bound as Prometheus writes it: `1`, `0.25`, `2.5`.
pub(crate) fn format_le(bound: f64) -> String {
    format!("{bound}")
}

/// Prometheus's rule for metric names.
pub(crate) fn is_valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Prometheus's rule for label names; `__` names are reserved.
pub(crate) fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    !name.starts_with("__")
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Turns any text into a valid metric or label name (`http.requests` →
/// `http_requests`), as Prometheus's exporters do.
pub(crate) fn sanitize_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_count_every_observation_cumulatively() {
        let h = HistogramState::new(&[1.0, 0.1, 0.1]);
        assert_eq!(h.bounds, vec![0.1, 1.0]);
        for v in [0.05, 0.1, 0.5, 7.0, f64::NAN] {
            h.observe(v);
        }
        let (cumulative, sum) = h.read();
        assert_eq!(
            cumulative,
            vec![2, 3, 4],
            "7.0 lands in +Inf; NaN is ignored"
        );
        assert!((sum - 7.65).abs() < 1e-12);
    }

    #[test]
    fn snapshots_expose_histograms_as_prometheus_does() {
        let registry = Registry::default();
        let labels = Labels::from([("route".to_string(), "/a".to_string())]);
        let Some(State::Histogram(h)) = registry.get_or_insert("lat", labels.clone(), || {
            State::Histogram(Arc::new(HistogramState::new(&[0.5])))
        }) else {
            panic!("a histogram");
        };
        h.observe(0.2);
        h.observe(2.0);
        let mut names: Vec<(String, Option<String>, f64)> = registry
            .snapshot(1000)
            .into_iter()
            .map(|s| (s.name, s.labels.get("le").cloned(), s.value))
            .collect();
        names.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert_eq!(
            names,
            vec![
                ("lat_bucket".into(), Some("+Inf".into()), 2.0),
                ("lat_bucket".into(), Some("0.5".into()), 1.0),
                ("lat_count".into(), None, 2.0),
                ("lat_sum".into(), None, 2.2),
            ]
        );
        // The same name as another type is refused, not mixed up.
        assert!(
            registry
                .get_or_insert("lat", labels, || State::Counter(Arc::default()))
                .is_none()
        );
    }

    #[test]
    fn names_follow_prometheus_rules() {
        assert!(is_valid_metric_name("http_requests_total"));
        assert!(!is_valid_metric_name("1abc"));
        assert!(is_valid_label_name("route"));
        assert!(!is_valid_label_name("__name__"));
        assert_eq!(sanitize_name("http.requests-total"), "http_requests_total");
        assert_eq!(sanitize_name("9lives"), "_9lives");
        assert_eq!(format_le(1.0), "1");
        assert_eq!(format_le(0.025), "0.025");
    }
}
