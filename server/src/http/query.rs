//! Read handlers of the `/v1` JSON API: range queries for charts, raw
//! samples, and the catalogue (metrics, labels, values, stats).

use super::{AppError, AppState, blocking, now_ms};
use crate::ingest::is_valid_label_name;
use crate::query::{
    DEFAULT_MAX_POINTS, DEFAULT_RAW_LIMIT, Downsampler, MAX_POINTS, MAX_RAW_LIMIT,
    MAX_SERIES_PER_QUERY, QuantileGrid, QueryError, Rate, format_value, parse_count,
    parse_matchers, parse_range, plan_resolutions, preferred_resolution,
};
use crate::storage::{METRIC_NAME, Matcher, Resolution, Sample, Storage};
use app::model::{
    LabelNames, LabelValues, MetricInfo, MetricsList, RangeResponse, RangeSeries, RawResponse,
    RawSeries, ResolutionSpan, SeriesList, Stats,
};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use std::collections::BTreeMap;

impl From<QueryError> for AppError {
    fn from(e: QueryError) -> Self {
        AppError::bad_request(e.0)
    }
}

/// Query parameters as pairs: `match` may repeat, and unknown names are errors
/// rather than silently ignored.
struct Params(Vec<(String, String)>);

impl Params {
    fn from(
        query: Result<Query<Vec<(String, String)>>, QueryRejection>,
        known: &[&str],
    ) -> Result<Self, AppError> {
        let Query(pairs) = query.map_err(|e| AppError::bad_request(e.body_text()))?;
        if let Some((name, _)) = pairs.iter().find(|(n, _)| !known.contains(&n.as_str())) {
            return Err(AppError::bad_request(format!(
                "unknown parameter {name:?}; expected one of {}",
                known.join(", ")
            )));
        }
        Ok(Params(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `metric` (required) and every `match`, as matchers.
    fn selector(&self) -> Result<(String, Vec<Matcher>), AppError> {
        let metric = self
            .get("metric")
            .filter(|m| !m.is_empty())
            .ok_or_else(|| AppError::bad_request("parameter metric is required"))?
            .to_string();
        let mut matchers = vec![Matcher::equal(METRIC_NAME, metric.clone())];
        for (_, text) in self.0.iter().filter(|(n, _)| n == "match") {
            matchers.extend(parse_matchers(text)?);
        }
        Ok((metric, matchers))
    }
}

fn select_bounded(
    storage: &Storage,
    matchers: &[Matcher],
) -> Result<Vec<(u64, crate::storage::Labels)>, AppError> {
    let series = storage.select_series(matchers)?;
    if series.len() > MAX_SERIES_PER_QUERY {
        return Err(AppError::bad_request(format!(
            "{} series match; the limit is {MAX_SERIES_PER_QUERY}: narrow the query with match=",
            series.len()
        )));
    }
    Ok(series)
}

/// `GET /v1/query/range?metric=&match=&start=&end=&maxPoints=&fn=`; `fn=rate`
/// charts a counter as per-second rates (computed on raw samples, before
/// downsampling, so a burst survives).
pub async fn query_range(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<RangeResponse>, AppError> {
    let params = Params::from(
        query,
        &["metric", "match", "start", "end", "maxPoints", "fn", "q"],
    )?;
    let function = match params.get("fn") {
        None | Some("") | Some("none") => Function::None,
        Some("rate") => Function::Rate,
        Some("quantile") => {
            let q = params
                .get("q")
                .and_then(|q| q.parse::<f64>().ok())
                .filter(|q| (0.0..=1.0).contains(q))
                .ok_or_else(|| {
                    AppError::bad_request("fn=quantile needs q, a number from 0 to 1")
                })?;
            Function::Quantile(q)
        }
        Some(other) => {
            return Err(AppError::bad_request(format!(
                "unknown fn {other:?}; expected rate, quantile or none"
            )));
        }
    };
    let (metric, matchers) = params.selector()?;
    let (start, end) = parse_range(params.get("start"), params.get("end"), now_ms())?;
    let max_points = parse_count(
        "maxPoints",
        params.get("maxPoints"),
        DEFAULT_MAX_POINTS,
        MAX_POINTS,
    )?;
    let storage = state.storage.clone();
    blocking(move || {
        let preferred = preferred_resolution(start, end, max_points);
        let (series, spans) = match function {
            Function::Quantile(q) => {
                let series = quantiles(&storage, &matchers, start, end, max_points, q)?;
                let span = ResolutionSpan {
                    resolution: Resolution::Raw.name().into(),
                    start,
                    end,
                };
                (series, vec![span])
            }
            Function::None | Function::Rate => downsampled(
                &storage,
                &matchers,
                (start, end),
                max_points,
                function == Function::Rate,
            )?,
        };
        Ok(Json(RangeResponse {
            metric,
            start,
            end,
            resolution: preferred.name().into(),
            resolutions: spans,
            max_points,
            series,
        }))
    })
    .await
}

/// Each matching series in `[start, end]` (as per-second rates when `rate`),
/// downsampled to at most `max_points`, read from the resolutions
/// `plan_resolutions` picks; also which resolution served which part.
fn downsampled(
    storage: &Storage,
    matchers: &[Matcher],
    (start, end): (i64, i64),
    max_points: usize,
    rate: bool,
) -> Result<(Vec<RangeSeries>, Vec<ResolutionSpan>), AppError> {
    let preferred = preferred_resolution(start, end, max_points);
    let mut series = Vec::new();
    let mut spans: BTreeMap<Resolution, (i64, i64)> = BTreeMap::new();
    for (id, labels) in select_bounded(storage, matchers)? {
        let mut down = Downsampler::new(start, end, max_points);
        let mut rates = Rate::default();
        let mut band = Vec::new();
        // Raw alone covers a range after the horizon that wants raw: no need
        // to look at the aggregates (the common case of a dashboard).
        let plan = match preferred == Resolution::Raw && start >= storage.horizon() {
            true => vec![(Resolution::Raw, start, end)],
            false => plan_resolutions(start, end, preferred, &storage.coverage(id)?),
        };
        for (resolution, from, to) in plan {
            let samples_before = down.samples;
            if resolution == Resolution::Raw {
                storage.for_each_sample(id, from, to, |s| {
                    match rate {
                        false => down.push(s),
                        true => down.extend(rates.next(s)),
                    }
                    true
                })?;
            } else {
                for b in storage.buckets(resolution, id, from, to)? {
                    match rate {
                        false => down.push(Sample {
                            t: b.t,
                            v: b.sum / b.count as f64,
                        }),
                        true => down.extend(rates.next_bucket(&b)),
                    }
                    if !rate {
                        band.push((b.t, b.min, b.max));
                    }
                }
            }
            if down.samples > samples_before {
                let span = spans.entry(resolution).or_insert((from, to));
                *span = (span.0.min(from), span.1.max(to));
            }
        }
        if down.samples == 0 {
            continue;
        }
        series.push(RangeSeries {
            labels: labels.to_map(),
            samples: down.samples,
            downsampled: down.is_downsampled(),
            points: down.finish(),
            band: thin_band(band, max_points),
        });
    }
    let mut spans: Vec<ResolutionSpan> = spans
        .into_iter()
        .map(|(r, (start, end))| ResolutionSpan {
            resolution: r.name().into(),
            start,
            end,
        })
        .collect();
    spans.sort_by_key(|s| s.start);
    Ok((series, spans))
}

/// Merges adjacent band entries until at most `max_points` remain.
fn thin_band(band: Vec<(i64, f64, f64)>, max_points: usize) -> Vec<(i64, f64, f64)> {
    let per = band.len().div_ceil(max_points.max(1)).max(1);
    band.chunks(per)
        .map(|c| {
            let lo = c.iter().map(|b| b.1).fold(f64::INFINITY, f64::min);
            let hi = c.iter().map(|b| b.2).fold(f64::NEG_INFINITY, f64::max);
            (c[0].0, lo, hi)
        })
        .collect()
}

/// What `/v1/query/range` computes from the stored samples.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Function {
    None,
    Rate,
    /// `histogram_quantile(q, ...)` of `_bucket` series grouped without `le`.
    Quantile(f64),
}

/// One line per histogram (the bucket series sharing all labels but `le`),
/// labelled with `quantile`.
fn quantiles(
    storage: &Storage,
    matchers: &[Matcher],
    start: i64,
    end: i64,
    max_points: usize,
    q: f64,
) -> Result<Vec<RangeSeries>, AppError> {
    use std::collections::BTreeMap;
    let mut groups: BTreeMap<BTreeMap<String, String>, QuantileGrid> = BTreeMap::new();
    for (id, labels) in select_bounded(storage, matchers)? {
        let Some(le) = labels.get("le").and_then(crate::ingest::parse_float_text) else {
            continue;
        };
        let mut key = labels.to_map();
        key.remove("le");
        key.remove(METRIC_NAME);
        let grid = groups
            .entry(key)
            .or_insert_with(|| QuantileGrid::new(start, end, max_points));
        // From one window before `start`, so the first window has a base.
        let samples = storage.samples(id, start - grid.step(), end)?;
        grid.add_bucket(le, &samples, end);
    }
    Ok(groups
        .into_iter()
        .map(|(mut labels, grid)| {
            let points = grid.quantiles(q);
            labels.insert("quantile".into(), format_value(q));
            RangeSeries {
                labels,
                samples: points.len() as u64,
                downsampled: true,
                points,
                band: Vec::new(),
            }
        })
        .collect())
}

/// `GET /v1/query?metric=&match=&start=&end=&limit=`: raw samples, at most
/// `limit` in total.
pub async fn query_raw(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<RawResponse>, AppError> {
    let params = Params::from(query, &["metric", "match", "start", "end", "limit"])?;
    let (_, matchers) = params.selector()?;
    let (start, end) = parse_range(params.get("start"), params.get("end"), now_ms())?;
    let limit = parse_count(
        "limit",
        params.get("limit"),
        DEFAULT_RAW_LIMIT,
        MAX_RAW_LIMIT,
    )?;
    let storage = state.storage.clone();
    blocking(move || {
        let mut left = limit;
        let mut truncated = false;
        let mut series = Vec::new();
        for (id, labels) in select_bounded(&storage, &matchers)? {
            let mut samples = Vec::new();
            storage.for_each_sample(id, start, end, |s| {
                if left == 0 {
                    truncated = true;
                    return false;
                }
                left -= 1;
                samples.push((s.t, format_value(s.v)));
                true
            })?;
            if !samples.is_empty() {
                series.push(RawSeries {
                    labels: labels.to_map(),
                    samples,
                });
            }
            if truncated {
                break;
            }
        }
        Ok(Json(RawResponse { series, truncated }))
    })
    .await
}

/// Series a `/v1/series` answer lists unless `limit` says otherwise, and at most.
const DEFAULT_SERIES_LIMIT: usize = 10_000;
const MAX_SERIES_LIMIT: usize = 100_000;

/// `GET /v1/series?metric=&match=&limit=`: the label sets of matching series
/// (all series without a selector), for grouping the dashboard and filters.
pub async fn series(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<SeriesList>, AppError> {
    let params = Params::from(query, &["metric", "match", "limit"])?;
    let mut matchers = Vec::new();
    if let Some(metric) = params.get("metric").filter(|m| !m.is_empty()) {
        matchers.push(Matcher::equal(METRIC_NAME, metric.to_string()));
    }
    for (_, text) in params.0.iter().filter(|(n, _)| n == "match") {
        matchers.extend(parse_matchers(text)?);
    }
    let limit = parse_count(
        "limit",
        params.get("limit"),
        DEFAULT_SERIES_LIMIT,
        MAX_SERIES_LIMIT,
    )?;
    let storage = state.storage.clone();
    blocking(move || {
        let found = storage.select_series(&matchers)?;
        let truncated = found.len() > limit;
        let series = found
            .into_iter()
            .take(limit)
            .map(|(_, labels)| labels.to_map())
            .collect();
        Ok(Json(SeriesList { series, truncated }))
    })
    .await
}

/// `GET /v1/metrics/list`: every metric name with its type and series count.
pub async fn metrics_list(State(state): State<AppState>) -> Result<Json<MetricsList>, AppError> {
    let storage = state.storage.clone();
    blocking(move || {
        let mut metrics = Vec::new();
        for name in storage.label_values(METRIC_NAME)? {
            metrics.push(MetricInfo {
                kind: storage.metric_type(&name)?,
                series: storage.count_postings(METRIC_NAME, &name)? as u64,
                name,
            });
        }
        Ok(Json(MetricsList { metrics }))
    })
    .await
}

/// `GET /v1/labels`: label names in use (the metric name label left out).
pub async fn label_names(State(state): State<AppState>) -> Result<Json<LabelNames>, AppError> {
    let storage = state.storage.clone();
    blocking(move || {
        let labels = storage
            .label_names()?
            .into_iter()
            .filter(|n| n != METRIC_NAME)
            .collect();
        Ok(Json(LabelNames { labels }))
    })
    .await
}

/// `GET /v1/label/{name}/values`
pub async fn label_values(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<LabelValues>, AppError> {
    if name != METRIC_NAME && !is_valid_label_name(&name) {
        return Err(AppError::bad_request(format!(
            "invalid label name {name:?}"
        )));
    }
    let storage = state.storage.clone();
    blocking(move || {
        let values = storage.label_values(&name)?;
        Ok(Json(LabelValues { name, values }))
    })
    .await
}

/// `GET /v1/stats`
pub async fn stats(State(state): State<AppState>) -> Result<Json<Stats>, AppError> {
    let storage = state.storage.clone();
    blocking(move || {
        let s = storage.stats();
        Ok(Json(Stats {
            metrics: storage.label_values(METRIC_NAME)?.len() as u64,
            series: s.series,
            samples: s.samples,
            active_series: s.active_series,
            bytes_on_disk: s.disk_bytes,
            oldest: s.oldest,
            newest: s.newest,
            rejected_samples: s.rejected_samples,
            resolutions: storage.resolution_stats()?,
            compaction: storage.last_compaction(),
        }))
    })
    .await
}
