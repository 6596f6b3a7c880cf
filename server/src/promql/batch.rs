//! One-pass evaluation of the shape most range queries have:
//! `aggr [by|without (...)] (func(selector[range]))`, with `aggr` one of sum,
//! avg, min, max, count and `func` a range function. Evaluated step by step,
//! that shape slices, labels and groups every series again at every step;
//! here each series is read once, grouped once, and its windows slide over
//! its points, step after step. `Engine::range` computes such sub-expressions
//! first; the step-by-step evaluation then takes their values as they are.
//! The answers are the step-by-step ones: the same functions, the same
//! order of addition.

use super::eval::{Evaluator, is_name, name_of, reduce};
use super::fill::Fill;
use super::functions::{RANGE_FUNCTIONS, over_range};
use super::{At, LOOKBACK_MS, LabelSet, PromqlError, Sample, Series, is_stale};
use crate::storage::METRIC_NAME;
use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};
use std::collections::{BTreeMap, HashMap};

/// Values of sub-expressions at every step, by the address of their node.
pub(crate) type Precomputed = HashMap<usize, BTreeMap<i64, Vec<Sample>>>;

/// Finds the sub-expressions of `expr` that have the shape and evaluates
/// each for every step of `[start, end]`.
pub(crate) fn precompute(
    ev: &Evaluator<'_>,
    expr: &Expr,
    (start, end, step): (i64, i64, i64),
) -> Result<Precomputed, PromqlError> {
    let mut out = Precomputed::new();
    walk(ev, expr, (start, end, step), &mut out)?;
    Ok(out)
}

fn walk(
    ev: &Evaluator<'_>,
    expr: &Expr,
    range: (i64, i64, i64),
    out: &mut Precomputed,
) -> Result<(), PromqlError> {
    match expr {
        Expr::Aggregate(agg) => {
            if let Some(values) = aggregate(ev, agg, range)? {
                out.insert(agg as *const AggregateExpr as usize, values);
            } else {
                walk(ev, &agg.expr, range, out)?;
            }
        }
        Expr::Paren(p) => walk(ev, &p.expr, range, out)?,
        Expr::Unary(u) => walk(ev, &u.expr, range, out)?,
        Expr::Binary(b) => {
            walk(ev, &b.lhs, range, out)?;
            walk(ev, &b.rhs, range, out)?;
        }
        Expr::Call(call) => {
            for arg in &call.args.args {
                walk(ev, arg, range, out)?;
            }
        }
        // Subqueries evaluate at their own times; the rest are leaves.
        _ => {}
    }
    Ok(())
}

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
    let vs = match expr {
        Expr::Paren(p) => return selector_range(ev, &p.expr, (start, end, step)),
        Expr::VectorSelector(vs) if vs.at.is_none() => vs,
        _ => return Ok(None),
    };
    let at = At {
        t: start,
        start,
        end,
        step,
    };
    let shift = start - Evaluator::read_time(vs, at);
    let steps: Vec<i64> = (0..)
        .map(|k| start + k * step)
        .take_while(|&t| t <= end)
        .collect();
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

/// The aggregate's value at every step, if it has the shape.
fn aggregate(
    ev: &Evaluator<'_>,
    agg: &AggregateExpr,
    (start, end, step): (i64, i64, i64),
) -> Result<Option<BTreeMap<i64, Vec<Sample>>>, PromqlError> {
    let op = agg.op.to_string();
    if agg.param.is_some() || !matches!(op.as_str(), "sum" | "avg" | "min" | "max" | "count") {
        return Ok(None);
    }
    let Expr::Call(call) = agg.expr.as_ref() else {
        return Ok(None);
    };
    let name = call.func.name;
    let [arg] = call.args.args.as_slice() else {
        return Ok(None);
    };
    let Expr::MatrixSelector(ms) = arg.as_ref() else {
        return Ok(None);
    };
    let keeps_name = matches!(&agg.modifier, Some(LabelModifier::Include(l)) if l.labels.iter().any(|n| n == METRIC_NAME));
    if !RANGE_FUNCTIONS.contains(&name) || ms.vs.at.is_some() || keeps_name {
        return Ok(None);
    }
    let range = ms.range.as_millis() as i64;
    let at = |t| At {
        t,
        start,
        end,
        step,
    };
    let shift = start - Evaluator::read_time(&ms.vs, at(start));
    let steps: Vec<i64> = (0..)
        .map(|k| start + k * step)
        .take_while(|&t| t <= end)
        .collect();
    // Each series' value at every step, worked out as it is read.
    let series = ev.read_each(
        &ms.vs,
        (start - shift - range, end - shift),
        Fill::for_function(name),
        |labels, points| {
            let fresh: Vec<(i64, f64)>;
            let points = match points.iter().any(|p| is_stale(p.1)) {
                true => {
                    fresh = points.iter().copied().filter(|p| !is_stale(p.1)).collect();
                    &fresh[..]
                }
                false => points,
            };
            if points.is_empty() {
                return None;
            }
            // Most counters never reset within a query: then no window
            // needs searching for resets.
            let rises = !points.windows(2).any(|w| w[1].1 < w[0].1);
            let (mut lo, mut hi) = (0, 0);
            let values: Vec<Option<f64>> = steps
                .iter()
                .map(|&t| {
                    let read_at = t - shift;
                    while lo < points.len() && points[lo].0 <= read_at - range {
                        lo += 1;
                    }
                    hi = hi.max(lo);
                    while hi < points.len() && points[hi].0 <= read_at {
                        hi += 1;
                    }
                    over_range(
                        name,
                        &points[lo..hi],
                        (read_at - range, read_at, range),
                        rises,
                    )
                })
                .collect();
            Some((group_key(&labels, agg.modifier.as_ref()), values))
        },
    )?;
    // Per group, per step, the members' values in series order.
    let mut groups: BTreeMap<LabelSet, Vec<Vec<f64>>> = BTreeMap::new();
    for (key, values) in series.into_iter().flatten() {
        let members = groups
            .entry(key)
            .or_insert_with(|| vec![Vec::new(); steps.len()]);
        for (k, v) in values.into_iter().enumerate() {
            if let Some(v) = v {
                members[k].push(v);
            }
        }
    }
    let mut out: BTreeMap<i64, Vec<Sample>> = steps.iter().map(|&t| (t, Vec::new())).collect();
    for (labels, per_step) in groups {
        for (k, values) in per_step.into_iter().enumerate() {
            if let Some(v) = reduce(&op, &values) {
                out.get_mut(&steps[k]).expect("every step").push(Sample {
                    labels: labels.clone(),
                    t: steps[k],
                    v,
                });
            }
        }
    }
    Ok(Some(out))
}

/// The labels an aggregation groups a sample by.
/// `by (__name__)` groups by the name, dropped or not.
pub(crate) fn group_key(labels: &LabelSet, modifier: Option<&LabelModifier>) -> LabelSet {
    match modifier {
        None => LabelSet::new(),
        Some(LabelModifier::Include(keep)) => {
            let mut key: LabelSet = labels
                .iter()
                .filter(|(k, _)| keep.labels.contains(k) && !is_name(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if keep.labels.iter().any(|l| l == METRIC_NAME)
                && let Some(name) = name_of(labels)
            {
                key.insert(METRIC_NAME.to_string(), name.clone());
            }
            key
        }
        Some(LabelModifier::Exclude(drop)) => labels
            .iter()
            .filter(|(k, _)| !is_name(k) && !drop.labels.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}
