//! Validation of pushed samples, shared by every ingest protocol: names and
//! labels by Prometheus's rules, bounded sizes, sane timestamps. A request that
//! fails here stores nothing.

use crate::storage::{Append, Labels, METRIC_NAME, Sample};
use app::model::{IngestMetric, MetricType, SampleValue, TimeValue};

/// Limits on what one request may carry; each keeps a single client from
/// making the server allocate without bound.
#[derive(Clone, Copy, Debug)]
pub struct IngestLimits {
    pub max_body_bytes: usize,
    pub max_metrics_per_request: usize,
    pub max_labels: usize,
    pub max_name_len: usize,
    pub max_value_len: usize,
    /// How far ahead of the server clock a timestamp may be. A sample from the
    /// future would make every honest later sample "out of order".
    pub max_future_ms: i64,
}

impl Default for IngestLimits {
    fn default() -> Self {
        IngestLimits {
            max_body_bytes: 8 << 20,
            max_metrics_per_request: 50_000,
            max_labels: 32,
            max_name_len: 256,
            max_value_len: 2048,
            max_future_ms: 10 * 60 * 1000,
        }
    }
}

/// Why a pushed sample is invalid, by index in the request.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("metric {index}: {message}")]
pub struct IngestError {
    pub index: usize,
    pub message: String,
    /// A configured limit (labels per series) rather than a malformed
    /// request: answered 429, like the other cardinality limits.
    pub over_limit: bool,
}

fn invalid(index: usize, message: impl Into<String>) -> IngestError {
    IngestError {
        index,
        message: message.into(),
        over_limit: false,
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
pub fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks a label set (metric name included, as `__name__`) against the rules
/// and limits.
pub fn check_labels(
    index: usize,
    labels: &Labels,
    limits: &IngestLimits,
) -> Result<(), IngestError> {
    let name = labels
        .metric_name()
        .ok_or_else(|| invalid(index, "missing metric name"))?;
    if name.len() > limits.max_name_len {
        return Err(invalid(
            index,
            format!("metric name longer than {} bytes", limits.max_name_len),
        ));
    }
    if !is_valid_metric_name(name) {
        return Err(invalid(
            index,
            format!("invalid metric name {name:?}: must match [a-zA-Z_:][a-zA-Z0-9_:]*"),
        ));
    }
    if labels.len() > limits.max_labels + 1 {
        return Err(IngestError {
            index,
            message: format!(
                "{} labels on metric {name:?}; the limit --limits.max-labels is {}",
                labels.len() - 1,
                limits.max_labels
            ),
            over_limit: true,
        });
    }
    for (label, value) in labels.iter().filter(|(n, _)| *n != METRIC_NAME) {
        if label.len() > limits.max_name_len {
            return Err(invalid(
                index,
                format!("label name longer than {} bytes", limits.max_name_len),
            ));
        }
        if !is_valid_label_name(label) {
            return Err(invalid(
                index,
                format!("invalid label name {label:?}: must match [a-zA-Z_][a-zA-Z0-9_]*"),
            ));
        }
        if label.starts_with("__") {
            return Err(invalid(
                index,
                format!("label name {label:?} is reserved (starts with __)"),
            ));
        }
        if value.len() > limits.max_value_len {
            return Err(invalid(
                index,
                format!(
                    "value of label {label:?} longer than {} bytes",
                    limits.max_value_len
                ),
            ));
        }
    }
    Ok(())
}

/// Checks a timestamp against the clock.
pub fn check_time(
    index: usize,
    t: i64,
    now_ms: i64,
    limits: &IngestLimits,
) -> Result<(), IngestError> {
    if t > now_ms.saturating_add(limits.max_future_ms) {
        return Err(invalid(
            index,
            format!(
                "timestamp {t} ms is more than {} s in the future",
                limits.max_future_ms / 1000
            ),
        ));
    }
    Ok(())
}

/// Turns one JSON metric into a sample to append, or says what is wrong.
pub fn convert_metric(
    index: usize,
    metric: &IngestMetric,
    now_ms: i64,
    limits: &IngestLimits,
) -> Result<Append, IngestError> {
    if metric.labels.contains_key(METRIC_NAME) {
        return Err(invalid(
            index,
            "label __name__ is reserved: use the name field",
        ));
    }
    let mut pairs: Vec<(&str, &str)> = metric
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.push((METRIC_NAME, metric.name.as_str()));
    let labels = Labels::new(pairs);
    check_labels(index, &labels, limits)?;
    if metric.kind == MetricType::Histogram {
        check_histogram_sample(index, &metric.name, &labels)?;
    }
    let v = parse_value(&metric.value).ok_or_else(|| {
        invalid(
            index,
            "value must be a number or one of \"NaN\", \"+Inf\", \"-Inf\"",
        )
    })?;
    let t = match &metric.timestamp {
        None => now_ms,
        Some(time) => parse_time(time).map_err(|e| invalid(index, e))?,
    };
    check_time(index, t, now_ms, limits)?;
    Ok(Append::one(labels, Sample { t, v }))
}

/// Histograms arrive as Prometheus exposes them: `_bucket{le}`, `_sum`, `_count`.
fn check_histogram_sample(index: usize, name: &str, labels: &Labels) -> Result<(), IngestError> {
    if name.ends_with("_bucket") {
        let le = labels
            .get("le")
            .ok_or_else(|| invalid(index, "histogram _bucket sample needs an \"le\" label"))?;
        if parse_float_text(le).is_none() {
            return Err(invalid(index, format!("le label {le:?} is not a number")));
        }
        Ok(())
    } else if name.ends_with("_sum") || name.ends_with("_count") {
        Ok(())
    } else {
        Err(invalid(
            index,
            "a histogram sample's name must end in _bucket, _sum or _count",
        ))
    }
}

fn parse_value(value: &SampleValue) -> Option<f64> {
    match value {
        SampleValue::Number(v) => Some(*v),
        SampleValue::Text(text) => parse_float_text(text),
    }
}

/// Prometheus's float text: a number, `NaN`, `+Inf`, `-Inf`, `Inf`.
pub fn parse_float_text(text: &str) -> Option<f64> {
    match text.to_ascii_lowercase().as_str() {
        "nan" => Some(f64::NAN),
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        _ => text.parse::<f64>().ok().filter(|v| v.is_finite()),
    }
}

/// RFC 3339 text or unix seconds, to milliseconds since the epoch.
pub fn parse_time(time: &TimeValue) -> Result<i64, String> {
    match time {
        TimeValue::Unix(secs) => unix_seconds_to_ms(*secs),
        TimeValue::Text(text) => parse_time_text(text),
    }
}

/// Text form of a time: RFC 3339, or unix seconds with an optional fraction.
pub fn parse_time_text(text: &str) -> Result<i64, String> {
    if let Ok(secs) = text.parse::<f64>() {
        return unix_seconds_to_ms(secs);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|dt| dt.timestamp_millis())
        .map_err(|e| format!("invalid time {text:?}: expected RFC 3339 or unix seconds ({e})"))
}

fn unix_seconds_to_ms(secs: f64) -> Result<i64, String> {
    // ±9.2e15 s fits i64 ms; beyond that, or NaN, is not a time.
    if !secs.is_finite() || secs.abs() > 9.0e15 {
        return Err(format!("invalid unix time {secs}"));
    }
    Ok((secs * 1000.0).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn metric(name: &str, kind: MetricType, labels: &[(&str, &str)]) -> IngestMetric {
        IngestMetric {
            name: name.into(),
            kind,
            value: SampleValue::Number(1.0),
            timestamp: Some(TimeValue::Text("2025-11-16T01:30:00Z".into())),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn converts_a_valid_metric() {
        let m = metric(
            "http_requests_total",
            MetricType::Counter,
            &[("service", "api")],
        );
        let append = convert_metric(0, &m, 1_763_256_600_000, &IngestLimits::default()).unwrap();
        assert_eq!(append.samples[0].t, 1_763_256_600_000);
        assert_eq!(append.labels.get("service"), Some("api"));
        assert_eq!(append.labels.metric_name(), Some("http_requests_total"));
    }

    #[test]
    fn rejects_bad_names_labels_and_times() {
        let limits = IngestLimits::default();
        let now = 1_763_256_600_000;
        let cases = [
            metric("9bad", MetricType::Gauge, &[]),
            metric("ok", MetricType::Gauge, &[("bad-label", "x")]),
            metric("ok", MetricType::Gauge, &[("__reserved", "x")]),
            metric("latency", MetricType::Histogram, &[]),
            metric("latency_bucket", MetricType::Histogram, &[]),
            metric("latency_bucket", MetricType::Histogram, &[("le", "abc")]),
        ];
        for (i, m) in cases.iter().enumerate() {
            assert!(
                convert_metric(i, m, now, &limits).is_err(),
                "case {i} passed"
            );
        }
        let mut future = metric("ok", MetricType::Gauge, &[]);
        future.timestamp = Some(TimeValue::Unix(1e12));
        assert!(convert_metric(0, &future, now, &limits).is_err());
        let mut long = metric("ok", MetricType::Gauge, &[]);
        long.labels.insert("a".into(), "x".repeat(5000));
        assert!(convert_metric(0, &long, now, &limits).is_err());
    }

    #[test]
    fn parses_special_values_and_times() {
        assert!(parse_float_text("NaN").unwrap().is_nan());
        assert_eq!(parse_float_text("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_float_text("-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_float_text("x"), None);
        assert_eq!(parse_time_text("1.5"), Ok(1500));
        assert_eq!(parse_time_text("1970-01-01T00:00:01Z"), Ok(1000));
        assert!(parse_time_text("yesterday").is_err());
        assert!(parse_time(&TimeValue::Unix(f64::NAN)).is_err());
    }
}
