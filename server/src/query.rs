//! Query helpers for the JSON API: parameter parsing (times, matchers, bounds)
//! and shape-keeping downsampling of a series to a point budget.

use crate::ingest::parse_time_text;
use crate::storage::{Bucket as AggBucket, Matcher, Resolution, Sample, counter_delta};

/// Bounds on what one query may cost.
pub const DEFAULT_MAX_POINTS: usize = 1000;
pub const MAX_POINTS: usize = 5000;
pub const MAX_SERIES_PER_QUERY: usize = 2000;
pub const DEFAULT_RAW_LIMIT: usize = 10_000;
pub const MAX_RAW_LIMIT: usize = 100_000;
pub const MAX_RANGE_MS: i64 = 400 * 24 * 3600 * 1000;

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct QueryError(pub String);

fn err(message: impl Into<String>) -> QueryError {
    QueryError(message.into())
}

/// A time parameter: RFC 3339 or unix seconds.
pub fn parse_time_param(name: &str, text: &str) -> Result<i64, QueryError> {
    parse_time_text(text).map_err(|e| err(format!("parameter {name}: {e}")))
}

/// Resolves `start`/`end` (defaults: the last hour) and checks the range.
pub fn parse_range(
    start: Option<&str>,
    end: Option<&str>,
    now_ms: i64,
) -> Result<(i64, i64), QueryError> {
    let end = end
        .map(|e| parse_time_param("end", e))
        .transpose()?
        .unwrap_or(now_ms);
    let start = start
        .map(|s| parse_time_param("start", s))
        .transpose()?
        .unwrap_or(end.saturating_sub(3600 * 1000));
    if end < start {
        return Err(err("end is before start"));
    }
    if end - start > MAX_RANGE_MS {
        return Err(err(format!(
            "range longer than {} days",
            MAX_RANGE_MS / 86_400_000
        )));
    }
    Ok((start, end))
}

/// A bounded integer parameter.
pub fn parse_count(
    name: &str,
    text: Option<&str>,
    default: usize,
    max: usize,
) -> Result<usize, QueryError> {
    let Some(text) = text else { return Ok(default) };
    let n: usize = text.parse().map_err(|_| {
        err(format!(
            "parameter {name}: {text:?} is not a positive integer"
        ))
    })?;
    if n == 0 || n > max {
        return Err(err(format!("parameter {name} must be between 1 and {max}")));
    }
    Ok(n)
}

const PLACEHOLDER: &str = "tinyobs_match_placeholder";

/// Parses one `match` parameter: a PromQL selector (`{job="api",code=~"5.."}`),
/// one matcher (`job="api"`), or the unquoted shorthand `job=api`.
pub fn parse_matchers(text: &str) -> Result<Vec<Matcher>, QueryError> {
    let text = text.trim();
    let inner = if let Some(inner) = text.strip_prefix('{') {
        inner
            .strip_suffix('}')
            .ok_or_else(|| err(format!("match {text:?}: missing closing brace")))?
            .to_string()
    } else if text.contains(['"', '\'', '`']) {
        text.to_string()
    } else {
        // Shorthand: quote everything after the operator.
        let at = text
            .find(['=', '!'])
            .ok_or_else(|| err(format!("match {text:?}: expected label=value")))?;
        let (name, rest) = text.split_at(at);
        let op_len = if rest.starts_with("=~") || rest.starts_with("!=") || rest.starts_with("!~") {
            2
        } else {
            1
        };
        let (op, value) = rest.split_at(op_len);
        format!("{name}{op}{value:?}")
    };
    // A placeholder metric name lets promql-parser accept selectors whose
    // matchers all match the empty string (`{env!="prod"}`); it is dropped below.
    let selector = format!("{PLACEHOLDER}{{{inner}}}");
    let expr =
        promql_parser::parser::parse(&selector).map_err(|e| err(format!("match {text:?}: {e}")))?;
    let promql_parser::parser::Expr::VectorSelector(vs) = expr else {
        return Err(err(format!("match {text:?}: not a series selector")));
    };
    let mut out = Vec::new();
    for m in vs
        .matchers
        .matchers
        .into_iter()
        .filter(|m| !(m.name == crate::storage::METRIC_NAME && m.value == PLACEHOLDER))
    {
        out.push(convert_matcher(m).map_err(err)?);
    }
    Ok(out)
}

/// A promql-parser matcher as a storage matcher (regexes anchored, as PromQL's are).
pub fn convert_matcher(m: promql_parser::label::Matcher) -> Result<Matcher, String> {
    use promql_parser::label::MatchOp as Op;
    match m.op {
        Op::Equal => Ok(Matcher::equal(m.name, m.value)),
        Op::NotEqual => Ok(Matcher::not_equal(m.name, m.value)),
        Op::Re(_) => Matcher::regex(m.name, &m.value, false).map_err(|e| e.to_string()),
        Op::NotRe(_) => Matcher::regex(m.name, &m.value, true).map_err(|e| e.to_string()),
    }
}

/// Reduces a stream of samples to at most `max_points` points, keeping the
/// shape: the range is cut into `max_points / 2` equal time buckets and each
/// bucket keeps its minimum and its maximum, in time order. Unlike averaging
/// or picking every n-th sample, a one-sample spike always survives. A bucket
/// holding only NaN/infinite/stale samples yields one `None` point (a gap).
/// Series with no more than `max_points` samples are returned as they are.
pub struct Downsampler {
    start: i64,
    end: i64,
    max_points: usize,
    raw: Vec<Sample>,
    buckets: Option<Vec<Bucket>>,
    pub samples: u64,
}

#[derive(Clone, Copy, Default)]
struct Bucket {
    min: Option<Sample>,
    max: Option<Sample>,
    gap: Option<i64>,
}

impl Downsampler {
    pub fn new(start: i64, end: i64, max_points: usize) -> Self {
        Downsampler {
            start,
            end,
            max_points: max_points.max(2),
            raw: Vec::new(),
            buckets: None,
            samples: 0,
        }
    }

    pub fn push(&mut self, s: Sample) {
        self.samples += 1;
        match &mut self.buckets {
            Some(_) => self.add_to_bucket(s),
            None => {
                self.raw.push(s);
                if self.raw.len() > self.max_points {
                    self.buckets = Some(vec![Bucket::default(); self.max_points / 2]);
                    for s in std::mem::take(&mut self.raw) {
                        self.add_to_bucket(s);
                    }
                }
            }
        }
    }

    fn add_to_bucket(&mut self, s: Sample) {
        let buckets = self.buckets.as_mut().expect("bucket mode");
        let n = buckets.len() as i128;
        let span = i128::from(self.end - self.start) + 1;
        let i = ((i128::from(s.t - self.start) * n) / span).clamp(0, n - 1) as usize;
        let b = &mut buckets[i];
        if !s.v.is_finite() {
            b.gap.get_or_insert(s.t);
            return;
        }
        if b.min.is_none_or(|m| s.v < m.v) {
            b.min = Some(s);
        }
        if b.max.is_none_or(|m| s.v > m.v) {
            b.max = Some(s);
        }
    }

    pub fn extend(&mut self, samples: impl IntoIterator<Item = Sample>) {
        for s in samples {
            self.push(s);
        }
    }

    pub fn is_downsampled(&self) -> bool {
        self.buckets.is_some()
    }

    pub fn finish(self) -> Vec<(i64, Option<f64>)> {
        let finite = |v: f64| v.is_finite().then_some(v);
        match self.buckets {
            None => self.raw.into_iter().map(|s| (s.t, finite(s.v))).collect(),
            Some(buckets) => {
                let mut out = Vec::with_capacity(self.max_points);
                for b in buckets {
                    match (b.min, b.max, b.gap) {
                        (Some(lo), Some(hi), _) => {
                            let (a, c) = if lo.t <= hi.t { (lo, hi) } else { (hi, lo) };
                            out.push((a.t, Some(a.v)));
                            if c.t != a.t {
                                out.push((c.t, Some(c.v)));
                            }
                        }
                        (_, _, Some(t)) => out.push((t, None)),
                        _ => {}
                    }
                }
                out
            }
        }
    }
}

/// Which resolution serves which part of `[start, end]`, as inclusive
/// `(resolution, from, to)` in time order, with neither overlap nor gap. At
/// each time the first resolution that covers it wins, in this order: the
/// `preferred` one, the finer ones (fresher), then the coarser ones (older).
/// `coverage` is per resolution `[from, until)` (see `Storage::coverage`).
pub fn plan_resolutions(
    start: i64,
    end: i64,
    preferred: Resolution,
    coverage: &[(Resolution, i64, i64)],
) -> Vec<(Resolution, i64, i64)> {
    let mut order: Vec<Resolution> = vec![preferred];
    order.extend(Resolution::ALL.iter().rev().filter(|r| **r < preferred));
    order.extend(Resolution::ALL.iter().filter(|r| **r > preferred));
    let covers = |r: Resolution, t: i64| {
        coverage
            .iter()
            .any(|&(res, from, until)| res == r && from <= t && t < until)
    };
    let mut cuts: Vec<i64> = coverage
        .iter()
        .flat_map(|&(_, from, until)| [from, until])
        .filter(|&t| t > start && t <= end)
        .chain([start, end.saturating_add(1)])
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: Vec<(Resolution, i64, i64)> = Vec::new();
    for pair in cuts.windows(2) {
        let (from, to) = (pair[0], pair[1] - 1);
        let Some(&r) = order.iter().find(|&&r| covers(r, from)) else {
            continue;
        };
        match out.last_mut() {
            Some(last) if last.0 == r && last.2 + 1 == from => last.2 = to,
            _ => out.push((r, from, to)),
        }
    }
    // A coarse bucket read up to a cut also holds samples after it: move
    // each cut after a coarser part up to that part's bucket edge, so that
    // no sample is counted twice.
    for i in 1..out.len() {
        let (coarse, next) = (out[i - 1], out[i]);
        if coarse.0 > next.0 && coarse.2 + 1 == next.1 {
            let step = coarse.0.step_ms();
            let edge = (next.1 + step - 1).div_euclid(step) * step;
            let cut = edge.min(next.2 + 1);
            out[i - 1].2 = cut - 1;
            out[i].1 = cut;
        }
    }
    out.retain(|&(_, from, to)| from <= to);
    out
}

/// The resolution a range query wants: the coarsest whose step still fits
/// `max_points` points across the range.
pub fn preferred_resolution(start: i64, end: i64, max_points: usize) -> Resolution {
    let step = (end - start) / max_points.max(1) as i64;
    [Resolution::OneHour, Resolution::FiveMinutes]
        .into_iter()
        .find(|r| step >= r.step_ms())
        .unwrap_or(Resolution::Raw)
}

/// Turns a counter's samples into per-second rates between consecutive
/// samples, as Prometheus's `irate` does; a drop is a counter reset, so the
/// increase is the new value. A non-finite sample (a stale marker) is a gap
/// and restarts the rate. The first sample yields nothing.
#[derive(Default)]
pub struct Rate {
    prev: Option<Sample>,
}

impl Rate {
    pub fn next(&mut self, s: Sample) -> Option<Sample> {
        if !s.v.is_finite() {
            self.prev = None;
            return Some(s);
        }
        let prev = self.prev.replace(s)?;
        let increase = if s.v >= prev.v { s.v - prev.v } else { s.v };
        Some(Sample {
            t: s.t,
            v: increase * 1000.0 / (s.t - prev.t) as f64,
        })
    }

    /// The rate over an aggregate bucket, placed at its last sample: its
    /// increase plus the growth from the previous point (raw or bucket), over
    /// the time since that point; with no previous point, over the bucket's
    /// own span (a lone sample gives no rate).
    pub fn next_bucket(&mut self, b: &AggBucket) -> Option<Sample> {
        let last = Sample {
            t: b.last_t,
            v: b.last,
        };
        let (increase, since) = match self.prev.replace(last) {
            Some(p) if p.t < b.first_t => {
                (counter_delta(p.v, b.first) + b.increase, b.last_t - p.t)
            }
            _ if b.last_t > b.first_t => (b.increase, b.last_t - b.first_t),
            _ => return None,
        };
        Some(Sample {
            t: b.last_t,
            v: increase * 1000.0 / since as f64,
        })
    }
}

/// Quantiles of a histogram over time, as Prometheus's
/// `histogram_quantile(q, rate(x_bucket[step]))` computes them: on a grid of
/// `step` ms, each bucket's increase in the window ending at each grid point,
/// then linear interpolation inside the bucket where the rank `q * total`
/// falls.
pub struct QuantileGrid {
    start: i64,
    step: i64,
    /// Per bucket (upper bound `le`), the increase per grid window.
    buckets: Vec<(f64, Vec<f64>)>,
}

impl QuantileGrid {
    /// Points for `[start, end]`: one per `step`, the step never below a
    /// minute so that every window sees a few scrapes.
    pub fn new(start: i64, end: i64, max_points: usize) -> Self {
        let span = (end - start).max(1);
        let step = (span / (max_points.max(4) as i64 / 4)).max(60_000);
        QuantileGrid {
            start,
            step,
            buckets: Vec::new(),
        }
    }

    /// Grid spacing in ms.
    pub fn step(&self) -> i64 {
        self.step
    }

    fn windows(&self, end: i64) -> usize {
        ((end - self.start) / self.step + 1) as usize
    }

    /// Adds one bucket series (its samples in time order, from a little
    /// before `start` so that the first window has a base).
    pub fn add_bucket(&mut self, le: f64, samples: &[Sample], end: i64) {
        let mut increases = vec![0.0; self.windows(end)];
        let mut prev: Option<f64> = None;
        for s in samples {
            if !s.v.is_finite() {
                prev = None;
                continue;
            }
            if let Some(p) = prev
                && s.t >= self.start
            {
                // A drop is a counter reset: the new value is the increase.
                let increase = if s.v >= p { s.v - p } else { s.v };
                let i = ((s.t - self.start) + self.step - 1) / self.step;
                if let Some(slot) = increases.get_mut(i as usize) {
                    *slot += increase;
                }
            }
            prev = Some(s.v);
        }
        self.buckets.push((le, increases));
    }

    /// The `q`-quantile at each grid point; `None` where nothing was observed.
    pub fn quantiles(mut self, q: f64) -> Vec<(i64, Option<f64>)> {
        self.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let n = self.buckets.first().map_or(0, |b| b.1.len());
        (0..n)
            .map(|i| {
                let t = self.start + i as i64 * self.step;
                let counts: Vec<(f64, f64)> =
                    self.buckets.iter().map(|(le, inc)| (*le, inc[i])).collect();
                (t, bucket_quantile(q, &counts))
            })
            .collect()
    }
}

/// Prometheus's `bucketQuantile` on cumulative counts sorted by `le`: counts
/// are made monotonic, the `+Inf` bucket holds the total, and a rank in the
/// `+Inf` bucket answers the highest finite bound.
pub fn bucket_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let (last_le, total) = *buckets.last()?;
    // `total > 0` is false for NaN too.
    let observed = total > 0.0;
    if last_le != f64::INFINITY || buckets.len() < 2 || !observed || q.is_nan() {
        return None;
    }
    if q < 0.0 {
        return Some(f64::NEG_INFINITY);
    }
    if q > 1.0 {
        return Some(f64::INFINITY);
    }
    let mut cumulative = Vec::with_capacity(buckets.len());
    let mut running = 0.0f64;
    for &(le, count) in buckets {
        running = running.max(count);
        cumulative.push((le, running));
    }
    let total = running;
    let rank = q * total;
    let b = cumulative.iter().position(|&(_, c)| c >= rank)?;
    if b == cumulative.len() - 1 {
        return Some(cumulative[b - 1].0);
    }
    let (upper, count) = cumulative[b];
    let (lower, below) = match b {
        0 if upper <= 0.0 => return Some(upper),
        0 => (0.0, 0.0),
        _ => cumulative[b - 1],
    };
    if count == below {
        return Some(upper);
    }
    Some(lower + (upper - lower) * (rank - below) / (count - below))
}

/// Prometheus's text for a float: `NaN`, `+Inf`, `-Inf` or the shortest form.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_quantiles_interpolate_like_prometheus() {
        let inf = f64::INFINITY;
        // 100 observations: 50 at most 0.1, 90 at most 0.5, all at most 1.
        let buckets = [(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (inf, 100.0)];
        assert_eq!(bucket_quantile(0.5, &buckets), Some(0.1));
        assert!((bucket_quantile(0.7, &buckets).unwrap() - 0.3).abs() < 1e-12);
        assert!((bucket_quantile(0.95, &buckets).unwrap() - 0.75).abs() < 1e-12);
        // A rank in the +Inf bucket answers the highest finite bound.
        assert_eq!(bucket_quantile(0.99, &[(0.1, 5.0), (inf, 10.0)]), Some(0.1));
        assert_eq!(bucket_quantile(0.5, &[(0.1, 0.0), (inf, 0.0)]), None);
        assert_eq!(bucket_quantile(0.5, &[(0.1, 1.0)]), None, "no +Inf bucket");
    }

    #[test]
    fn quantile_grids_use_each_windows_increase() {
        let minute = 60_000;
        let mut grid = QuantileGrid::new(0, 2 * minute, 8);
        let series = |per_minute: [f64; 3]| -> Vec<Sample> {
            let mut total = 0.0;
            (0..3)
                .map(|i| {
                    total += per_minute[i];
                    Sample {
                        t: i as i64 * minute,
                        v: total,
                    }
                })
                .collect()
        };
        // Minute 1: everything fast (<= 0.1). Minute 2: everything slow.
        grid.add_bucket(0.1, &series([0.0, 10.0, 0.0]), 2 * minute);
        grid.add_bucket(1.0, &series([0.0, 10.0, 10.0]), 2 * minute);
        grid.add_bucket(f64::INFINITY, &series([0.0, 10.0, 10.0]), 2 * minute);
        let q = grid.quantiles(0.5);
        assert_eq!(q.len(), 3);
        assert_eq!(q[0], (0, None));
        assert_eq!(q[1], (minute, Some(0.05)));
        assert_eq!(q[2], (2 * minute, Some(0.55)));
    }

    #[test]
    fn rates_handle_resets_and_gaps() {
        let mut rate = Rate::default();
        let s = |t: i64, v: f64| Sample { t: t * 1000, v };
        let out: Vec<Option<f64>> = [
            s(0, 10.0),
            s(10, 30.0),
            s(20, 5.0),
            s(30, f64::NAN),
            s(40, 9.0),
            s(50, 19.0),
        ]
        .into_iter()
        .map(|x| rate.next(x).map(|r| r.v))
        .collect();
        assert_eq!(out[..3], [None, Some(2.0), Some(0.5)]);
        assert!(out[3].unwrap().is_nan());
        assert_eq!(out[4..], [None, Some(1.0)]);
    }

    #[test]
    fn a_spike_survives_downsampling() {
        let mut d = Downsampler::new(0, 99_999, 100);
        for t in 0..100_000 {
            d.push(Sample {
                t,
                v: if t == 54_321 { 1e9 } else { (t % 7) as f64 },
            });
        }
        assert!(d.is_downsampled());
        let points = d.finish();
        assert!(points.len() <= 100);
        assert!(points.contains(&(54_321, Some(1e9))));
        assert!(points.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn short_series_are_left_alone_and_gaps_are_none() {
        let mut d = Downsampler::new(0, 10, 100);
        d.push(Sample { t: 1, v: 1.0 });
        d.push(Sample { t: 2, v: f64::NAN });
        assert_eq!(d.finish(), vec![(1, Some(1.0)), (2, None)]);
    }

    #[test]
    fn parses_matchers_in_every_form() {
        let ms = parse_matchers(r#"{job="api",code=~"5.."}"#).unwrap();
        assert_eq!(ms.len(), 2);
        assert!(ms[1].matches("503") && !ms[1].matches("200"));
        let ms = parse_matchers("service=api").unwrap();
        assert!(ms[0].matches("api"));
        let ms = parse_matchers("env!=prod").unwrap();
        assert!(ms[0].matches("dev") && !ms[0].matches("prod"));
        assert!(parse_matchers("nonsense").is_err());
        assert!(parse_matchers(r#"a=~"(""#).is_err());
    }

    #[test]
    fn bounds_are_enforced() {
        assert!(parse_count("maxPoints", Some("0"), 10, 5000).is_err());
        assert!(parse_count("maxPoints", Some("5001"), 10, 5000).is_err());
        assert_eq!(parse_count("maxPoints", None, 1000, 5000), Ok(1000));
        assert!(parse_range(Some("10"), Some("5"), 0).is_err());
        assert_eq!(parse_range(Some("1"), Some("2"), 0), Ok((1000, 2000)));
    }

    #[test]
    fn plans_stitch_resolutions_without_overlap_or_gap() {
        use Resolution::{FiveMinutes as M5, OneHour as H1, Raw};
        let h = 3_600_000;
        // Raw from 10 h; 5 min buckets final over [4 h, 12 h); 1 h over [0, 9 h).
        let coverage = [(Raw, 10 * h, i64::MAX), (M5, 4 * h, 12 * h), (H1, 0, 9 * h)];
        assert_eq!(
            plan_resolutions(h, 20 * h, Raw, &coverage),
            vec![
                (H1, h, 4 * h - 1),
                (M5, 4 * h, 10 * h - 1),
                (Raw, 10 * h, 20 * h)
            ]
        );
        assert_eq!(
            plan_resolutions(h, 20 * h, M5, &coverage),
            vec![
                (H1, h, 4 * h - 1),
                (M5, 4 * h, 12 * h - 1),
                (Raw, 12 * h, 20 * h)
            ]
        );
        assert_eq!(
            plan_resolutions(h, 20 * h, H1, &coverage),
            vec![
                (H1, h, 9 * h - 1),
                (M5, 9 * h, 12 * h - 1),
                (Raw, 12 * h, 20 * h)
            ]
        );
        // 5 min data starting at 4 h 10 min: the 1 h bucket of 4 h holds it
        // too, so the cut moves to that bucket's end.
        let ragged = [
            (Raw, 10 * h, i64::MAX),
            (M5, 4 * h + h / 6, 12 * h),
            (H1, 0, 9 * h),
        ];
        assert_eq!(
            plan_resolutions(h, 20 * h, Raw, &ragged),
            vec![
                (H1, h, 5 * h - 1),
                (M5, 5 * h, 10 * h - 1),
                (Raw, 10 * h, 20 * h)
            ]
        );
        // Before any compaction: raw everywhere; nothing covers: nothing.
        let fresh = [(Raw, i64::MIN, i64::MAX), (M5, 0, 0), (H1, 0, 0)];
        assert_eq!(plan_resolutions(5, 9, H1, &fresh), vec![(Raw, 5, 9)]);
        let gone = [(Raw, 50, i64::MAX), (M5, 0, 0), (H1, 0, 0)];
        assert_eq!(plan_resolutions(5, 9, Raw, &gone), vec![]);
    }

    #[test]
    fn the_preferred_resolution_follows_the_step() {
        let hour = 3_600_000;
        assert_eq!(preferred_resolution(0, hour, 1000), Resolution::Raw);
        assert_eq!(
            preferred_resolution(0, 7 * 24 * hour, 1000),
            Resolution::FiveMinutes
        );
        assert_eq!(
            preferred_resolution(0, 90 * 24 * hour, 1000),
            Resolution::OneHour
        );
    }

    #[test]
    fn bucket_rates_continue_from_raw_samples() {
        let mut rate = Rate::default();
        rate.next(Sample { t: 0, v: 10.0 });
        let bucket = AggBucket {
            t: 1000,
            count: 3,
            sum: 0.0,
            min: 0.0,
            max: 0.0,
            first: 12.0,
            last: 3.0,
            first_t: 1000,
            last_t: 2000,
            increase: 5.0,
        };
        // 10 → 12 (+2), then +5 inside the bucket, over 2 s.
        let s = rate.next_bucket(&bucket).unwrap();
        assert_eq!((s.t, s.v), (2000, 3.5));
        // Alone, a bucket's rate is its increase over the span of its samples.
        assert_eq!(Rate::default().next_bucket(&bucket).unwrap().v, 5.0);
        let lone = AggBucket {
            first_t: 2000,
            ..bucket
        };
        assert_eq!(Rate::default().next_bucket(&lone), None);
        // A raw sample after the bucket continues from its last value (3).
        let next = rate.next(Sample { t: 3000, v: 4.0 }).unwrap();
        assert!((next.v - 1.0).abs() < 1e-12);
    }
}
