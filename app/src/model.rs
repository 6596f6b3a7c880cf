//! The JSON shapes of TinyObs's HTTP API, shared by the server and the dashboard
//! so that both sides agree by construction.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Body of `POST /v1/ingest`, the original TinyObs push format.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct IngestRequest {
    pub metrics: Vec<IngestMetric>,
}

/// One sample pushed by an app.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct IngestMetric {
    pub name: String,
    /// Counter, gauge or histogram; kept as series metadata for the dashboard.
    #[serde(rename = "type")]
    pub kind: MetricType,
    pub value: SampleValue,
    /// RFC 3339 text or unix seconds; absent means "now" on the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<TimeValue>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// The Prometheus metric types TinyObs understands. Histograms arrive already
/// split into `_bucket{le}`, `_sum` and `_count` samples, as Prometheus exposes them.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
}

impl MetricType {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
        }
    }
}

/// A sample value: a JSON number, or text for what JSON numbers cannot carry
/// (`"NaN"`, `"+Inf"`, `"-Inf"`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(untagged)]
pub enum SampleValue {
    Number(f64),
    Text(String),
}

/// A point in time: RFC 3339 text (`"2025-11-16T01:30:00Z"`) or unix seconds.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(untagged)]
pub enum TimeValue {
    Unix(f64),
    Text(String),
}

/// Answer to an ingest request that stored something.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct IngestResponse {
    /// Samples newly stored.
    pub accepted: u64,
    /// Samples identical to one already stored (same series, time and value): a
    /// retried request is harmless.
    pub duplicates: u64,
    /// Samples refused by the storage policy (out of order, or a different value
    /// for a timestamp already stored). Empty on success.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<Rejection>,
}

/// One sample the storage refused, by its index in the request.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Rejection {
    pub index: usize,
    pub reason: String,
}

/// The body of every 4xx/5xx answer of the `/v1` API.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ApiError {
    pub error: String,
    /// Index of the first offending metric in an ingest request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
}

/// Answer of `GET /v1/query/range`: chart-ready points, downsampled.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RangeResponse {
    pub metric: String,
    /// Milliseconds since the epoch.
    pub start: i64,
    pub end: i64,
    /// The resolution the range and `maxPoints` call for (`raw`, `5m`, `1h`).
    pub resolution: String,
    /// Which resolution served which part of the range, in time order:
    /// raw where it still exists, aggregates elsewhere.
    #[serde(default)]
    pub resolutions: Vec<ResolutionSpan>,
    pub max_points: usize,
    pub series: Vec<RangeSeries>,
}

/// Part of a range answer served by one resolution (ms, inclusive).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ResolutionSpan {
    pub resolution: String,
    pub start: i64,
    pub end: i64,
}

/// One series of a range answer. A `null` value is a NaN, infinity or stale
/// marker: a gap for the chart.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: BTreeMap<String, String>,
    /// Samples in the range before downsampling.
    pub samples: u64,
    pub downsampled: bool,
    pub points: Vec<(i64, Option<f64>)>,
    /// Where aggregates served the data: `(t, min, max)` of each bucket, for
    /// a band around the line (points there are bucket averages).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub band: Vec<(i64, f64, f64)>,
}

/// Answer of `GET /v1/query`: raw samples, values as Prometheus-style text so
/// that NaN and infinities survive JSON.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RawResponse {
    pub series: Vec<RawSeries>,
    /// True when `limit` cut the answer short.
    pub truncated: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RawSeries {
    pub labels: BTreeMap<String, String>,
    pub samples: Vec<(i64, String)>,
}

/// Answer of `GET /v1/metrics/list`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct MetricsList {
    pub metrics: Vec<MetricInfo>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct MetricInfo {
    pub name: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<MetricType>,
    pub series: u64,
}

/// Answer of `GET /v1/labels`.
/// `GET /v1/series`: label sets (metric name under `__name__`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct SeriesList {
    pub series: Vec<BTreeMap<String, String>>,
    /// More series matched than `limit`.
    pub truncated: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct LabelNames {
    pub labels: Vec<String>,
}

/// Answer of `GET /v1/label/{name}/values`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct LabelValues {
    pub name: String,
    pub values: Vec<String>,
}

/// Answer of `GET /v1/stats`, from counters kept up to date on every write.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct Stats {
    /// Distinct metric names.
    #[serde(default)]
    pub metrics: u64,
    pub series: u64,
    pub samples: u64,
    /// Series with an open (in-memory) chunk.
    pub active_series: u64,
    pub bytes_on_disk: u64,
    /// Oldest and newest sample timestamps, milliseconds since the epoch.
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
    pub rejected_samples: u64,
    /// Per stored resolution: raw, 5m, 1h.
    #[serde(default)]
    pub resolutions: Vec<ResolutionStats>,
    /// The last compaction pass, if one ran.
    #[serde(default)]
    pub compaction: Option<CompactionRun>,
}

/// What one resolution holds. For raw, `chunks` are sealed chunks and
/// `samples` include the open ones; for aggregates, `chunks` are blocks and
/// `samples` are buckets.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct ResolutionStats {
    pub resolution: String,
    pub series: u64,
    pub chunks: u64,
    pub samples: u64,
    pub bytes_on_disk: u64,
    pub bytes_per_sample: f64,
    /// How long this resolution is kept, in ms.
    pub retention_ms: i64,
}

/// One compaction pass: what it folded, what retention deleted. Also the
/// answer of `POST /v1/admin/compact`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct CompactionRun {
    /// When the pass started, ms since the epoch.
    pub started: i64,
    pub duration_ms: u64,
    /// Series looked at, and those with new data folded in.
    pub series: u64,
    pub series_compacted: u64,
    pub buckets_5m_written: u64,
    pub buckets_1h_written: u64,
    pub raw_chunks_deleted: u64,
    pub raw_samples_deleted: u64,
    pub raw_files_deleted: u64,
    pub blocks_5m_deleted: u64,
    pub blocks_1h_deleted: u64,
    /// Series removed from the index: retention left them no data.
    #[serde(default)]
    pub series_deleted: u64,
    /// Raw samples older than this are deleted and refused (ms).
    pub raw_horizon: Option<i64>,
}

/// Answer of `GET /v1/cardinality`: where the series come from.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct Cardinality {
    pub series: u64,
    pub limits: CardinalityLimits,
    /// Metric names by series count, most first.
    pub metrics: Vec<CardinalityEntry>,
    /// Label names by the number of series carrying them, most first.
    pub labels: Vec<CardinalityEntry>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct CardinalityEntry {
    pub name: String,
    pub series: u64,
    /// Distinct values (labels only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<u64>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct CardinalityLimits {
    pub max_series: u64,
    pub max_series_per_metric: u64,
    pub max_labels: u64,
}

/// A dashboard: the one format of built-in templates, export/import files and
/// dashboards saved on the server.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct DashboardDoc {
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default)]
    pub panels: Vec<PanelDoc>,
}

/// One chart: the series it overlays.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct PanelDoc {
    pub title: String,
    pub series: Vec<SeriesDoc>,
}

/// A query drawn in a panel.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct SeriesDoc {
    /// The metric, or, with `promql` set, the legend text for the expression.
    #[serde(default)]
    pub metric: String,
    /// A PromQL expression drawn instead of `metric`/`selector`/`function`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promql: Option<String>,
    /// Label matchers, `{route="/users",status=~"5.."}`; empty for all.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub selector: String,
    #[serde(default, skip_serializing_if = "SeriesFunction::is_none")]
    pub function: SeriesFunction,
    /// Force the axis; by default a unit other than the first series' goes right.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub axis: Option<crate::chart::Axis>,
    /// Force the unit; by default it follows the metric name (`_bytes`,
    /// `_seconds`, `_ratio`, rates of `_total`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<crate::chart::scale::Unit>,
}

/// What is drawn of a series: its values, its per-second rate, or (for a
/// histogram's `_bucket` series) a quantile.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SeriesFunction {
    #[default]
    None,
    Rate,
    Quantile(f64),
}

impl SeriesFunction {
    pub fn is_none(&self) -> bool {
        *self == SeriesFunction::None
    }
}

/// `GET /v1/dashboards`
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct DashboardList {
    pub dashboards: Vec<DashboardInfo>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct DashboardInfo {
    pub id: String,
    pub title: String,
}

/// The id a dashboard is saved under: its title in lower case, runs of other
/// characters turned into `-`, at most 64 bytes.
pub fn dashboard_id(title: &str) -> String {
    let mut id = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            id.push(c);
        } else if !id.is_empty() && !id.ends_with('-') {
            id.push('-');
        }
        if id.len() >= 64 {
            break;
        }
    }
    let id = id.trim_end_matches('-').to_string();
    if id.is_empty() {
        "dashboard".into()
    } else {
        id
    }
}

#[cfg(test)]
mod dashboard_tests {
    use super::*;

    #[test]
    fn documents_round_trip_and_reject_unknown_fields() {
        let doc = DashboardDoc {
            title: "HTTP API".into(),
            description: String::new(),
            panels: vec![PanelDoc {
                title: "latency".into(),
                series: vec![SeriesDoc {
                    metric: "http_request_duration_seconds_bucket".into(),
                    function: SeriesFunction::Quantile(0.95),
                    ..SeriesDoc::default()
                }],
            }],
        };
        let text = serde_json::to_string(&doc).unwrap();
        assert!(text.contains(r#""function":{"quantile":0.95}"#), "{text}");
        assert_eq!(serde_json::from_str::<DashboardDoc>(&text).unwrap(), doc);
        assert!(serde_json::from_str::<DashboardDoc>(r#"{"title":"x","pannels":[]}"#).is_err());
    }

    #[test]
    fn ids_are_slugs_of_titles() {
        assert_eq!(dashboard_id("HTTP API"), "http-api");
        assert_eq!(dashboard_id("  Process / runtime!"), "process-runtime");
        assert_eq!(dashboard_id("<script>"), "script");
        assert_eq!(dashboard_id("***"), "dashboard");
    }
}
