//! PromQL below the raw horizon: where retention has deleted raw samples,
//! a selector reads synthetic points made from the 5 min aggregates (the
//! 1 h ones where 5 min are gone too), chosen for the function that will
//! consume them, so that its answer is the one the raw samples gave:
//!
//! | consumer | points per bucket | exact when |
//! |---|---|---|
//! | `rate`, `increase`, `irate` | a counter rebuilt from each bucket's increase, `count` points spread from its first to its last sample | the counter grows steadily within a bucket |
//! | `avg_over_time` | the bucket's mean | buckets hold equally many samples |
//! | `sum_over_time` | the bucket's sum | whole buckets |
//! | `min_over_time`, `max_over_time` | the bucket's min or max | whole buckets |
//! | anything else | the bucket's last sample, at its time | (an instant selector sees the newest value) |

use crate::query::plan_resolutions;
use crate::storage::{Bucket, Resolution, SeriesId, Storage, StorageError, counter_delta};

/// Which synthetic points a selector reads below the horizon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Fill {
    Last,
    Counter,
    Mean,
    Sum,
    Min,
    Max,
}

impl Fill {
    /// The fill a range function wants.
    pub(crate) fn for_function(name: &str) -> Fill {
        match name {
            "rate" | "increase" | "irate" => Fill::Counter,
            "avg_over_time" => Fill::Mean,
            "sum_over_time" => Fill::Sum,
            "min_over_time" => Fill::Min,
            "max_over_time" => Fill::Max,
            _ => Fill::Last,
        }
    }
}

/// Synthetic points of series `id` in `[from, to]`, oldest first, from
/// whichever aggregate covers each part (5 min first).
pub(crate) fn points(
    storage: &Storage,
    id: SeriesId,
    (from, to): (i64, i64),
    fill: Fill,
) -> Result<Vec<(i64, f64)>, StorageError> {
    let coverage = storage.coverage(id)?;
    let mut out = Vec::new();
    // The counter rebuilt so far: its value, and the last real value seen.
    let mut counter: Option<(f64, f64)> = None;
    for (resolution, mint, maxt) in plan_resolutions(from, to, Resolution::FiveMinutes, &coverage) {
        if resolution == Resolution::Raw {
            continue;
        }
        // The bucket holding `from` may start before it and still have
        // samples inside the window: points are filtered by time below.
        let mint = match mint == from {
            true => mint.div_euclid(resolution.step_ms()) * resolution.step_ms(),
            false => mint,
        };
        for b in storage.buckets(resolution, id, mint, maxt)? {
            push_bucket(&mut out, &b, fill, &mut counter);
        }
    }
    out.retain(|&(t, _)| t >= from && t <= to);
    Ok(out)
}

fn push_bucket(
    out: &mut Vec<(i64, f64)>,
    b: &Bucket,
    fill: Fill,
    counter: &mut Option<(f64, f64)>,
) {
    match fill {
        Fill::Last => out.push((b.last_t, b.last)),
        Fill::Mean => out.push((b.last_t, b.sum / b.count as f64)),
        Fill::Sum => out.push((b.last_t, b.sum)),
        Fill::Min => out.push((b.last_t, b.min)),
        Fill::Max => out.push((b.last_t, b.max)),
        Fill::Counter => {
            // Starts at the first real value and only grows, so the rate
            // functions see each bucket's increase and no false resets.
            let start = match *counter {
                Some((value, real)) => value + counter_delta(real, b.first),
                None => b.first,
            };
            // `count` points spread evenly from the first sample to the
            // last, as scrapes are: the rate functions then extrapolate at
            // the window's edges as they would over the raw samples.
            let n = b.count.max(1) as i64;
            let span = b.last_t - b.first_t;
            for k in 0..n {
                let share = if n > 1 {
                    k as f64 / (n - 1) as f64
                } else {
                    0.0
                };
                let t = b.first_t + span * k / (n - 1).max(1);
                if out.last().is_none_or(|&(last, _)| t > last) {
                    out.push((t, start + b.increase * share));
                }
            }
            *counter = Some((start + b.increase, b.last));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(t: i64, first: f64, last: f64, increase: f64) -> Bucket {
        Bucket {
            t,
            count: 2,
            sum: first + last,
            min: first.min(last),
            max: first.max(last),
            first,
            last,
            first_t: t,
            last_t: t + 10,
            increase,
        }
    }

    #[test]
    fn counters_rebuilt_from_buckets_grow_by_each_increase_across_resets() {
        let mut out = Vec::new();
        let mut counter = None;
        // 5 → 8; then a reset: 2 → 4 (the counter grew by 2 + 2).
        push_bucket(
            &mut out,
            &bucket(0, 5.0, 8.0, 3.0),
            Fill::Counter,
            &mut counter,
        );
        push_bucket(
            &mut out,
            &bucket(100, 2.0, 4.0, 2.0),
            Fill::Counter,
            &mut counter,
        );
        assert_eq!(out, vec![(0, 5.0), (10, 8.0), (100, 10.0), (110, 12.0)]);
        // Three samples in a bucket: three points, evenly spread.
        let mut out = Vec::new();
        let three = Bucket {
            count: 3,
            ..bucket(0, 0.0, 4.0, 4.0)
        };
        push_bucket(&mut out, &three, Fill::Counter, &mut None);
        assert_eq!(out, vec![(0, 0.0), (5, 2.0), (10, 4.0)]);
    }

    #[test]
    fn gauge_fills_take_the_matching_aggregate() {
        let b = bucket(0, 1.0, 3.0, 2.0);
        let one = |fill| {
            let mut out = Vec::new();
            push_bucket(&mut out, &b, fill, &mut None);
            out
        };
        assert_eq!(one(Fill::Mean), vec![(10, 2.0)]);
        assert_eq!(one(Fill::Sum), vec![(10, 4.0)]);
        assert_eq!(one(Fill::Min), vec![(10, 1.0)]);
        assert_eq!(one(Fill::Max), vec![(10, 3.0)]);
        assert_eq!(one(Fill::Last), vec![(10, 3.0)]);
        assert_eq!(Fill::for_function("rate"), Fill::Counter);
        assert_eq!(Fill::for_function("changes"), Fill::Last);
    }
}
