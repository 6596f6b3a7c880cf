//! PromQL functions: the range-vector ones (rate and friends, `*_over_time`)
//! and the element-wise math ones.

use super::eval::{Evaluator, drop_name};
use super::{At, PromqlError, Sample, Series, Value};
use promql_parser::parser::{Call, Expr};

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
        "rate" | "increase" | "delta" | "irate" | "idelta" | "sum_over_time" | "avg_over_time"
        | "min_over_time" | "max_over_time" | "count_over_time" | "last_over_time"
        | "stddev_over_time" | "stdvar_over_time" | "changes" | "resets" | "present_over_time" => {
            let (series, range) = range_arg(ev, arg(0)?, at)?;
            let keep_name = name == "last_over_time";
            let mut out = Vec::new();
            for s in series {
                if let Some(v) = over_range(name, &s.points, at.t - range, at.t, range) {
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
            let input = ev.vector(arg(0)?, at)?;
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
        other => Err(PromqlError::Unsupported(format!("function {other}"))),
    }
}

fn map_values(input: Vec<Sample>, f: fn(f64) -> f64) -> Vec<Sample> {
    input
        .into_iter()
        .map(|s| Sample {
            labels: drop_name(s.labels),
            v: f(s.v),
            ..s
        })
        .collect()
}

/// A function's range-vector argument, and its range in ms.
fn range_arg(ev: &Evaluator<'_>, expr: &Expr, at: At) -> Result<(Vec<Series>, i64), PromqlError> {
    match expr {
        Expr::MatrixSelector(ms) => {
            let range = ms.range.as_millis() as i64;
            Ok((ev.range_vector(&ms.vs, range, at)?, range))
        }
        Expr::Paren(p) => range_arg(ev, &p.expr, at),
        _ => Err(PromqlError::Unsupported(
            "a range function over a subquery".into(),
        )),
    }
}

/// One range function over one series' points in `(start, end]`.
fn over_range(name: &str, points: &[(i64, f64)], start: i64, end: i64, range: i64) -> Option<f64> {
    let values = || points.iter().map(|p| p.1);
    let n = points.len() as f64;
    match name {
        "rate" => extrapolated_delta(points, start, end, true, true, range),
        "increase" => extrapolated_delta(points, start, end, true, false, range),
        "delta" => extrapolated_delta(points, start, end, false, false, range),
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
        "sum_over_time" => Some(values().sum()),
        "avg_over_time" => Some(values().sum::<f64>() / n),
        "min_over_time" => values().reduce(|a, b| if b < a || a.is_nan() { b } else { a }),
        "max_over_time" => values().reduce(|a, b| if b > a || a.is_nan() { b } else { a }),
        "count_over_time" => Some(n),
        "present_over_time" => Some(1.0),
        "last_over_time" => points.last().map(|p| p.1),
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
fn extrapolated_delta(
    points: &[(i64, f64)],
    start: i64,
    end: i64,
    counter: bool,
    per_second: bool,
    range: i64,
) -> Option<f64> {
    let (first, last) = (points.first()?, points.last()?);
    if points.len() < 2 {
        return None;
    }
    let mut result = last.1 - first.1;
    if counter {
        for w in points.windows(2) {
            if w[1].1 < w[0].1 {
                result += w[0].1;
            }
        }
    }
    let mut to_start = (first.0 - start) as f64 / 1000.0;
    let to_end = (end - last.0) as f64 / 1000.0;
    let sampled = (last.0 - first.0) as f64 / 1000.0;
    let average_step = sampled / (points.len() - 1) as f64;
    if counter && result > 0.0 && first.1 >= 0.0 {
        let to_zero = sampled * (first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = average_step * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        average_step / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        average_step / 2.0
    };
    let mut result = result * (interval / sampled);
    if per_second {
        result /= range as f64 / 1000.0;
    }
    Some(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_extrapolates_like_prometheus() {
        // A counter rising 10 per 15 s, read over 1 min ending on a sample:
        // 4 samples in (0, 60]; 30 over 45 s extrapolated to 60 s = 40 → 0.667/s.
        let points: Vec<(i64, f64)> = (1..=4).map(|i| (i * 15_000, 10.0 * i as f64)).collect();
        let rate = extrapolated_delta(&points, 0, 60_000, true, true, 60_000).unwrap();
        assert!((rate - 40.0 / 60.0).abs() < 1e-12, "{rate}");
        assert_eq!(
            extrapolated_delta(&points[..1], 0, 60_000, true, true, 60_000),
            None
        );
    }
}
