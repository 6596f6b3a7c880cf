//! One-pass evaluation of the shapes most range queries have. Evaluated
//! step by step, a range query slices, labels and groups every series again
//! at every step; here each series is read once, its windows slide over its
//! points step after step, and its labels are handled once:
//!
//! - `aggr [by|without (...)] (func(selector[range]))`, with `aggr` one of
//!   sum, avg, min, max, count and `func` a range function, anywhere in the
//!   expression: `Engine::range` computes such sub-expressions first and the
//!   step-by-step evaluation takes their values as they are;
//! - a whole query of one of these shapes, or a bare selector, or
//!   `histogram_quantile` of such an aggregate, answered without the step
//!   loop (`whole.rs`).
//!
//! The answers are the step-by-step ones: the same functions, the same
//! order of addition, the same empty windows.

use super::eval::{Evaluator, KahanSum, is_name, name_of};
use super::fill::Fill;
use super::functions::{RANGE_FUNCTIONS, extrapolated_delta_reusing, over_range};
use super::{At, LOOKBACK_MS, LabelSet, PromqlError, Sample, is_stale};
use crate::storage::METRIC_NAME;
use promql_parser::parser::{AggregateExpr, Expr, LabelModifier, VectorSelector};
use std::collections::{BTreeMap, HashMap};

mod whole;
pub(crate) use whole::{aggregate_range, call_range, quantile_range, selector_range};

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

/// The evaluation times of a range query: `start`, then every `step` up to `end`.
fn step_times((start, end, step): (i64, i64, i64)) -> Vec<i64> {
    (0..)
        .map(|k| start + k * step)
        .take_while(|&t| t <= end)
        .collect()
}

/// How far before each step a selector without `@` reads: its `offset`.
fn shift_of(vs: &VectorSelector, (start, end, step): (i64, i64, i64)) -> i64 {
    let at = At {
        t: start,
        start,
        end,
        step,
    };
    start - Evaluator::read_time(vs, at)
}

/// A series' value at each step of a range query, if it has one there.
type StepValues = Vec<Option<f64>>;

/// `func(selector[range])` over every step of a range query.
struct RangeCall<'e> {
    name: &'static str,
    selector: &'e VectorSelector,
    range: i64,
    /// How far the selector reads before each step (`offset`).
    shift: i64,
    steps: Vec<i64>,
}

impl<'e> RangeCall<'e> {
    /// The call, if `expr` is a range function of one matrix selector
    /// without `@`.
    fn of(expr: &'e Expr, range: (i64, i64, i64)) -> Option<Self> {
        let Expr::Call(call) = expr else {
            return None;
        };
        let [arg] = call.args.args.as_slice() else {
            return None;
        };
        let Expr::MatrixSelector(ms) = arg.as_ref() else {
            return None;
        };
        if !RANGE_FUNCTIONS.contains(&call.func.name) || ms.vs.at.is_some() {
            return None;
        }
        Some(RangeCall {
            name: call.func.name,
            selector: &ms.vs,
            range: ms.range.as_millis() as i64,
            shift: shift_of(&ms.vs, range),
            steps: step_times(range),
        })
    }

    /// Reads every series and works out its value at every step as it is
    /// read, with the key `key` makes of its labels; series with no
    /// sample left out.
    fn read<K: Send>(
        &self,
        ev: &Evaluator<'_>,
        key: impl Fn(LabelSet) -> K + Sync,
    ) -> Result<Vec<(K, StepValues)>, PromqlError> {
        let mut series = Vec::new();
        self.read_in_order(ev, key, |s| series.push(s))?;
        Ok(series)
    }

    /// Hands each series with a sample, as `(key(labels), values)`, to
    /// `sink` in series order as soon as it is read (`read_in_order`).
    fn read_in_order<K: Send>(
        &self,
        ev: &Evaluator<'_>,
        key: impl Fn(LabelSet) -> K + Sync,
        mut sink: impl FnMut((K, StepValues)) + Send,
    ) -> Result<(), PromqlError> {
        let (first, last) = (self.steps[0], self.steps[self.steps.len() - 1]);
        let span = (first - self.shift - self.range, last - self.shift);
        ev.read_in_order(
            self.selector,
            span,
            Fill::for_function(self.name),
            |labels, points| {
                let values = self.values(points)?;
                Some((key(labels), values))
            },
            |series| series.into_iter().for_each(&mut sink),
        )
    }

    /// One series' value at every step; `None` if it has no sample.
    fn values(&self, points: &[(i64, f64)]) -> Option<StepValues> {
        // Most counters never reset within a query: then no window needs
        // searching for resets. One pass over the samples finds that and
        // staleness markers (a marker is NaN, which never compares less).
        let (mut stale, mut falls, mut before) = (false, false, f64::NEG_INFINITY);
        for &(_, v) in points {
            stale |= is_stale(v);
            falls |= v < before;
            before = v;
        }
        let fresh: Vec<(i64, f64)>;
        let (points, rises) = match stale {
            true => {
                fresh = points.iter().copied().filter(|p| !is_stale(p.1)).collect();
                let rises = !fresh.windows(2).any(|w| w[1].1 < w[0].1);
                (&fresh[..], rises)
            }
            false => (points, !falls),
        };
        if points.is_empty() {
            return None;
        }
        // The function picked once, not by name at every step: the loop is
        // then made for it (rate and increase are most queries' functions).
        let values = match self.name {
            "rate" | "increase" => {
                let per_second = self.name == "rate";
                let mut stretch = None;
                self.windows(points, |window, (start, end, range)| {
                    let edges = (start, end);
                    extrapolated_delta_reusing(
                        window,
                        edges,
                        (true, rises),
                        per_second,
                        range,
                        &mut stretch,
                    )
                })
            }
            name => self.windows(points, |window, edges| {
                over_range(name, window, edges, rises)
            }),
        };
        Some(values)
    }

    /// `f` of every step's window of `points`, as `(start, end, range)`;
    /// `None` where the window holds no sample.
    #[inline(always)]
    fn windows(
        &self,
        points: &[(i64, f64)],
        mut f: impl FnMut(&[(i64, f64)], (i64, i64, i64)) -> Option<f64>,
    ) -> StepValues {
        let range = self.range;
        let (mut lo, mut hi) = (0, 0);
        self.steps
            .iter()
            .map(|&t| {
                let read_at = t - self.shift;
                while lo < points.len() && points[lo].0 <= read_at - range {
                    lo += 1;
                }
                hi = hi.max(lo);
                while hi < points.len() && points[hi].0 <= read_at {
                    hi += 1;
                }
                // A window without samples has no value, whatever the
                // function would make of an empty list (as `range_vector`).
                if lo == hi {
                    return None;
                }
                f(&points[lo..hi], (read_at - range, read_at, range))
            })
            .collect()
    }
}

/// The aggregate's value at every step, if it has the shape.
fn aggregate(
    ev: &Evaluator<'_>,
    agg: &AggregateExpr,
    range: (i64, i64, i64),
) -> Result<Option<BTreeMap<i64, Vec<Sample>>>, PromqlError> {
    let Some(Groups { steps, op, folds }) = aggregate_groups(ev, agg, range)? else {
        return Ok(None);
    };
    let mut out: BTreeMap<i64, Vec<Sample>> = steps.iter().map(|&t| (t, Vec::new())).collect();
    for (labels, per_step) in folds {
        for (k, fold) in per_step.into_iter().enumerate() {
            if let Some(v) = fold.value(&op) {
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

/// An aggregation's groups with their members' values folded at every step.
struct Groups {
    steps: Vec<i64>,
    /// The aggregation: sum, avg, min, max or count.
    op: String,
    /// Per group (its labels, in order), one fold per step.
    folds: BTreeMap<LabelSet, Vec<Fold>>,
}

/// The groups of `aggr [by|without (...)] (func(selector[range]))` at every
/// step, if the aggregate has that shape.
fn aggregate_groups(
    ev: &Evaluator<'_>,
    agg: &AggregateExpr,
    (start, end, step): (i64, i64, i64),
) -> Result<Option<Groups>, PromqlError> {
    let op = agg.op.to_string();
    if agg.param.is_some() || !matches!(op.as_str(), "sum" | "avg" | "min" | "max" | "count") {
        return Ok(None);
    }
    let keeps_name = matches!(&agg.modifier, Some(LabelModifier::Include(l)) if l.labels.iter().any(|n| n == METRIC_NAME));
    let Some(call) = RangeCall::of(&agg.expr, (start, end, step)).filter(|_| !keeps_name) else {
        return Ok(None);
    };
    // Each series' value at every step, worked out as it is read and
    // folded into its group's, per step, in series order.
    let mut folds: BTreeMap<LabelSet, Vec<Fold>> = BTreeMap::new();
    let steps = call.steps.len();
    // Only `min` and `max` need the extremes: the others skip them.
    let extremes = matches!(op.as_str(), "min" | "max");
    call.read_in_order(
        ev,
        |labels| group_key(&labels, agg.modifier.as_ref()),
        |(key, values)| {
            let per_step = folds.entry(key).or_insert_with(|| vec![Fold::EMPTY; steps]);
            let added = per_step
                .iter_mut()
                .zip(values)
                .filter_map(|(fold, v)| Some((fold, v?)));
            match extremes {
                true => added.for_each(|(fold, v)| fold.add(v)),
                false => added.for_each(|(fold, v)| fold.add_to_sum(v)),
            }
        },
    )?;
    Ok(Some(Groups {
        steps: call.steps,
        op,
        folds,
    }))
}

/// `sum`, `avg`, `min`, `max` and `count` of values added one at a time,
/// as `reduce` computes them from the list: the same sums in the same
/// order. Folding as series arrive keeps no list per step, which had made
/// a large aggregation allocate for every series at every step.
#[derive(Clone, Copy)]
struct Fold {
    sum: KahanSum,
    n: u64,
    min: f64,
    max: f64,
}

impl Fold {
    const EMPTY: Fold = Fold {
        sum: KahanSum::ZERO,
        n: 0,
        min: f64::NAN,
        max: f64::NAN,
    };

    /// Adds `v` to the sum and the count only: enough for `sum`, `avg` and
    /// `count`.
    fn add_to_sum(&mut self, v: f64) {
        self.sum.add(v);
        self.n += 1;
    }

    fn add(&mut self, v: f64) {
        self.add_to_sum(v);
        if self.min.is_nan() || v < self.min {
            self.min = v;
        }
        if self.max.is_nan() || v > self.max {
            self.max = v;
        }
    }

    fn value(&self, op: &str) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let sum = self.sum.value();
        match op {
            "sum" => Some(sum),
            "avg" => Some(sum / self.n as f64),
            "min" => Some(self.min),
            "max" => Some(self.max),
            "count" => Some(self.n as f64),
            _ => None,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::super::eval::reduce;
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Folding values one by one gives `reduce`'s answers bit for bit,
        /// with or without the extremes.
        #[test]
        fn a_fold_reduces_as_reduce_does(values in prop::collection::vec(
            prop_oneof![any::<f64>(), -1e6f64..1e6, Just(f64::NAN), Just(f64::INFINITY)],
            0..40,
        )) {
            let (mut fold, mut summed) = (Fold::EMPTY, Fold::EMPTY);
            for &v in &values {
                fold.add(v);
                summed.add_to_sum(v);
            }
            for op in ["sum", "avg", "min", "max", "count"] {
                let (a, b) = (fold.value(op), reduce(op, &values));
                prop_assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits), "{}", op);
            }
            // Without the extremes, as `sum`, `avg` and `count` fold.
            for op in ["sum", "avg", "count"] {
                let (a, b) = (summed.value(op), reduce(op, &values));
                prop_assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits), "{}", op);
            }
        }
    }
}
