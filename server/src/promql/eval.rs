//! Evaluation of a parsed expression at one point in time.

use super::fill::{self, Fill};
use super::{
    At, DROPPED_NAME, LOOKBACK_MS, LabelSet, PromqlError, Sample, Series, Value, functions,
    is_stale,
};
use crate::query::convert_matcher;
use crate::storage::{METRIC_NAME, Matcher, Storage};
use promql_parser::parser::{
    AggregateExpr, AtModifier, BinaryExpr, Expr, LabelModifier, Offset, SubqueryExpr,
    VectorSelector,
};
use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Instant, UNIX_EPOCH};

/// Least series a read takes for its threads to read the chunk files ahead
/// (`storage::read_ahead`): with fewer, the neighbours of a series' chunks
/// in a file are seldom ones it reads.
const READ_AHEAD_MIN_SERIES: usize = 32;

/// Least work worth spreading over threads, in chunk windows to decode
/// (series × windows the span touches, at least one each): smaller reads,
/// such as a subquery's per-step reads of a few series, cost more to spawn
/// threads for than they take.
const PARALLEL_MIN_CHUNKS: i64 = 8;

pub(crate) struct Evaluator<'a> {
    storage: &'a Storage,
    /// Samples read so far by this query, against `max_samples`.
    samples_read: std::cell::Cell<u64>,
    /// Most samples one query may read (`MAX_SAMPLES` unless set).
    pub(crate) max_samples: u64,
    /// When the query gives up (`Engine::deadline`).
    pub(crate) deadline: Option<Instant>,
    /// Each selector's series over the whole query, read once: a range query
    /// evaluates its expression at every step, and each step only slices.
    /// Keyed by the selector's node in the parsed expression, the window's
    /// width and the fill.
    cache: std::cell::RefCell<HashMap<(usize, i64, Fill), Rc<Span>>>,
    /// Sub-expressions evaluated for every step at once (`batch.rs`).
    pub(crate) precomputed: super::batch::Precomputed,
}

/// A selector's series with their points in `(from, to]`.
struct Span {
    from: i64,
    to: i64,
    series: Vec<Series>,
}

impl<'a> Evaluator<'a> {
    pub(crate) fn new(storage: &'a Storage) -> Self {
        Evaluator {
            storage,
            samples_read: std::cell::Cell::new(0),
            max_samples: super::MAX_SAMPLES,
            deadline: None,
            cache: Default::default(),
            precomputed: Default::default(),
        }
    }

    /// `PromqlError::Timeout` once the deadline has passed.
    pub(crate) fn check_deadline(&self) -> Result<(), PromqlError> {
        check_deadline(self.deadline)
    }

    pub(crate) fn eval(&self, expr: &Expr, at: At) -> Result<Value, PromqlError> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Value::Scalar { t: at.t, v: n.val }),
            Expr::StringLiteral(s) => Ok(Value::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, at),
            Expr::Unary(u) => match self.eval(&u.expr, at)? {
                Value::Scalar { t, v } => Ok(Value::Scalar { t, v: -v }),
                Value::Vector(samples) => Ok(Value::Vector(super::functions::unique_label_sets(
                    samples
                        .into_iter()
                        .map(|s| Sample {
                            labels: drop_name(s.labels),
                            v: -s.v,
                            ..s
                        })
                        .collect(),
                )?)),
                _ => Err(PromqlError::Eval(
                    "unary minus needs a scalar or a vector".into(),
                )),
            },
            Expr::VectorSelector(vs) => self.instant_vector(vs, at),
            Expr::MatrixSelector(ms) => {
                let range = ms.range.as_millis() as i64;
                Ok(Value::Matrix(self.range_vector(
                    &ms.vs,
                    range,
                    at,
                    Fill::Last,
                )?))
            }
            Expr::Call(call) => functions::call(self, call, at),
            Expr::Aggregate(agg) => {
                let key = agg as *const AggregateExpr as usize;
                match self
                    .precomputed
                    .get(&key)
                    .and_then(|steps| steps.get(&at.t))
                {
                    Some(samples) => Ok(Value::Vector(samples.clone())),
                    None => self.aggregate(agg, at),
                }
            }
            Expr::Binary(bin) => self.binary(bin, at),
            Expr::Subquery(sq) => Ok(Value::Matrix(self.subquery(sq, at)?.0)),
            Expr::Extension(_) => Err(PromqlError::Unsupported("extensions".into())),
        }
    }

    /// The series a selector names, with their samples in `(mint, maxt]`
    /// (stale markers included). The first call of a range query reads the
    /// window of every step at once (without `@`, the window slides with
    /// the step), and later steps slice it.
    fn select(
        &self,
        vs: &VectorSelector,
        (mint, maxt): (i64, i64),
        fill: Fill,
        at: At,
    ) -> Result<Vec<Series>, PromqlError> {
        let width = maxt - mint;
        let key = (vs as *const VectorSelector as usize, width, fill);
        let cached = self.cache.borrow().get(&key).cloned();
        let span = match cached {
            Some(span) => span,
            None => {
                let (from, to) = match vs.at {
                    None => {
                        let shift = at.t - maxt;
                        (at.start - shift - width, at.end - shift)
                    }
                    Some(_) => (mint, maxt),
                };
                let span = Rc::new(Span {
                    from,
                    to,
                    series: self.read(vs, (from, to), fill)?,
                });
                self.cache.borrow_mut().insert(key, span.clone());
                span
            }
        };
        if mint < span.from || maxt > span.to {
            // A subquery step outside the query's range: read it directly.
            return self.read(vs, (mint, maxt), fill);
        }
        Ok(span
            .series
            .iter()
            .map(|s| {
                let lo = s.points.partition_point(|p| p.0 <= mint);
                let hi = s.points.partition_point(|p| p.0 <= maxt);
                Series {
                    labels: s.labels.clone(),
                    points: s.points[lo..hi].to_vec(),
                }
            })
            .collect())
    }

    /// Reads a selector's series with their samples in `(mint, maxt]`;
    /// before the raw horizon, points made from the aggregates as `fill` says.
    pub(crate) fn read(
        &self,
        vs: &VectorSelector,
        span: (i64, i64),
        fill: Fill,
    ) -> Result<Vec<Series>, PromqlError> {
        self.read_each(vs, span, fill, |labels, points| Series {
            labels,
            points: points.to_vec(),
        })
    }

    /// Reads as `read` does, but hands each series to `each` as soon as it
    /// is read and keeps only what `each` makes of it, in series order.
    pub(crate) fn read_each<R: Send>(
        &self,
        vs: &VectorSelector,
        span: (i64, i64),
        fill: Fill,
        each: impl Fn(LabelSet, &[(i64, f64)]) -> R + Sync,
    ) -> Result<Vec<R>, PromqlError> {
        let mut out = Vec::new();
        self.read_in_order(vs, span, fill, each, |r| out.push(r))?;
        Ok(out)
    }

    /// Reads as `read` does, hands each series to `each` as soon as it is
    /// read, and what `each` makes of it to `sink`, in series order.
    /// Series are read on several threads, one series per thread at a time:
    /// decoding chunks is most of a large query's time, series decode
    /// independently, and `aggr(func(selector[range]))` over thousands of
    /// series then holds neither their samples nor their results: `sink`
    /// folds each result in as soon as those before it are in.
    pub(crate) fn read_in_order<R: Send>(
        &self,
        vs: &VectorSelector,
        (mint, maxt): (i64, i64),
        fill: Fill,
        each: impl Fn(LabelSet, &[(i64, f64)]) -> R + Sync,
        sink: impl FnMut(R) + Send,
    ) -> Result<(), PromqlError> {
        if !vs.matchers.or_matchers.is_empty() {
            return Err(PromqlError::Unsupported("`or` inside a selector".into()));
        }
        let mut matchers: Vec<Matcher> = Vec::new();
        if let Some(name) = &vs.name {
            matchers.push(Matcher::equal(METRIC_NAME, name.clone()));
        }
        for m in &vs.matchers.matchers {
            matchers.push(convert_matcher(m.clone()).map_err(PromqlError::Eval)?);
        }
        let selected = self.storage.select_series(&matchers)?;
        let storage = self.storage;
        let horizon = storage.horizon();
        let read = AtomicU64::new(self.samples_read.get());
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let (max_samples, deadline) = (self.max_samples, self.deadline);
        let in_order = Mutex::new(InOrder {
            next: 0,
            waiting: BTreeMap::new(),
            sink,
        });
        // Each worker takes the next series until none is left.
        let read_series = || -> Result<(), PromqlError> {
            let mut points = Vec::new();
            while !failed.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((id, labels)) = selected.get(i) else {
                    break;
                };
                check_deadline(deadline)?;
                points.clear();
                if mint + 1 < horizon {
                    let span = (mint + 1, maxt.min(horizon - 1));
                    points.extend(fill::points(storage, *id, span, fill)?);
                }
                storage.extend_samples(*id, mint + 1, maxt, &mut points)?;
                let n = points.len() as u64;
                if read.fetch_add(n, Ordering::Relaxed) + n > max_samples {
                    return Err(PromqlError::Eval(format!(
                        "query processing would load too many samples into memory (more than {max_samples})",
                    )));
                }
                let result = each(labels.to_map(), &points);
                in_order
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .deliver(i, result);
            }
            Ok(())
        };
        let ahead = selected.len() >= READ_AHEAD_MIN_SERIES;
        let worker = || match ahead {
            true => crate::storage::read_ahead(read_series),
            false => read_series(),
        };
        let window = storage.config().chunk_window_ms.max(1);
        let chunks = (selected.len() as i64).saturating_mul((maxt - mint) / window + 1);
        let threads = match chunks >= PARALLEL_MIN_CHUNKS {
            true => crate::storage::worker_threads().min(selected.len()),
            false => 1,
        };
        let outcomes = match threads {
            0 | 1 => vec![worker()],
            // rayon's threads outlive the query: nothing to spawn, and their
            // decode buffers are still there for the next one. Queries share
            // them: one that comes while another reads waits its turn (the
            // two cores are busy either way), and a query past its deadline
            // stops at its next series rather than holding them.
            _ => {
                let outcomes = Mutex::new(Vec::with_capacity(threads));
                rayon::scope(|scope| {
                    for _ in 0..threads {
                        scope.spawn(|_| {
                            let outcome = std::panic::catch_unwind(AssertUnwindSafe(worker))
                                .unwrap_or_else(|_| {
                                    Err(PromqlError::Eval("a query thread panicked".into()))
                                });
                            if outcome.is_err() {
                                failed.store(true, Ordering::Relaxed);
                            }
                            outcomes
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .push(outcome);
                        });
                    }
                });
                outcomes
                    .into_inner()
                    .unwrap_or_else(PoisonError::into_inner)
            }
        };
        self.samples_read.set(read.load(Ordering::Relaxed));
        outcomes.into_iter().collect()
    }

    /// The time a selector reads at: `@` if given, minus `offset`.
    pub(crate) fn read_time(vs: &VectorSelector, at: At) -> i64 {
        shifted_time(vs.at.as_ref(), vs.offset.as_ref(), at)
    }

    /// A subquery's points: the inner expression evaluated at every multiple
    /// of its step in `(t - range, t]` (t moved by `@` and `offset`), with
    /// the range and t.
    pub(crate) fn subquery(
        &self,
        sq: &SubqueryExpr,
        at: At,
    ) -> Result<(Vec<Series>, i64, i64), PromqlError> {
        let end = shifted_time(sq.at.as_ref(), sq.offset.as_ref(), at);
        let range = sq.range.as_millis() as i64;
        // Without a step, the default evaluation interval: one minute.
        let step = sq.step.map_or(60_000, |d| d.as_millis() as i64).max(1);
        let mint = end - range;
        let mut t = mint.div_euclid(step) * step;
        if t <= mint {
            t += step;
        }
        let mut series: BTreeMap<LabelSet, Vec<(i64, f64)>> = BTreeMap::new();
        while t <= end {
            let inner = At { t, ..at };
            match self.eval(&sq.expr, inner)? {
                Value::Vector(samples) => {
                    for s in samples {
                        series.entry(s.labels).or_default().push((t, s.v));
                    }
                }
                Value::Scalar { v, .. } => series.entry(LabelSet::new()).or_default().push((t, v)),
                other => {
                    return Err(PromqlError::Eval(format!(
                        "subqueries need a scalar or an instant vector, got {}",
                        kind(&other)
                    )));
                }
            }
            t += step;
        }
        let series = series
            .into_iter()
            .map(|(labels, points)| Series { labels, points })
            .collect();
        Ok((series, range, end))
    }
}

/// The time a selector or subquery reads at: `@` if given, minus `offset`.
fn shifted_time(at_modifier: Option<&AtModifier>, offset: Option<&Offset>, at: At) -> i64 {
    {
        let base = match at_modifier {
            None => at.t,
            Some(AtModifier::Start) => at.start,
            Some(AtModifier::End) => at.end,
            Some(AtModifier::At(time)) => match time.duration_since(UNIX_EPOCH) {
                Ok(d) => d.as_millis() as i64,
                Err(e) => -(e.duration().as_millis() as i64),
            },
        };
        match offset {
            None => base,
            Some(Offset::Pos(d)) => base - d.as_millis() as i64,
            Some(Offset::Neg(d)) => base + d.as_millis() as i64,
        }
    }
}

impl Evaluator<'_> {
    /// Each series' newest sample in the lookback window, unless that sample
    /// is a stale marker (the series ended).
    fn instant_vector(&self, vs: &VectorSelector, at: At) -> Result<Value, PromqlError> {
        Ok(Value::Vector(self.selected(vs, at, false)?))
    }

    /// What an instant selector sees at `at`: each series' newest sample in
    /// the lookback window, stamped with the evaluation time, or with its own
    /// time when `sample_times` (what `timestamp()` reports).
    pub(crate) fn selected(
        &self,
        vs: &VectorSelector,
        at: At,
        sample_times: bool,
    ) -> Result<Vec<Sample>, PromqlError> {
        let t = Self::read_time(vs, at);
        let mut out = Vec::new();
        for series in self.select(vs, (t - LOOKBACK_MS, t), Fill::Last, at)? {
            if let Some(&(sample_t, v)) = series.points.last()
                && !is_stale(v)
            {
                out.push(Sample {
                    labels: series.labels,
                    t: if sample_times { sample_t } else { at.t },
                    v,
                });
            }
        }
        Ok(out)
    }

    /// Each series' samples in `(t - range, t]`, stale markers left out.
    pub(crate) fn range_vector(
        &self,
        vs: &VectorSelector,
        range: i64,
        at: At,
        fill: Fill,
    ) -> Result<Vec<Series>, PromqlError> {
        let t = Self::read_time(vs, at);
        Ok(self
            .select(vs, (t - range, t), fill, at)?
            .into_iter()
            .map(|s| Series {
                labels: s.labels,
                points: s.points.into_iter().filter(|p| !is_stale(p.1)).collect(),
            })
            .filter(|s| !s.points.is_empty())
            .collect())
    }

    pub(crate) fn vector(&self, expr: &Expr, at: At) -> Result<Vec<Sample>, PromqlError> {
        match self.eval(expr, at)? {
            Value::Vector(v) => Ok(v),
            other => Err(PromqlError::Eval(format!(
                "expected an instant vector, got {}",
                kind(&other)
            ))),
        }
    }

    pub(crate) fn scalar(&self, expr: &Expr, at: At) -> Result<f64, PromqlError> {
        match self.eval(expr, at)? {
            Value::Scalar { v, .. } => Ok(v),
            other => Err(PromqlError::Eval(format!(
                "expected a scalar, got {}",
                kind(&other)
            ))),
        }
    }

    fn aggregate(&self, agg: &AggregateExpr, at: At) -> Result<Value, PromqlError> {
        let op = agg.op.to_string();
        let input = self.vector(&agg.expr, at)?;
        let param = match &agg.param {
            Some(p) if op == "count_values" => Some(Value::String(match self.eval(p, at)? {
                Value::String(s) => s,
                _ => {
                    return Err(PromqlError::Eval(
                        "count_values needs a string label".into(),
                    ));
                }
            })),
            Some(p) => Some(Value::Scalar {
                t: at.t,
                v: self.scalar(p, at)?,
            }),
            None => None,
        };
        if matches!(op.as_str(), "topk" | "bottomk" | "limitk" | "limit_ratio")
            && let Some(Value::Scalar { v, .. }) = &param
            && v.is_nan()
        {
            return Err(PromqlError::Eval(format!("parameter value is NaN in {op}")));
        }
        let mut groups: BTreeMap<LabelSet, Vec<Sample>> = BTreeMap::new();
        for s in input {
            let key = super::batch::group_key(&s.labels, agg.modifier.as_ref());
            groups.entry(key).or_default().push(s);
        }
        let scalar_param = match &param {
            Some(Value::Scalar { v, .. }) => *v,
            _ => f64::NAN,
        };
        let mut out = Vec::new();
        for (labels, members) in groups {
            // Grouped by a name some member had dropped: it goes at the end.
            let labels = match labels.contains_key(METRIC_NAME)
                && members.iter().any(|m| m.labels.contains_key(DROPPED_NAME))
            {
                true => drop_name(labels),
                false => labels,
            };
            let values: Vec<f64> = members.iter().map(|s| s.v).collect();
            let v = match op.as_str() {
                "sum" | "avg" | "min" | "max" | "count" | "group" | "stdvar" | "stddev" => {
                    match reduce(&op, &values) {
                        Some(v) => v,
                        None => continue,
                    }
                }
                "quantile" => super::functions::quantile(scalar_param, values.clone()),
                "topk" | "bottomk" => {
                    // The members themselves, with their labels, k largest/smallest.
                    let k = scalar_param.max(0.0) as usize;
                    let mut members = members;
                    // NaN goes last either way, as in Prometheus.
                    members.sort_by(|a, b| match (a.v.is_nan(), b.v.is_nan()) {
                        (true, true) => std::cmp::Ordering::Equal,
                        (true, false) => std::cmp::Ordering::Greater,
                        (false, true) => std::cmp::Ordering::Less,
                        _ if op == "topk" => b.v.total_cmp(&a.v),
                        _ => a.v.total_cmp(&b.v),
                    });
                    out.extend(members.into_iter().take(k));
                    continue;
                }
                "count_values" => {
                    let Some(Value::String(label)) = &param else {
                        unreachable!()
                    };
                    let mut counts: BTreeMap<String, f64> = BTreeMap::new();
                    for v in &values {
                        *counts.entry(crate::query::format_value(*v)).or_default() += 1.0;
                    }
                    for (value, count) in counts {
                        let mut l = labels.clone();
                        l.insert(label.clone(), value);
                        out.push(Sample {
                            labels: l,
                            t: at.t,
                            v: count,
                        });
                    }
                    continue;
                }
                other => return Err(PromqlError::Unsupported(format!("aggregation {other}"))),
            };
            out.push(Sample { labels, t: at.t, v });
        }
        Ok(Value::Vector(out))
    }

    fn binary(&self, bin: &BinaryExpr, at: At) -> Result<Value, PromqlError> {
        let op = bin.op.to_string();
        let modifier = bin.modifier.as_ref();
        let return_bool = modifier.is_some_and(|m| m.return_bool);
        let lhs = self.eval(&bin.lhs, at)?;
        let rhs = self.eval(&bin.rhs, at)?;
        let compare = is_comparison(&op);
        match (lhs, rhs) {
            (Value::Scalar { v: a, .. }, Value::Scalar { v: b, .. }) => {
                let v = apply(&op, a, b)?;
                Ok(Value::Scalar {
                    t: at.t,
                    v: if compare {
                        v.map_or(0.0, |_| 1.0)
                    } else {
                        v.unwrap_or(f64::NAN)
                    },
                })
            }
            (Value::Vector(vec), Value::Scalar { v: b, .. }) => Ok(Value::Vector(scalar_op(
                vec,
                |a| apply(&op, a, b),
                compare,
                return_bool,
            )?)),
            (Value::Scalar { v: a, .. }, Value::Vector(vec)) => Ok(Value::Vector(scalar_op(
                vec,
                |b| apply(&op, a, b),
                compare,
                return_bool,
            )?)),
            (Value::Vector(left), Value::Vector(right)) => {
                if matches!(op.as_str(), "and" | "or" | "unless") {
                    return Ok(Value::Vector(set_op(&op, left, right, modifier)));
                }
                use promql_parser::parser::VectorMatchCardinality as Card;
                let card = modifier.map_or(&Card::OneToOne, |m| &m.card);
                // The "one" side is indexed by match key; every series of the
                // "many" side looks its partner up there.
                let (many, one, include, swapped) = match card {
                    Card::OneToMany(include) => (right, left, Some(include), true),
                    Card::ManyToOne(include) => (left, right, Some(include), false),
                    _ => (left, right, None, false),
                };
                let key = |s: &Sample| match_key(&s.labels, modifier);
                let mut one_by_key: BTreeMap<LabelSet, &Sample> = BTreeMap::new();
                for o in &one {
                    if one_by_key.insert(key(o), o).is_some() {
                        return Err(PromqlError::Eval(
                            "found duplicate series for the match group on the one side of the operation".into(),
                        ));
                    }
                }
                let mut seen = std::collections::BTreeSet::new();
                let mut out = Vec::new();
                for m in many {
                    let k = key(&m);
                    let Some(o) = one_by_key.get(&k) else {
                        continue;
                    };
                    if include.is_none() && !seen.insert(k) {
                        return Err(PromqlError::Eval(
                            "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                        ));
                    }
                    let (vl, vr) = if swapped { (o.v, m.v) } else { (m.v, o.v) };
                    let result = apply(&op, vl, vr)?;
                    let mut labels = match include {
                        None if compare && !return_bool => m.labels.clone(),
                        None => result_labels(&m.labels, modifier),
                        Some(_) if compare && !return_bool => m.labels.clone(),
                        Some(_) => drop_name(m.labels.clone()),
                    };
                    if let Some(include) = include {
                        for name in &include.labels {
                            match o.labels.get(name).filter(|v| !v.is_empty()) {
                                Some(v) => labels.insert(name.clone(), v.clone()),
                                None => labels.remove(name),
                            };
                        }
                    }
                    match (compare, return_bool, result) {
                        (true, true, r) => out.push(Sample {
                            labels,
                            t: at.t,
                            v: if r.is_some() { 1.0 } else { 0.0 },
                        }),
                        (true, false, Some(_)) => out.push(Sample {
                            labels,
                            t: at.t,
                            v: vl,
                        }),
                        (true, false, None) => {}
                        (false, _, r) => out.push(Sample {
                            labels,
                            t: at.t,
                            v: r.unwrap_or(f64::NAN),
                        }),
                    }
                }
                Ok(Value::Vector(out))
            }
            _ => Err(PromqlError::Eval(format!(
                "operator {op} needs scalars or instant vectors"
            ))),
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Scalar { .. } => "scalar",
        Value::String(_) => "string",
        Value::Vector(_) => "instant vector",
        Value::Matrix(_) => "range vector",
    }
}

/// Kahan-Babuška-Neumaier summation, as Prometheus sums: large values of
/// opposite signs do not swallow the small ones.
pub(crate) fn kahan_sum(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut sum = KahanSum::ZERO;
    values.into_iter().for_each(|v| sum.add(v));
    sum.value()
}

/// A Kahan-Babuška-Neumaier sum built one value at a time, as Prometheus
/// sums: `kahan_sum` over a list, and aggregations folding series as they
/// are read (`batch.rs`).
#[derive(Clone, Copy)]
pub(crate) struct KahanSum {
    sum: f64,
    /// The compensation: what the additions rounded away.
    c: f64,
}

impl KahanSum {
    pub(crate) const ZERO: KahanSum = KahanSum { sum: 0.0, c: 0.0 };

    pub(crate) fn add(&mut self, v: f64) {
        let t = self.sum + v;
        if t.is_infinite() {
            self.c = 0.0;
        } else if self.sum.abs() >= v.abs() {
            self.c += (self.sum - t) + v;
        } else {
            self.c += (v - t) + self.sum;
        }
        self.sum = t;
    }

    pub(crate) fn value(&self) -> f64 {
        match self.c.is_finite() {
            true => self.sum + self.c,
            false => self.sum,
        }
    }
}

/// An aggregation of plain values (`None` for no values or another op).
pub(crate) fn reduce(op: &str, values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = || kahan_sum(values.iter().copied()) / n;
    let variance = || {
        let m = mean();
        values.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n
    };
    Some(match op {
        "sum" => kahan_sum(values.iter().copied()),
        "avg" => mean(),
        "min" => values
            .iter()
            .copied()
            .fold(f64::NAN, |a, b| if a.is_nan() || b < a { b } else { a }),
        "max" => values
            .iter()
            .copied()
            .fold(f64::NAN, |a, b| if a.is_nan() || b > a { b } else { a }),
        "count" => n,
        "group" => 1.0,
        "stdvar" => variance(),
        "stddev" => variance().sqrt(),
        _ => return None,
    })
}

/// Marks the metric name dropped: it leaves when evaluation ends
/// (`DROPPED_NAME`).
pub(crate) fn drop_name(mut labels: LabelSet) -> LabelSet {
    if let Some(name) = labels.remove(METRIC_NAME) {
        labels.insert(DROPPED_NAME.to_string(), name);
    }
    labels
}

/// The metric name a series has, or had before a function dropped it.
pub(crate) fn name_of(labels: &LabelSet) -> Option<&String> {
    labels.get(METRIC_NAME).or_else(|| labels.get(DROPPED_NAME))
}

/// Whether a label is a metric name, kept or dropped.
pub(crate) fn is_name(label: &str) -> bool {
    label == METRIC_NAME || label == DROPPED_NAME
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

/// `Some(value)` for arithmetic; for comparisons `Some(a)` when true, `None`
/// when false.
fn apply(op: &str, a: f64, b: f64) -> Result<Option<f64>, PromqlError> {
    let test = |c: bool| if c { Some(a) } else { None };
    Ok(match op {
        "+" => Some(a + b),
        "-" => Some(a - b),
        "*" => Some(a * b),
        "/" => Some(a / b),
        "%" => Some(a % b),
        "^" => Some(a.powf(b)),
        "atan2" => Some(a.atan2(b)),
        "==" => test(a == b),
        "!=" => test(a != b),
        ">" => test(a > b),
        "<" => test(a < b),
        ">=" => test(a >= b),
        "<=" => test(a <= b),
        other => return Err(PromqlError::Unsupported(format!("operator {other}"))),
    })
}

/// A vector against a scalar: arithmetic drops the metric name; a comparison
/// filters (or, with `bool`, answers 0/1 without the name).
fn scalar_op(
    vec: Vec<Sample>,
    f: impl Fn(f64) -> Result<Option<f64>, PromqlError>,
    compare: bool,
    return_bool: bool,
) -> Result<Vec<Sample>, PromqlError> {
    let mut out = Vec::new();
    for s in vec {
        let result = f(s.v)?;
        match (compare, return_bool, result) {
            (true, true, r) => out.push(Sample {
                labels: drop_name(s.labels),
                v: if r.is_some() { 1.0 } else { 0.0 },
                ..s
            }),
            (true, false, Some(_)) => out.push(s),
            (true, false, None) => {}
            (false, _, r) => out.push(Sample {
                labels: drop_name(s.labels),
                v: r.unwrap_or(f64::NAN),
                ..s
            }),
        }
    }
    Ok(out)
}

/// The labels two sides are matched on: `on(...)` keeps those, `ignoring(...)`
/// drops those, and the metric name never counts.
fn match_key(labels: &LabelSet, modifier: Option<&promql_parser::parser::BinModifier>) -> LabelSet {
    match modifier.and_then(|m| m.matching.as_ref()) {
        Some(LabelModifier::Include(on)) => labels
            .iter()
            .filter(|(k, _)| on.labels.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        Some(LabelModifier::Exclude(ignoring)) => labels
            .iter()
            .filter(|(k, _)| !is_name(k) && !ignoring.labels.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        None => labels
            .iter()
            .filter(|(k, _)| !is_name(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

/// A one-to-one result's labels: the left side's, without the metric name;
/// with `on(...)` only those labels, with `ignoring(...)` without those.
fn result_labels(
    labels: &LabelSet,
    modifier: Option<&promql_parser::parser::BinModifier>,
) -> LabelSet {
    match modifier.and_then(|m| m.matching.as_ref()) {
        Some(LabelModifier::Include(_)) | Some(LabelModifier::Exclude(_)) => {
            match_key(labels, modifier)
        }
        None => drop_name(labels.clone()),
    }
}

fn set_op(
    op: &str,
    left: Vec<Sample>,
    right: Vec<Sample>,
    modifier: Option<&promql_parser::parser::BinModifier>,
) -> Vec<Sample> {
    let right_keys: std::collections::BTreeSet<LabelSet> = right
        .iter()
        .map(|s| match_key(&s.labels, modifier))
        .collect();
    match op {
        "and" => left
            .into_iter()
            .filter(|s| right_keys.contains(&match_key(&s.labels, modifier)))
            .collect(),
        "unless" => left
            .into_iter()
            .filter(|s| !right_keys.contains(&match_key(&s.labels, modifier)))
            .collect(),
        _ => {
            let left_keys: std::collections::BTreeSet<LabelSet> = left
                .iter()
                .map(|s| match_key(&s.labels, modifier))
                .collect();
            let mut out = left;
            out.extend(
                right
                    .into_iter()
                    .filter(|s| !left_keys.contains(&match_key(&s.labels, modifier))),
            );
            out
        }
    }
}

/// `PromqlError::Timeout` once `deadline` has passed.
fn check_deadline(deadline: Option<Instant>) -> Result<(), PromqlError> {
    match deadline.is_some_and(|d| Instant::now() >= d) {
        true => Err(PromqlError::Timeout),
        false => Ok(()),
    }
}

/// Hands results to a sink in series order, whichever thread finishes
/// first: those that come early wait, as many as the other threads finish
/// while one reads a long series (a few, when series are alike; never
/// more than all of them, which is what was held before).
struct InOrder<R, S> {
    /// The index of the next result the sink takes.
    next: usize,
    waiting: BTreeMap<usize, R>,
    sink: S,
}

impl<R, S: FnMut(R)> InOrder<R, S> {
    fn deliver(&mut self, i: usize, result: R) {
        if i != self.next {
            self.waiting.insert(i, result);
            return;
        }
        (self.sink)(result);
        self.next += 1;
        while let Some(result) = self.waiting.remove(&self.next) {
            (self.sink)(result);
            self.next += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_reach_the_sink_in_series_order_whatever_order_they_come_in() {
        let mut got = Vec::new();
        let mut in_order = InOrder {
            next: 0,
            waiting: BTreeMap::new(),
            sink: |r: usize| got.push(r),
        };
        for i in [2, 0, 3, 1, 5, 4, 6] {
            in_order.deliver(i, i * 10);
        }
        assert!(in_order.waiting.is_empty());
        drop(in_order);
        assert_eq!(got, [0, 10, 20, 30, 40, 50, 60]);
    }
}
