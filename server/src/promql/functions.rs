//! PromQL functions: the range-vector ones (rate and friends, `*_over_time`)
//! and the element-wise math ones.

use super::eval::{Evaluator, drop_name, kahan_sum};
use super::fill::Fill;
use super::{At, PromqlError, Sample, Series, Value};
use app::chart::scale::{civil_from_days, days_from_civil};
use promql_parser::parser::{Call, Expr};

/// The functions of one range vector that `over_range` computes.
pub(crate) const RANGE_FUNCTIONS: [&str; 22] = [
    "rate",
    "increase",
    "delta",
    "irate",
    "idelta",
    "sum_over_time",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "count_over_time",
    "last_over_time",
    "first_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "changes",
    "resets",
    "present_over_time",
    "mad_over_time",
    "ts_of_first_over_time",
    "ts_of_last_over_time",
    "ts_of_min_over_time",
    "ts_of_max_over_time",
];

pub(crate) fn call(ev: &Evaluator<'_>, call: &Call, at: At) -> Result<Value, PromqlError> {
    let name = call.func.name;
    let args = &call.args.args;
    let arg = |i: usize| -> Result<&Expr, PromqlError> {
        args.get(i)
            .map(|b| b.as_ref())
            .ok_or_else(|| PromqlError::Eval(format!("{name}: missing argument {i}")))
    };
    match name {
        "time" => Ok(Value::Scalar {
            t: at.t,
            v: at.t as f64 / 1000.0,
        }),
        // The query's own frame, in seconds (an instant query: step and
        // range 0, start and end its time).
        "step" | "range" | "start" | "end" => Ok(Value::Scalar {
            t: at.t,
            v: match name {
                "step" => at.step,
                "range" => at.end - at.start,
                "start" => at.start,
                _ => at.end,
            } as f64
                / 1000.0,
        }),
        name if RANGE_FUNCTIONS.contains(&name) => {
            let (series, range, read_at) = range_arg(ev, arg(0)?, at, Fill::for_function(name))?;
            let keep_name = matches!(name, "last_over_time" | "first_over_time");
            let mut out = Vec::new();
            for s in series {
                if let Some(v) =
                    over_range(name, &s.points, (read_at - range, read_at, range), false)
                {
                    let labels = if keep_name {
                        s.labels
                    } else {
                        drop_name(s.labels)
                    };
                    out.push(Sample { labels, t: at.t, v });
                }
            }
            Ok(Value::Vector(out))
        }
        "abs" | "ceil" | "floor" | "sqrt" | "exp" | "ln" | "log2" | "log10" | "sgn" | "sin"
        | "cos" | "tan" | "asin" | "acos" | "atan" | "sinh" | "cosh" | "tanh" | "asinh"
        | "acosh" | "atanh" | "deg" | "rad" => {
            let f: fn(f64) -> f64 = match name {
                "abs" => f64::abs,
                "ceil" => f64::ceil,
                "floor" => f64::floor,
                "sqrt" => f64::sqrt,
                "exp" => f64::exp,
                "ln" => f64::ln,
                "log2" => f64::log2,
                "log10" => f64::log10,
                "sgn" => |v: f64| {
                    if v > 0.0 {
                        1.0
                    } else if v < 0.0 {
                        -1.0
                    } else {
                        v
                    }
                },
                "sin" => f64::sin,
                "cos" => f64::cos,
                "tan" => f64::tan,
                "asin" => f64::asin,
                "acos" => f64::acos,
                "atan" => f64::atan,
                "sinh" => f64::sinh,
                "cosh" => f64::cosh,
                "tanh" => f64::tanh,
                "asinh" => f64::asinh,
                "acosh" => f64::acosh,
                "atanh" => f64::atanh,
                "deg" => f64::to_degrees,
                _ => f64::to_radians,
            };
            Ok(Value::Vector(map_values(ev.vector(arg(0)?, at)?, f)))
        }
        "timestamp" => {
            // Of a selector, the time of each sample it selects; of anything
            // else, the evaluation time its samples carry.
            let mut inner = arg(0)?;
            while let Expr::Paren(p) = inner {
                inner = &p.expr;
            }
            let input = match inner {
                Expr::VectorSelector(vs) => ev.selected(vs, at, true)?,
                other => ev.vector(other, at)?,
            };
            Ok(Value::Vector(
                input
                    .into_iter()
                    .map(|s| Sample {
                        labels: drop_name(s.labels),
                        t: at.t,
                        v: s.t as f64 / 1000.0,
                    })
                    .collect(),
            ))
        }
        "vector" => Ok(Value::Vector(vec![Sample {
            labels: Default::default(),
            t: at.t,
            v: ev.scalar(arg(0)?, at)?,
        }])),
        "scalar" => {
            let input = ev.vector(arg(0)?, at)?;
            let v = match input.as_slice() {
                [one] => one.v,
                _ => f64::NAN,
            };
            Ok(Value::Scalar { t: at.t, v })
        }
        "round" => {
            let to = match args.get(1) {
                Some(e) => ev.scalar(e, at)?,
                None => 1.0,
            };
            let input = ev.vector(arg(0)?, at)?;
            // Prometheus rounds half up (towards +Inf), to a multiple of `to`.
            Ok(Value::Vector(map_values(input, |v| {
                (v / to + 0.5).floor() * to
            })))
        }
        "clamp" | "clamp_min" | "clamp_max" => {
            let input = ev.vector(arg(0)?, at)?;
            let (lo, hi) = match name {
                "clamp" => (ev.scalar(arg(1)?, at)?, ev.scalar(arg(2)?, at)?),
                "clamp_min" => (ev.scalar(arg(1)?, at)?, f64::INFINITY),
                _ => (f64::NEG_INFINITY, ev.scalar(arg(1)?, at)?),
            };
            if lo > hi {
                return Ok(Value::Vector(Vec::new()));
            }
            Ok(Value::Vector(
                input
                    .into_iter()
                    .map(|s| Sample {
                        labels: drop_name(s.labels),
                        v: if s.v.is_nan() {
                            s.v
                        } else {
                            s.v.max(lo).min(hi)
                        },
                        ..s
                    })
                    .collect(),
            ))
        }
        "sort_by_label" | "sort_by_label_desc" => {
            let mut input = ev.vector(arg(0)?, at)?;
            let names: Vec<String> = args[1..]
                .iter()
                .map(|e| string_arg(Some(e.as_ref())))
                .collect::<Result<_, _>>()?;
            input.sort_by(|a, b| {
                let by_names = names.iter().map(|n| {
                    let (x, y) = (a.labels.get(n), b.labels.get(n));
                    natural_cmp(x.map_or("", |s| s), y.map_or("", |s| s))
                });
                let ord = by_names
                    .fold(std::cmp::Ordering::Equal, |acc, o| acc.then(o))
                    .then_with(|| a.labels.cmp(&b.labels));
                if name == "sort_by_label" {
                    ord
                } else {
                    ord.reverse()
                }
            });
            Ok(Value::Vector(input))
        }
        "sort" | "sort_desc" => {
            let mut input = ev.vector(arg(0)?, at)?;
            // NaN sorts last either way, as in Prometheus.
            input.sort_by(|a, b| match (a.v.is_nan(), b.v.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                _ if name == "sort" => a.v.total_cmp(&b.v),
                _ => b.v.total_cmp(&a.v),
            });
            Ok(Value::Vector(input))
        }
        "label_replace" => {
            let input = ev.vector(arg(0)?, at)?;
            let [dst, replacement, src, regex] =
                [1, 2, 3, 4].map(|i| string_arg(args.get(i).map(|b| b.as_ref())));
            let (dst, replacement, src, regex) = (dst?, replacement?, src?, regex?);
            let re = regex::Regex::new(&format!("^(?s:{regex})$")).map_err(|e| {
                PromqlError::Eval(format!(
                    "invalid regular expression in label_replace(): {e}"
                ))
            })?;
            let mut out = Vec::new();
            for mut s in input {
                let value = label_value(&s.labels, &src);
                if let Some(caps) = re.captures(&value) {
                    let mut result = String::new();
                    caps.expand(&replacement, &mut result);
                    set_label(&mut s.labels, &dst, result);
                }
                out.push(s);
            }
            Ok(Value::Vector(unique_label_sets(out)?))
        }
        "label_join" => {
            let input = ev.vector(arg(0)?, at)?;
            let dst = string_arg(args.get(1).map(|b| b.as_ref()))?;
            let sep = string_arg(args.get(2).map(|b| b.as_ref()))?;
            let sources: Vec<String> = args[3..]
                .iter()
                .map(|e| string_arg(Some(e.as_ref())))
                .collect::<Result<_, _>>()?;
            Ok(Value::Vector(unique_label_sets(
                input
                    .into_iter()
                    .map(|mut s| {
                        let joined: Vec<String> =
                            sources.iter().map(|l| label_value(&s.labels, l)).collect();
                        set_label(&mut s.labels, &dst, joined.join(&sep));
                        s
                    })
                    .collect::<Vec<_>>(),
            )?))
        }
        "minute" | "hour" | "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month"
        | "month" | "year" => {
            let input = match args.first() {
                Some(e) => ev.vector(e, at)?,
                None => vec![Sample {
                    labels: Default::default(),
                    t: at.t,
                    v: at.t as f64 / 1000.0,
                }],
            };
            Ok(Value::Vector(
                input
                    .into_iter()
                    .map(|s| Sample {
                        labels: drop_name(s.labels),
                        v: date_part(name, s.v),
                        ..s
                    })
                    .collect(),
            ))
        }
        "deriv" | "predict_linear" => {
            let (series, _, _) = range_arg(ev, arg(0)?, at, Fill::Last)?;
            let ahead = match name {
                "predict_linear" => Some(ev.scalar(arg(1)?, at)?),
                _ => None,
            };
            let mut out = Vec::new();
            for s in series {
                if s.points.len() < 2 {
                    continue;
                }
                // Least squares around the evaluation time, as Prometheus does.
                let (slope, intercept) = linear_regression(&s.points, at.t);
                let v = match ahead {
                    Some(secs) => intercept + slope * secs,
                    None => slope,
                };
                out.push(Sample {
                    labels: drop_name(s.labels),
                    t: at.t,
                    v,
                });
            }
            Ok(Value::Vector(out))
        }
        // Holt's linear smoothing over the window: the smoothed value at its end.
        "double_exponential_smoothing" => {
            let (series, _, _) = range_arg(ev, arg(0)?, at, Fill::Last)?;
            let sf = ev.scalar(arg(1)?, at)?;
            let tf = ev.scalar(arg(2)?, at)?;
            for (what, f) in [("smoothing", sf), ("trend", tf)] {
                if !(f > 0.0 && f < 1.0) {
                    return Err(PromqlError::Eval(format!(
                        "invalid {what} factor. Expected: 0 < {what} factor < 1, got: {f}"
                    )));
                }
            }
            Ok(Value::Vector(
                series
                    .into_iter()
                    .filter_map(|s| {
                        let v = holt(&s.points, sf, tf)?;
                        Some(Sample {
                            labels: drop_name(s.labels),
                            t: at.t,
                            v,
                        })
                    })
                    .collect(),
            ))
        }
        "quantile_over_time" => {
            let q = ev.scalar(arg(0)?, at)?;
            let (series, _, _) = range_arg(ev, arg(1)?, at, Fill::Last)?;
            Ok(Value::Vector(
                series
                    .into_iter()
                    .map(|s| {
                        let values: Vec<f64> = s.points.iter().map(|p| p.1).collect();
                        Sample {
                            labels: drop_name(s.labels),
                            t: at.t,
                            v: quantile(q, values),
                        }
                    })
                    .collect(),
            ))
        }
        "absent" | "absent_over_time" => {
            let present = match name {
                "absent" => !ev.vector(arg(0)?, at)?.is_empty(),
                _ => !range_arg(ev, arg(0)?, at, Fill::Last)?.0.is_empty(),
            };
            let selector = match arg(0)? {
                Expr::MatrixSelector(ms) => Some(&ms.vs),
                Expr::VectorSelector(vs) => Some(vs),
                _ => None,
            };
            // A label comes from the only matcher of its name, if that is
            // an equality (two matchers on one name say nothing definite).
            let labels = match selector {
                Some(vs) => {
                    let matchers = &vs.matchers.matchers;
                    matchers
                        .iter()
                        .filter(|m| {
                            matches!(m.op, promql_parser::label::MatchOp::Equal)
                                && m.name != crate::storage::METRIC_NAME
                                && matchers.iter().filter(|o| o.name == m.name).count() == 1
                        })
                        .map(|m| (m.name.clone(), m.value.clone()))
                        .collect()
                }
                _ => Default::default(),
            };
            Ok(Value::Vector(if present {
                Vec::new()
            } else {
                vec![Sample {
                    labels,
                    t: at.t,
                    v: 1.0,
                }]
            }))
        }
        "histogram_quantile" => {
            let q = ev.scalar(arg(0)?, at)?;
            let groups = bucket_groups(ev.vector(arg(1)?, at)?)?;
            Ok(Value::Vector(
                groups
                    .into_iter()
                    .map(|(labels, buckets)| Sample {
                        labels,
                        t: at.t,
                        v: crate::query::bucket_quantile(q, &buckets).unwrap_or(f64::NAN),
                    })
                    .collect(),
            ))
        }
        // histogram_quantiles(v, "label", q1, q2, ...): one series per
        // histogram and quantile, the quantile in the label.
        "histogram_quantiles" => {
            let groups = bucket_groups(ev.vector(arg(0)?, at)?)?;
            let label = string_arg(args.get(1).map(|b| b.as_ref()))?;
            let qs: Vec<f64> = args[2..]
                .iter()
                .map(|e| ev.scalar(e, at))
                .collect::<Result<_, _>>()?;
            let mut out = Vec::new();
            for (labels, buckets) in groups {
                if labels.contains_key(&label) {
                    return Err(PromqlError::Eval(format!(
                        "histogram_quantiles: label {label:?} is already present"
                    )));
                }
                for &q in &qs {
                    let mut with_q = labels.clone();
                    with_q.insert(label.clone(), quantile_label(q));
                    out.push(Sample {
                        labels: with_q,
                        t: at.t,
                        v: crate::query::bucket_quantile(q, &buckets).unwrap_or(f64::NAN),
                    });
                }
            }
            Ok(Value::Vector(out))
        }
        other => Err(PromqlError::Unsupported(format!("function {other}"))),
    }
}

/// Classic histogram buckets grouped by series (labels without `le` and
/// the name): `(bound, count)` sorted by bound, equal bounds written
/// differently ("0.2", "2e-1") added together. Two metrics' buckets that only
/// their names told apart are an error, as in Prometheus.
fn bucket_groups(
    input: Vec<Sample>,
) -> Result<std::collections::BTreeMap<super::LabelSet, Vec<(f64, f64)>>, PromqlError> {
    let input = unique_label_sets(
        input
            .into_iter()
            .map(|s| Sample {
                labels: drop_name(s.labels),
                ..s
            })
            .collect(),
    )?;
    let mut groups: std::collections::BTreeMap<super::LabelSet, Vec<(f64, f64)>> =
        Default::default();
    for s in input {
        let Some(le) = s
            .labels
            .get("le")
            .and_then(|le| crate::ingest::parse_float_text(le))
        else {
            continue;
        };
        let mut key = s.labels;
        key.remove("le");
        groups.entry(key).or_default().push((le, s.v));
    }
    groups.values_mut().for_each(order_buckets);
    Ok(groups)
}

/// A histogram's `(bound, count)` buckets by bound, buckets of one bound
/// spelled two ways ("1", "1.0") added together in the order given.
pub(crate) fn order_buckets(buckets: &mut Vec<(f64, f64)>) {
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    buckets.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            kept.1 += later.1;
        }
        same
    });
}

/// A quantile as `histogram_quantiles` labels it: "0.0", "0.25", "1.0".
fn quantile_label(q: f64) -> String {
    if q.is_finite() && q.fract() == 0.0 {
        format!("{q:.1}")
    } else {
        crate::query::format_value(q)
    }
}

fn string_arg(expr: Option<&Expr>) -> Result<String, PromqlError> {
    match expr {
        Some(Expr::StringLiteral(s)) => Ok(s.val.clone()),
        Some(Expr::Paren(p)) => string_arg(Some(&p.expr)),
        _ => Err(PromqlError::Eval("expected a string argument".into())),
    }
}

/// φ-quantile of values, by Prometheus's interpolation (`quantile`).
pub(crate) fn quantile(q: f64, mut values: Vec<f64>) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // NaN sorts first, as Go's sort.Float64s puts it in Prometheus.
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.total_cmp(b),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0) as usize;
    let upper = (lower + 1).min(values.len() - 1);
    let weight = rank - rank.floor();
    values[lower] * (1.0 - weight) + values[upper] * weight
}

/// Slope (per second) and value at `at` of the least-squares line.
fn linear_regression(points: &[(i64, f64)], at: i64) -> (f64, f64) {
    let n = points.len() as f64;
    let (mut sx, mut sy, mut sxy, mut sxx) = (0.0, 0.0, 0.0, 0.0);
    for &(t, v) in points {
        let x = (t - at) as f64 / 1000.0;
        sx += x;
        sy += v;
        sxy += x * v;
        sxx += x * x;
    }
    let cov = sxy - sx * sy / n;
    let var = sxx - sx * sx / n;
    let slope = cov / var;
    let intercept = sy / n - slope * sx / n;
    (slope, intercept)
}

/// A calendar field of a unix time in seconds (UTC).
fn date_part(name: &str, secs: f64) -> f64 {
    let secs = secs as i64;
    let days = secs.div_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (month, day) = (i64::from(month), i64::from(day));
    match name {
        "minute" => (secs.rem_euclid(3600) / 60) as f64,
        "hour" => (secs.rem_euclid(86_400) / 3600) as f64,
        "day_of_month" => day as f64,
        "day_of_week" => (days + 4).rem_euclid(7) as f64,
        "day_of_year" => (days - days_from_civil(year, 1, 1) + 1) as f64,
        "days_in_month" => {
            let (ny, nm) = if month == 12 {
                (year + 1, 1)
            } else {
                (year, month + 1)
            };
            (days_from_civil(ny, nm, 1) - days_from_civil(year, month, 1)) as f64
        }
        "month" => month as f64,
        _ => year as f64,
    }
}

/// Applies `f` to every value; the metric name goes, as the value changed.
fn map_values(input: Vec<Sample>, f: impl Fn(f64) -> f64) -> Vec<Sample> {
    input
        .into_iter()
        .map(|s| Sample {
            labels: drop_name(s.labels),
            v: f(s.v),
            ..s
        })
        .collect()
}

/// A function's range-vector argument, its range and the time its window
/// ends (the evaluation time moved by `offset` and `@`), in ms.
fn range_arg(
    ev: &Evaluator<'_>,
    expr: &Expr,
    at: At,
    fill: Fill,
) -> Result<(Vec<Series>, i64, i64), PromqlError> {
    match expr {
        Expr::MatrixSelector(ms) => {
            let range = ms.range.as_millis() as i64;
            let read_at = Evaluator::read_time(&ms.vs, at);
            Ok((ev.range_vector(&ms.vs, range, at, fill)?, range, read_at))
        }
        Expr::Paren(p) => range_arg(ev, &p.expr, at, fill),
        Expr::Subquery(sq) => ev.subquery(sq, at),
        _ => Err(PromqlError::Eval("expected a range vector".into())),
    }
}

/// Double exponential smoothing (Holt), as Prometheus computes it; `None`
/// below two points.
fn holt(points: &[(i64, f64)], sf: f64, tf: f64) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (mut s0, mut s1) = (0.0, points[0].1);
    let mut b = points[1].1 - points[0].1;
    for (i, &(_, x)) in points.iter().enumerate().skip(1) {
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let next = sf * x + (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = next;
    }
    Some(s1)
}

/// A label's value for label_replace/label_join: the metric name even if a
/// function marked it dropped.
fn label_value(labels: &super::LabelSet, name: &str) -> String {
    let value = match name {
        crate::storage::METRIC_NAME => super::eval::name_of(labels),
        _ => labels.get(name),
    };
    value.cloned().unwrap_or_default()
}

/// Sets (or, to "", removes) a label; setting the name keeps it.
fn set_label(labels: &mut super::LabelSet, name: &str, value: String) {
    if name == crate::storage::METRIC_NAME {
        labels.remove(super::DROPPED_NAME);
    }
    if value.is_empty() {
        labels.remove(name);
    } else {
        labels.insert(name.to_string(), value);
    }
}

/// Compares strings the way people sort them: runs of digits by their
/// number ("cpu 2" before "cpu 10"), as Prometheus's sort_by_label does.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        let (Some(x), Some(y)) = (a.chars().next(), b.chars().next()) else {
            return a.len().cmp(&b.len());
        };
        if x.is_ascii_digit() && y.is_ascii_digit() {
            let run = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            let (na, nb) = (&a[..run(a)], &b[..run(b)]);
            let (ta, tb) = (na.trim_start_matches('0'), nb.trim_start_matches('0'));
            let ord = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb));
            if ord != std::cmp::Ordering::Equal {
                return ord;
            }
            a = &a[na.len()..];
            b = &b[nb.len()..];
        } else {
            if x != y {
                return x.cmp(&y);
            }
            a = &a[x.len_utf8()..];
            b = &b[y.len_utf8()..];
        }
    }
}

/// A vector whose label sets are all different, or the error Prometheus
/// gives when a function made two of them equal.
pub(crate) fn unique_label_sets(samples: Vec<Sample>) -> Result<Vec<Sample>, PromqlError> {
    let mut seen = std::collections::BTreeSet::new();
    for s in &samples {
        if !seen.insert(&s.labels) {
            return Err(PromqlError::Eval(
                "vector cannot contain metrics with the same labelset".into(),
            ));
        }
    }
    Ok(samples)
}

/// One range function over one series' points in `(start, end]`.
/// `rises` says the caller knows no value drops below the one before it
/// (no counter reset), so rate and increase need not look for resets.
pub(crate) fn over_range(
    name: &str,
    points: &[(i64, f64)],
    (start, end, range): (i64, i64, i64),
    rises: bool,
) -> Option<f64> {
    let values = || points.iter().map(|p| p.1);
    let n = points.len() as f64;
    match name {
        "rate" => extrapolated_delta(points, start, end, (true, rises), true, range),
        "increase" => extrapolated_delta(points, start, end, (true, rises), false, range),
        "delta" => extrapolated_delta(points, start, end, (false, false), false, range),
        "irate" | "idelta" => {
            let [.., a, b] = points else { return None };
            let mut d = b.1 - a.1;
            if name == "irate" {
                if b.1 < a.1 {
                    d = b.1;
                }
                let dt = (b.0 - a.0) as f64 / 1000.0;
                if dt == 0.0 {
                    return None;
                }
                d /= dt;
            }
            Some(d)
        }
        "sum_over_time" => Some(kahan_sum(values())),
        "avg_over_time" => Some(kahan_sum(values()) / n),
        "min_over_time" => values().reduce(|a, b| if b < a || a.is_nan() { b } else { a }),
        "max_over_time" => values().reduce(|a, b| if b > a || a.is_nan() { b } else { a }),
        "count_over_time" => Some(n),
        "present_over_time" => Some(1.0),
        "last_over_time" => points.last().map(|p| p.1),
        "first_over_time" => points.first().map(|p| p.1),
        "ts_of_first_over_time" => points.first().map(|p| p.0 as f64 / 1000.0),
        "ts_of_last_over_time" => points.last().map(|p| p.0 as f64 / 1000.0),
        // The last time the extreme was reached, as Prometheus reports it.
        "ts_of_min_over_time" | "ts_of_max_over_time" => {
            let better = |a: f64, b: f64| {
                if name == "ts_of_min_over_time" {
                    a <= b
                } else {
                    a >= b
                }
            };
            let mut best: Option<(i64, f64)> = None;
            for &(t, v) in points {
                if v.is_nan() {
                    continue;
                }
                if best.is_none_or(|(_, b)| better(v, b)) {
                    best = Some((t, v));
                }
            }
            best.map(|(t, _)| t as f64 / 1000.0)
        }
        "mad_over_time" => {
            if values().any(f64::is_nan) {
                return Some(f64::NAN);
            }
            let median = quantile(0.5, values().collect());
            Some(quantile(
                0.5,
                values().map(|v| (v - median).abs()).collect(),
            ))
        }
        "stdvar_over_time" | "stddev_over_time" => {
            let mean = values().sum::<f64>() / n;
            let var = values().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
            Some(if name == "stddev_over_time" {
                var.sqrt()
            } else {
                var
            })
        }
        "changes" => Some(
            points
                .windows(2)
                .filter(|w| w[0].1 != w[1].1 && !(w[0].1.is_nan() && w[1].1.is_nan()))
                .count() as f64,
        ),
        "resets" => Some(points.windows(2).filter(|w| w[1].1 < w[0].1).count() as f64),
        _ => None,
    }
}

/// Prometheus's `extrapolatedRate`: the change over the samples in the
/// window, counter resets added back, extrapolated to the window's edges
/// (but not further than half a sample interval beyond the data, and not
/// below zero for counters).
pub(crate) fn extrapolated_delta(
    points: &[(i64, f64)],
    start: i64,
    end: i64,
    (counter, rises): (bool, bool),
    per_second: bool,
    range: i64,
) -> Option<f64> {
    extrapolated_delta_reusing(
        points,
        (start, end),
        (counter, rises),
        per_second,
        range,
        &mut None,
    )
}

/// `extrapolated_delta`, reusing the stretch `last` holds where this
/// window has the same shape as the window it was worked out for (and
/// keeping this window's there otherwise). Regular samples read at a step
/// that is a multiple of their interval give every window one shape: the
/// stretch, with its comparisons and its division, is then worked out
/// once per series instead of once per step.
#[inline(always)]
pub(crate) fn extrapolated_delta_reusing(
    points: &[(i64, f64)],
    (start, end): (i64, i64),
    (counter, rises): (bool, bool),
    per_second: bool,
    range: i64,
    last: &mut Option<Stretch>,
) -> Option<f64> {
    let (first, newest) = (points.first()?, points.last()?);
    if points.len() < 2 {
        return None;
    }
    let mut result = newest.1 - first.1;
    if counter && !rises {
        for w in points.windows(2) {
            if w[1].1 < w[0].1 {
                result += w[0].1;
            }
        }
    }
    let shape = (
        first.0 - start,
        newest.0 - first.0,
        end - newest.0,
        points.len(),
    );
    let stretch = match last {
        Some(s) if s.shape == shape => *s,
        _ => *last.insert(Stretch::new(shape, per_second, range)),
    };
    // A counter is not extrapolated below zero: not further back than where
    // the line through the data would cross zero.
    let sampled = stretch.sampled;
    if counter && result > 0.0 && first.1 >= 0.0 && sampled * first.1 < stretch.to_start * result {
        let to_start = sampled * (first.1 / result);
        return Some(result * stretch.factor_from(to_start, per_second, range));
    }
    Some(result * stretch.factor)
}

/// How far `extrapolated_delta` stretches a window's change: everything it
/// works out from the samples' times alone.
#[derive(Clone, Copy)]
pub(crate) struct Stretch {
    /// From the window's start to its first sample, from there to its last
    /// sample, from there to its end, in ms, and how many samples: what the
    /// rest follows from.
    shape: (i64, i64, i64, usize),
    /// From the first sample to the last, in ms.
    sampled: f64,
    to_start: f64,
    to_end: f64,
    /// What the change is multiplied by, unless a counter's line would
    /// cross zero before the window's start.
    factor: f64,
}

impl Stretch {
    #[inline(never)]
    fn new(shape: (i64, i64, i64, usize), per_second: bool, range: i64) -> Self {
        // Prometheus works in seconds and divides at every step; this works
        // in milliseconds and compares by multiplying, so that the common
        // case (the data reaches both edges, no zero crossing) divides once.
        // Results differ from Prometheus's only in the last bits.
        let sampled = shape.1 as f64;
        let gaps = (shape.3 - 1) as f64;
        // Extrapolate to an edge within 1.1 average intervals of the data;
        // where the data stops well before an edge, by half an interval.
        let threshold = sampled * 1.1;
        let edge = |gap: f64| {
            let (lhs, rhs) = (gap * gaps, threshold);
            // On the boundary itself (regular samples a whole 1.1 intervals
            // from the edge), rounding decides: decide as Prometheus's
            // arithmetic does.
            let within = match (lhs - rhs).abs() <= 1e-9 * rhs {
                true => gap / 1000.0 < sampled / 1000.0 / gaps * 1.1,
                false => lhs < rhs,
            };
            match within {
                true => gap,
                false => sampled / gaps / 2.0,
            }
        };
        let mut stretch = Stretch {
            shape,
            sampled,
            to_start: edge(shape.0 as f64),
            to_end: edge(shape.2 as f64),
            factor: 0.0,
        };
        stretch.factor = stretch.factor_from(stretch.to_start, per_second, range);
        stretch
    }

    fn factor_from(&self, to_start: f64, per_second: bool, range: i64) -> f64 {
        let interval = self.sampled + to_start + self.to_end;
        match per_second {
            true => interval * 1000.0 / (self.sampled * range as f64),
            false => interval / self.sampled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy;

    #[test]
    fn rate_extrapolates_like_prometheus() {
        // A counter rising 10 per 15 s, read over 1 min ending on a sample:
        // 4 samples in (0, 60]; 30 over 45 s extrapolated to 60 s = 40 → 0.667/s.
        let points: Vec<(i64, f64)> = (1..=4).map(|i| (i * 15_000, 10.0 * i as f64)).collect();
        let rate = extrapolated_delta(&points, 0, 60_000, (true, false), true, 60_000).unwrap();
        assert!((rate - 40.0 / 60.0).abs() < 1e-12, "{rate}");
        assert_eq!(
            extrapolated_delta(&points[..1], 0, 60_000, (true, false), true, 60_000),
            None
        );
    }

    /// Prometheus's `extrapolatedRate` as written there: seconds, and a
    /// division wherever it divides.
    fn prometheus_rate(points: &[(i64, f64)], start: i64, end: i64, counter: bool) -> f64 {
        let (first, last) = (points[0], points[points.len() - 1]);
        let mut result = last.1 - first.1;
        if counter {
            for w in points.windows(2) {
                if w[1].1 < w[0].1 {
                    result += w[0].1;
                }
            }
        }
        let mut to_start = (first.0 - start) as f64 / 1000.0;
        let mut to_end = (end - last.0) as f64 / 1000.0;
        let sampled = (last.0 - first.0) as f64 / 1000.0;
        let average = sampled / (points.len() - 1) as f64;
        let threshold = average * 1.1;
        if to_start >= threshold {
            to_start = average / 2.0;
        }
        if counter {
            let mut to_zero = to_start;
            if result > 0.0 && first.1 >= 0.0 {
                to_zero = sampled * (first.1 / result);
            }
            if to_zero < to_start {
                to_start = to_zero;
            }
        }
        if to_end >= threshold {
            to_end = average / 2.0;
        }
        let factor = (sampled + to_start + to_end) / sampled / ((end - start) as f64 / 1000.0);
        result * factor
    }

    /// Samples 10 s apart starting 11 s into a 2 min window: the gap is
    /// exactly 1.1 intervals, where Prometheus extrapolates by half an
    /// interval (60), and comparing by multiplying alone would not (66).
    #[test]
    fn a_gap_of_exactly_the_threshold_is_cut_as_prometheus_cuts_it() {
        let points: Vec<(i64, f64)> = (0..6)
            .map(|i| (11_000 + i * 10_000, 100.0 + 10.0 * i as f64))
            .collect();
        let increase =
            extrapolated_delta(&points, 0, 120_000, (true, true), false, 120_000).unwrap();
        assert!((increase - 60.0).abs() < 1e-9, "{increase}");
        let rate = prometheus_rate(&points, 0, 120_000, true);
        assert!((rate * 120.0 - 60.0).abs() < 1e-9, "{rate}");
    }

    proptest::proptest! {
        /// On a grid of whole seconds, with the data a whole number of
        /// tenths of an interval from each edge (eleven tenths: the
        /// threshold itself), the same answers as Prometheus's arithmetic.
        #[test]
        fn rate_on_a_grid_answers_as_prometheus(
            tenth in 1i64..30,
            n in 2i64..12,
            lead in 0i64..30,
            tail in 0i64..30,
        ) {
            let every = 10 * tenth;
            let points: Vec<(i64, f64)> = (0..n)
                .map(|i| ((lead * tenth + i * every) * 1000, (i * 7 % 5 + i) as f64))
                .collect();
            let end = points[points.len() - 1].0 + tail * tenth * 1000;
            let rises = !points.windows(2).any(|w| w[1].1 < w[0].1);
            let ours = extrapolated_delta(&points, 0, end, (true, rises), true, end).unwrap();
            let theirs = prometheus_rate(&points, 0, end, true);
            proptest::prop_assert!((ours - theirs).abs() <= 1e-12 * theirs.abs().max(1e-300), "{ours} {theirs}");
        }

        /// Reusing the window before's stretch answers bit for bit as
        /// working out every window's afresh: samples mostly 15 s apart
        /// (so that shapes repeat), some with one more sample between
        /// them (the same edges, another count), some at random; counters
        /// from near zero (so that some windows stop at the zero
        /// crossing); windows sliding at various steps.
        #[test]
        fn reusing_the_stretch_changes_no_bit(
            gaps in proptest::collection::vec(
                proptest::prop_oneof![
                    3 => proptest::strategy::Just(vec![15_000i64]),
                    1 => (1i64..15_000).prop_map(|a| vec![a, 15_000 - a]),
                    1 => (1i64..40_000).prop_map(|g| vec![g]),
                ],
                1..60,
            ),
            rises in proptest::collection::vec(0.0f64..20.0, 120),
            step in proptest::prop_oneof![proptest::strategy::Just(60_000i64), 1_000i64..90_000],
            range in 30_000i64..300_000,
            per_second in proptest::bool::ANY,
        ) {
            let (mut t, mut v) = (0, 0.0);
            let points: Vec<(i64, f64)> = std::iter::once(0)
                .chain(gaps.into_iter().flatten())
                .zip(&rises)
                .map(|(gap, rise)| {
                    (t, v) = (t + gap, v + rise);
                    (t, v)
                })
                .collect();
            let mut stretch = None;
            let mut end = 7_000;
            while end < points[points.len() - 1].0 + range {
                let window: Vec<(i64, f64)> = points
                    .iter()
                    .copied()
                    .filter(|p| p.0 > end - range && p.0 <= end)
                    .collect();
                let afresh =
                    extrapolated_delta(&window, end - range, end, (true, true), per_second, range);
                let reused = extrapolated_delta_reusing(
                    &window,
                    (end - range, end),
                    (true, true),
                    per_second,
                    range,
                    &mut stretch,
                );
                proptest::prop_assert_eq!(afresh.map(f64::to_bits), reused.map(f64::to_bits));
                end += step;
            }
        }

        /// Dividing less changes only the last bits, whatever the spacing
        /// of the samples, their distance from the edges and their values
        /// (counters that start near zero or reset, gauges below zero).
        #[test]
        fn rate_divides_less_than_prometheus_to_the_same_result(
            gaps in proptest::collection::vec(1i64..40_000, 1..30),
            values in proptest::collection::vec(-50.0f64..1000.0, 30),
            lead in 0i64..60_000,
            tail in 0i64..60_000,
            counter in proptest::bool::ANY,
        ) {
            let mut t = lead;
            let points: Vec<(i64, f64)> = std::iter::once(0)
                .chain(gaps)
                .zip(&values)
                .map(|(gap, &v)| {
                    t += gap;
                    (t, if counter { v.abs() } else { v })
                })
                .collect();
            let end = points[points.len() - 1].0 + tail;
            let rises = !points.windows(2).any(|w| w[1].1 < w[0].1);
            let ours = extrapolated_delta(&points, 0, end, (counter, rises), true, end);
            let theirs = prometheus_rate(&points, 0, end, counter);
            let diff = (ours.unwrap() - theirs).abs();
            proptest::prop_assert!(diff <= 1e-12 * theirs.abs().max(1e-300), "{ours:?} {theirs}");
        }
    }
}
