//! What a chart card asks the server for (`ChartQuery`), and how answers
//! become lines: legend labels, axes by unit, the compare-to-earlier twins.

use crate::api::{get_json, url_encode};
use crate::chart::scale::Unit;
use crate::chart::{Axis, Line};
use crate::model::{PanelDoc, RangeResponse, SeriesFunction};
use std::collections::BTreeSet;

/// One query a chart draws: a metric, a selector, and how to show it.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartQuery {
    pub metric: String,
    /// `{label="value",...}` or empty.
    pub selector: String,
    pub function: SeriesFunction,
    pub axis: Axis,
    /// The unit from a dashboard document, over the one the name implies.
    pub unit: Option<Unit>,
    /// A PromQL expression, run through `/api/v1/query_range` instead of
    /// the metric/selector/function above (then `metric` holds the text).
    pub promql: Option<String>,
}

impl ChartQuery {
    pub fn new(
        metric: impl Into<String>,
        selector: impl Into<String>,
        function: SeriesFunction,
    ) -> Self {
        ChartQuery {
            metric: metric.into(),
            selector: selector.into(),
            function,
            axis: Axis::Left,
            unit: None,
            promql: None,
        }
    }

    /// A chart line set from a PromQL expression.
    pub fn promql(expr: impl Into<String>) -> Self {
        let expr = expr.into();
        ChartQuery {
            promql: Some(expr.clone()),
            ..ChartQuery::new(expr, "", SeriesFunction::None)
        }
    }

    /// The series of this query in `[start, end]`, at most about
    /// `max_points` per series.
    async fn fetch(&self, start: i64, end: i64, max_points: u32) -> Result<RangeResponse, String> {
        let Some(expr) = &self.promql else {
            return get_json(&self.url(start, end, max_points)).await;
        };
        // One point per two pixel columns, never finer than a second.
        let step = ((end - start) as f64 / (f64::from(max_points) / 2.0) / 1000.0).max(1.0);
        let url = format!(
            "/api/v1/query_range?query={}&start={}&end={}&step={step}",
            url_encode(expr),
            start as f64 / 1000.0,
            end as f64 / 1000.0
        );
        let answer: PromAnswer = get_json(&url).await?;
        Ok(answer.into_range(expr, start, end, max_points))
    }

    /// The unit of what is drawn: a quantile of `x_seconds_bucket` is in
    /// seconds, a rate of `x_bytes_total` in bytes per second.
    pub fn unit(&self) -> Unit {
        if let Some(unit) = self.unit {
            return unit;
        }
        match self.function {
            SeriesFunction::None => Unit::for_metric(&self.metric, false),
            SeriesFunction::Rate => Unit::for_metric(&self.metric, true),
            SeriesFunction::Quantile(_) => {
                let base = self.metric.strip_suffix("_bucket").unwrap_or(&self.metric);
                Unit::for_metric(base, false)
            }
        }
    }

    /// The queries of a dashboard panel: each series' selector narrowed by
    /// `extra` (the page's filters), and a unit other than the first series'
    /// put on the right axis unless the document says otherwise.
    pub fn from_panel(panel: &PanelDoc, extra: &str) -> Vec<ChartQuery> {
        let mut queries: Vec<ChartQuery> = panel
            .series
            .iter()
            .map(|s| match &s.promql {
                // The page's filters do not reach inside an expression.
                Some(expr) => ChartQuery {
                    unit: s.unit,
                    ..ChartQuery::promql(expr)
                },
                None => ChartQuery {
                    unit: s.unit,
                    ..ChartQuery::new(&s.metric, merge_selectors(&s.selector, extra), s.function)
                },
            })
            .collect();
        auto_axes(&mut queries);
        for (query, doc) in queries.iter_mut().zip(&panel.series) {
            query.axis = doc.axis.unwrap_or(query.axis);
        }
        queries
    }

    fn url(&self, start: i64, end: i64, max_points: u32) -> String {
        let mut url = format!(
            "/v1/query/range?metric={}&start={}&end={}&maxPoints={max_points}",
            url_encode(&self.metric),
            start as f64 / 1000.0,
            end as f64 / 1000.0,
        );
        if !self.selector.is_empty() && self.selector != "{}" {
            url += &format!("&match={}", url_encode(&self.selector));
        }
        match self.function {
            SeriesFunction::None => {}
            SeriesFunction::Rate => url += "&fn=rate",
            SeriesFunction::Quantile(q) => url += &format!("&fn=quantile&q={q}"),
        }
        url
    }
}

/// Puts every query whose unit differs from the first query's on the right
/// axis, the rest on the left: an overlay of two units gets two y-axes.
pub fn auto_axes(queries: &mut [ChartQuery]) {
    let first_unit = queries.first().map(ChartQuery::unit);
    for query in queries {
        query.axis = match Some(query.unit()) == first_unit {
            true => Axis::Left,
            false => Axis::Right,
        };
    }
}

/// A Prometheus API answer to a range query (`data.result` of a matrix).
#[derive(serde::Deserialize)]
struct PromAnswer {
    data: PromData,
}

#[derive(serde::Deserialize)]
struct PromData {
    result: Vec<PromSeries>,
}

#[derive(serde::Deserialize)]
struct PromSeries {
    metric: std::collections::BTreeMap<String, String>,
    values: Vec<(f64, String)>,
}

impl PromAnswer {
    /// The same shape as `/v1/query/range` answers, for the chart.
    fn into_range(self, expr: &str, start: i64, end: i64, max_points: u32) -> RangeResponse {
        let series = self
            .data
            .result
            .into_iter()
            .map(|s| {
                let points: Vec<(i64, Option<f64>)> = s
                    .values
                    .into_iter()
                    .map(|(t, v)| {
                        (
                            (t * 1000.0).round() as i64,
                            v.parse::<f64>().ok().filter(|v| v.is_finite()),
                        )
                    })
                    .collect();
                crate::model::RangeSeries {
                    labels: s.metric,
                    samples: points.len() as u64,
                    downsampled: false,
                    points,
                    band: Vec::new(),
                }
            })
            .collect();
        RangeResponse {
            metric: expr.to_string(),
            start,
            end,
            resolution: "promql".into(),
            resolutions: Vec::new(),
            max_points: max_points as usize,
            series,
        }
    }
}

/// `{a="1"}` and `{b="2"}` → `{a="1",b="2"}`; empty sides are left out.
pub fn merge_selectors(a: &str, b: &str) -> String {
    let inner = |s: &str| {
        s.trim()
            .trim_start_matches('{')
            .trim_end_matches('}')
            .trim()
            .to_string()
    };
    let parts: Vec<String> = [inner(a), inner(b)]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// The lines of one query's answer. Labels that every line of the chart
/// shares (`hide`) are left out of the legend text.
fn lines_of(
    response: RangeResponse,
    query: &ChartQuery,
    name_prefix: bool,
    hide: &BTreeSet<String>,
) -> Vec<Line> {
    let prefix = match query.function {
        SeriesFunction::Quantile(q) => Some(format!("p{}", q * 100.0)),
        _ if name_prefix => Some(query.metric.clone()),
        _ => None,
    };
    response
        .series
        .into_iter()
        .map(|series| {
            let mut parts: Vec<String> = series
                .labels
                .iter()
                .filter(|(k, _)| {
                    let k = k.as_str();
                    k != "__name__" && k != "quantile" && !hide.contains(k)
                })
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            match (&prefix, parts.is_empty()) {
                (Some(p), _) => parts.insert(0, p.clone()),
                (None, true) => parts.push(query.metric.clone()),
                (None, false) => {}
            }
            Line {
                label: parts.join(", "),
                points: series.points,
                axis: query.axis,
                band: series.band,
                ..Line::default()
            }
        })
        .collect()
}

/// Label matchers a selector fixes to one value (`name="value"`), as
/// (name, value text) pairs.
fn pinned_labels(selector: &str) -> BTreeSet<(String, String)> {
    let inner = selector
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}');
    inner
        .split(',')
        .filter_map(|m| {
            let (name, value) = m.split_once('=')?;
            let exact = !name.ends_with('!') && !value.starts_with('~');
            let name = name.trim();
            (exact && !name.is_empty()).then(|| (name.to_string(), value.trim().to_string()))
        })
        .collect()
}

/// Labels every query of a chart pins to the same value: every line has
/// them, so legends leave them out. (Queries pinning different values, as
/// Explore's one-series queries do, keep theirs.)
fn shared_pins(queries: &[ChartQuery]) -> BTreeSet<String> {
    let mut pins = queries.iter().map(|q| pinned_labels(&q.selector));
    let first = pins.next().unwrap_or_default();
    pins.fold(first, |acc, p| acc.intersection(&p).cloned().collect())
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// What the card fetched: the lines, or why there are none.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Fetched {
    pub(super) lines: Vec<Line>,
    pub(super) start: i64,
    pub(super) end: i64,
}

pub(super) async fn fetch_lines(
    queries: Vec<ChartQuery>,
    range: (i64, i64),
    compare: Option<i64>,
    width: u32,
    hide: BTreeSet<String>,
) -> Result<Fetched, String> {
    let (start, end) = range;
    // Two points per pixel column: each bucket's minimum and maximum.
    let max_points = (width * 2).clamp(200, 5000);
    // Metric names in legends only when the chart mixes metrics.
    let first_metric = queries.first().map(|q| q.metric.clone());
    let overlay = queries
        .iter()
        .any(|q| Some(&q.metric) != first_metric.as_ref());
    let mut hide = hide;
    hide.extend(shared_pins(&queries));
    let mut lines = Vec::new();
    for query in &queries {
        let response = query.fetch(start, end, max_points).await?;
        let mut found = lines_of(response, query, overlay, &hide);
        found.sort_by(|a, b| a.label.cmp(&b.label));
        lines.extend(found);
    }
    for (i, line) in lines.iter_mut().enumerate() {
        line.color = i;
    }
    if let Some(shift) = compare {
        let mut earlier = Vec::new();
        for query in &queries {
            let response = query.fetch(start - shift, end - shift, max_points).await?;
            earlier.extend(lines_of(response, query, overlay, &hide));
        }
        // Same colour as today's line of the same label, dashed.
        for mut line in earlier {
            line.color = lines
                .iter()
                .find(|l| l.label == line.label)
                .map_or(0, |l| l.color);
            line.label = format!("{} ({} earlier)", line.label, compare_label(shift));
            line.dashed = true;
            for p in &mut line.points {
                p.0 += shift;
            }
            lines.push(line);
        }
    }
    Ok(Fetched { lines, start, end })
}

fn compare_label(shift: i64) -> &'static str {
    if shift >= 7 * 86_400_000 { "7d" } else { "24h" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promql_answers_become_chart_series() {
        let answer: PromAnswer = serde_json::from_str(
            r#"{"status":"success","data":{"resultType":"matrix","result":[
                {"metric":{"status":"200"},"values":[[60,"1.5"],[120,"NaN"]]}]}}"#,
        )
        .unwrap();
        let range = answer.into_range("sum(x)", 0, 120_000, 100);
        assert_eq!(
            range.series[0].points,
            vec![(60_000, Some(1.5)), (120_000, None)]
        );
        assert_eq!(range.series[0].labels["status"], "200");
        let q = ChartQuery::promql("sum(x)");
        assert_eq!(
            (q.metric.as_str(), q.promql.as_deref()),
            ("sum(x)", Some("sum(x)"))
        );
    }

    #[test]
    fn selectors_merge_and_units_follow_the_function() {
        assert_eq!(
            merge_selectors(r#"{a="1"}"#, r#"{b="2"}"#),
            r#"{a="1",b="2"}"#
        );
        assert_eq!(merge_selectors("", "{}"), "");
        assert_eq!(merge_selectors("", r#"{b="2"}"#), r#"{b="2"}"#);
        let q = |m: &str, f| ChartQuery::new(m, "", f).unit();
        assert_eq!(
            q("x_seconds_bucket", SeriesFunction::Quantile(0.9)),
            Unit::Seconds
        );
        assert_eq!(
            q("x_bytes_total", SeriesFunction::Rate),
            Unit::BytesPerSecond
        );
        assert_eq!(q("x_bytes", SeriesFunction::None), Unit::Bytes);
    }

    #[test]
    fn a_panel_puts_a_second_unit_on_the_right_axis() {
        let panel: PanelDoc = serde_json::from_str(
            r#"{"title":"t","series":[{"metric":"mem_bytes"},{"metric":"cpu_seconds_total","function":"rate"},
                {"metric":"other_bytes"},{"metric":"x","axis":"left"},{"metric":"limit","unit":"bytes"}]}"#,
        )
        .unwrap();
        let axes: Vec<Axis> = ChartQuery::from_panel(&panel, r#"{service="a"}"#)
            .iter()
            .map(|q| q.axis)
            .collect();
        // A unit set in the document counts: `limit` is in bytes, as the first.
        assert_eq!(
            axes,
            [Axis::Left, Axis::Right, Axis::Left, Axis::Left, Axis::Left]
        );
        assert_eq!(
            ChartQuery::from_panel(&panel, r#"{service="a"}"#)[0].selector,
            r#"{service="a"}"#
        );
    }

    #[test]
    fn legends_leave_out_what_every_line_shares() {
        let q = |sel: &str| ChartQuery::new("m", sel, SeriesFunction::None);
        assert_eq!(
            shared_pins(&[q(r#"{service="api",status=~"5..",env!="x"}"#)]),
            BTreeSet::from(["service".to_string()])
        );
        assert_eq!(
            shared_pins(&[q(r#"{service="api",a="1"}"#), q(r#"{service="web",a="1"}"#)]),
            BTreeSet::from(["a".to_string()])
        );
        let response = RangeResponse {
            metric: "h_bucket".into(),
            start: 0,
            end: 1,
            resolution: "raw".into(),
            resolutions: Vec::new(),
            max_points: 10,
            series: vec![crate::model::RangeSeries {
                labels: [("quantile", "0.95"), ("route", "/a"), ("service", "api")]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                samples: 1,
                downsampled: false,
                points: vec![(0, Some(1.0))],
                band: Vec::new(),
            }],
        };
        let query = ChartQuery::new(
            "h_bucket",
            r#"{service="api"}"#,
            SeriesFunction::Quantile(0.95),
        );
        let lines = lines_of(
            response,
            &query,
            true,
            &shared_pins(std::slice::from_ref(&query)),
        );
        assert_eq!(lines[0].label, "p95, route=/a");
    }
}
