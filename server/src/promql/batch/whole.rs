//! Whole range queries of the shapes dashboards send most, answered
//! without the step-by-step loop, which at every step cloned, regrouped and
//! relabelled every series: a bare selector, `func(selector[range])`, an
//! aggregate of that, and `histogram_quantile` of such an aggregate.
//!
//! The answers are the step-by-step ones (the tests in `promql.rs` compare
//! them, query by query).

use super::{Groups, LOOKBACK_MS, RangeCall, aggregate_groups, is_stale, shift_of, step_times};
use crate::promql::eval::Evaluator;
use crate::promql::fill::Fill;
use crate::promql::{LabelSet, PromqlError, Series};
use crate::storage::METRIC_NAME;
use promql_parser::parser::Expr;
use std::collections::BTreeMap;

/// A range query of a bare selector (`metric{...}`, with or without
/// `offset`), answered whole: each series is read once and walked step by
/// step for its newest sample in the lookback window. Step by step, every
/// step would clone and regroup every series' labels. `None` for any other
/// expression.
pub(crate) fn selector_range(
    ev: &Evaluator<'_>,
    expr: &Expr,
    (start, end, step): (i64, i64, i64),
) -> Result<Option<Vec<Series>>, PromqlError> {
    let vs = match unparen(expr) {
        Expr::VectorSelector(vs) if vs.at.is_none() => vs,
        _ => return Ok(None),
    };
    let shift = shift_of(vs, (start, end, step));
    let steps = step_times((start, end, step));
    let read = (start - shift - LOOKBACK_MS, end - shift);
    let mut series: Vec<Series> = ev
        .read_each(vs, read, Fill::Last, |labels, points| {
            let mut hi = 0;
            let mut out = Vec::new();
            for &t in &steps {
                let read_at = t - shift;
                while hi < points.len() && points[hi].0 <= read_at {
                    hi += 1;
                }
                // The newest sample in (read_at - lookback, read_at].
                if let Some(&(sample_t, v)) = hi.checked_sub(1).map(|i| &points[i])
                    && sample_t > read_at - LOOKBACK_MS
                    && !is_stale(v)
                {
                    out.push((t, v));
                }
            }
            Series {
                labels,
                points: out,
            }
        })?
        .into_iter()
        .filter(|s| !s.points.is_empty())
        .collect();
    // The order the step-by-step evaluation gives: by label set.
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(Some(series))
}

/// A range query of `func(selector[range])` (one argument, no `@`),
/// answered whole as `selector_range` is. `None` for any other expression,
/// and where dropping the metric name makes two series alike: the step by
/// step evaluation then reports that as Prometheus does.
pub(crate) fn call_range(
    ev: &Evaluator<'_>,
    expr: &Expr,
    range: (i64, i64, i64),
) -> Result<Option<Vec<Series>>, PromqlError> {
    let Some(call) = RangeCall::of(unparen(expr), range) else {
        return Ok(None);
    };
    let keep_name = matches!(call.name, "last_over_time" | "first_over_time");
    let mut series: Vec<Series> = call
        .read(ev, |mut labels| {
            if !keep_name {
                labels.remove(METRIC_NAME);
            }
            labels
        })?
        .into_iter()
        .filter_map(|(labels, values)| series_of(labels, &call.steps, values))
        .collect();
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    if series.windows(2).any(|w| w[0].labels == w[1].labels) {
        return Ok(None);
    }
    Ok(Some(series))
}

/// `histogram_quantile(φ, aggr by (..., le) (func(buckets[range])))`: the
/// way a latency histogram is read, in nearly every Grafana panel that
/// shows one. Step by step, each step cloned the aggregate's labelled
/// samples, grouped them by histogram and parsed every bucket's `le` again:
/// on the benchmark's 24 h a quarter of the query's time, on one core while
/// the other waited. Here the buckets are grouped and parsed once, and each
/// step only gathers its values, adds and orders them as `bucket_groups`
/// does, and takes `bucket_quantile` of them.
pub(crate) fn quantile_range(
    ev: &Evaluator<'_>,
    expr: &Expr,
    range: (i64, i64, i64),
) -> Result<Option<Vec<Series>>, PromqlError> {
    let Expr::Call(call) = unparen(expr) else {
        return Ok(None);
    };
    let ("histogram_quantile", [q, buckets]) = (call.func.name, &call.args.args[..]) else {
        return Ok(None);
    };
    let (Expr::NumberLiteral(q), Expr::Aggregate(agg)) = (unparen(q), unparen(buckets)) else {
        return Ok(None);
    };
    let Some(Groups { steps, op, folds }) = aggregate_groups(ev, agg, range)? else {
        return Ok(None);
    };
    // The buckets of each histogram (the labels but `le`), in the order the
    // step-by-step evaluation meets them: by the groups' labels.
    let mut histograms: BTreeMap<LabelSet, Vec<(f64, Vec<super::Fold>)>> = BTreeMap::new();
    for (mut labels, per_step) in folds {
        let Some(le) = labels
            .remove("le")
            .and_then(|le| crate::ingest::parse_float_text(&le))
        else {
            continue;
        };
        histograms.entry(labels).or_default().push((le, per_step));
    }
    let mut out = Vec::with_capacity(histograms.len());
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for (labels, members) in histograms {
        let mut points = Vec::new();
        for (k, &t) in steps.iter().enumerate() {
            buckets.clear();
            buckets.extend(
                members
                    .iter()
                    .filter_map(|(le, per_step)| Some((*le, per_step[k].value(&op)?))),
            );
            if buckets.is_empty() {
                continue;
            }
            crate::promql::functions::order_buckets(&mut buckets);
            let v = crate::query::bucket_quantile(q.val, &buckets).unwrap_or(f64::NAN);
            points.push((t, v));
        }
        if !points.is_empty() {
            out.push(Series { labels, points });
        }
    }
    Ok(Some(out))
}

/// A whole query that is `aggr [by|without (...)] (func(selector[range]))`:
/// each group's folds are its series, without the step loop, which cloned
/// every group's labels at every step. The groups' labels never hold the
/// metric name, dropped or not (`by (__name__)` does not take this path),
/// so they are the answer's labels as they are.
pub(crate) fn aggregate_range(
    ev: &Evaluator<'_>,
    expr: &Expr,
    range: (i64, i64, i64),
) -> Result<Option<Vec<Series>>, PromqlError> {
    let Expr::Aggregate(agg) = unparen(expr) else {
        return Ok(None);
    };
    let Some(Groups { steps, op, folds }) = aggregate_groups(ev, agg, range)? else {
        return Ok(None);
    };
    Ok(Some(
        folds
            .into_iter()
            .filter_map(|(labels, per_step)| {
                series_of(labels, &steps, per_step.iter().map(|f| f.value(&op)))
            })
            .collect(),
    ))
}

/// A series of the steps that have a value; `None` if none has.
fn series_of(
    labels: LabelSet,
    steps: &[i64],
    values: impl IntoIterator<Item = Option<f64>>,
) -> Option<Series> {
    let points: Vec<(i64, f64)> = steps
        .iter()
        .zip(values)
        .filter_map(|(&t, v)| Some((t, v?)))
        .collect();
    (!points.is_empty()).then_some(Series { labels, points })
}

fn unparen(expr: &Expr) -> &Expr {
    match expr {
        Expr::Paren(p) => unparen(&p.expr),
        e => e,
    }
}
