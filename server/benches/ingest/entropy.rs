//! How few bits any lossless store could keep the workload's values in: the
//! floor that issue 2's disk target is weighed against.
//!
//! The workload's randomness is known. At every step each series takes one
//! draw of `Rng::gauss` (four uniforms summed, scaled to unit variance) and
//! turns it into an increment. A store that codes each series on its own, as
//! TinyObs, Prometheus and VictoriaMetrics all do, cannot spend fewer bits on
//! a sample, on average, than the entropy of that increment (Shannon's source
//! coding theorem), whatever its codec. Timestamps sit on an exact 15 s grid
//! and carry nothing.
//!
//! - Counters and walks: the increment is the draw scaled and rounded to the
//!   series' quantum, a discrete distribution.
//! - Buckets: the count's rounded increment times the bucket's share, rounded
//!   down; discrete too. (Here a bucket is a function of its count, which a
//!   store coding the two together could use; real buckets are not, and no
//!   store of the three codes series together.)
//! - `_sum`: a float whose increment has a density. The stored value is the
//!   new sum rounded to its ulp, which costs the increment's differential
//!   entropy minus log2(ulp) bits: more as the sum grows.
//!
//! The walks' clamp at zero is left out. It takes some entropy away where
//! a walk sits at zero, which the load and user walks reach now and then;
//! they are 40 series of 2,000, and a step at zero saves at most a bit or
//! so, a few in a thousand steps: far under a thousandth of a byte per
//! sample of the whole.

use super::Gen;

/// Cells of the grid over the draw's range.
const CELLS: usize = 50_000;

/// The draw's range: four uniforms, minus 2, times 1.732.
const HALF_RANGE: f64 = 2.0 * 1.732;

/// The workload's entropy per sample, in bits, of every series.
/// `values[i]` is series `i`'s values (the `_sum` series' cost depends on
/// the size of the sum).
pub(super) fn bits_per_sample(gens: &[Gen], values: &[Vec<f64>]) -> Vec<f64> {
    let draws = draws();
    gens.iter()
        .zip(values)
        .map(|(g, v)| match *g {
            Gen::Constant(_) => 0.0,
            Gen::Counter {
                rate,
                decimals,
                noise,
                ..
            } => discrete(&draws, |d| counter_increment(d, rate, noise, decimals)),
            Gen::Walk { step, quantum, .. } => discrete(&draws, |d| (d * step / quantum).round()),
            Gen::Bucket { of, le, scale } => {
                let count = count_of(&gens[of]);
                let share = bucket_share(le, scale);
                discrete(&draws, |d| (count(d) * share).floor())
            }
            Gen::Sum { of, scale } => sum_bits(&draws, count_of(&gens[of]), scale, v),
        })
        .collect()
}

/// The share of a step's requests that took at most `le` seconds, as the
/// generator has it.
pub(super) fn bucket_share(le: f64, scale: f64) -> f64 {
    if le.is_infinite() {
        1.0
    } else {
        1.0 - (-le / scale).exp()
    }
}

/// A counter's increment for draw `d`, in units of its last decimal.
fn counter_increment(d: f64, rate: f64, noise: f64, decimals: i32) -> f64 {
    ((rate + d * rate.sqrt() * noise).max(0.0) * 10f64.powi(decimals)).round()
}

/// The request count increment for draw `d` of the `_count` counter `g`.
fn count_of(g: &Gen) -> impl Fn(f64) -> f64 + use<> {
    let Gen::Counter { rate, noise, .. } = *g else {
        panic!("a bucket or sum follows a counter");
    };
    move |d| counter_increment(d, rate, noise, 0)
}

/// (draw, probability) at the middle of each cell, from the Irwin-Hall
/// density of four uniforms.
fn draws() -> Vec<(f64, f64)> {
    let width = 2.0 * HALF_RANGE / CELLS as f64;
    let cells: Vec<(f64, f64)> = (0..CELLS)
        .map(|i| {
            let d = -HALF_RANGE + (i as f64 + 0.5) * width;
            (d, irwin_hall_4(d / 1.732 + 2.0) / 1.732 * width)
        })
        .collect();
    let total: f64 = cells.iter().map(|c| c.1).sum();
    cells.into_iter().map(|(d, p)| (d, p / total)).collect()
}

/// The density of the sum of four uniforms on [0, 1].
fn irwin_hall_4(x: f64) -> f64 {
    let binomial = [1.0, -4.0, 6.0, -4.0, 1.0];
    (0..5)
        .map(|k| binomial[k] * (x - k as f64).max(0.0).powi(3))
        .sum::<f64>()
        / 6.0
}

/// The entropy, in bits, of `outcome(draw)`, which never falls as the draw
/// grows, so that equal outcomes sit in one run of cells.
fn discrete(draws: &[(f64, f64)], outcome: impl Fn(f64) -> f64) -> f64 {
    let term = |p: f64| if p > 0.0 { -p * p.log2() } else { 0.0 };
    let mut bits = 0.0;
    let mut run = (f64::NAN, 0.0);
    for &(d, p) in draws {
        let o = outcome(d);
        if o == run.0 {
            run.1 += p;
        } else {
            bits += term(run.1);
            run = (o, p);
        }
    }
    bits + term(run.1)
}

/// Bits per sample of a `_sum` series: its increment is `count × scale ×
/// (1 + 0.2 × draw)`, and the value kept is the sum rounded to its ulp.
fn sum_bits(draws: &[(f64, f64)], count: impl Fn(f64) -> f64, scale: f64, values: &[f64]) -> f64 {
    // The draw's differential entropy, and the increment's given the count
    // (a lower bound on the increment's own: the count is a draw too).
    let width = 2.0 * HALF_RANGE / CELLS as f64;
    let draw_bits: f64 = draws
        .iter()
        .filter(|c| c.1 > 0.0)
        .map(|&(_, p)| -p * (p / width).log2())
        .sum();
    let given_count: f64 = draws
        .iter()
        .map(|&(d, p)| {
            let c = count(d);
            if c > 0.0 {
                p * ((0.2 * scale * c).log2() + draw_bits)
            } else {
                0.0
            }
        })
        .sum();
    let bits: f64 = values
        .iter()
        .filter(|v| v.is_normal())
        .map(|v| (given_count - ulp_log2(*v)).max(0.0))
        .sum();
    bits / values.len().max(1) as f64
}

/// log2 of the gap between `v` (normal) and the next float.
fn ulp_log2(v: f64) -> f64 {
    ((v.to_bits() >> 52) & 0x7ff) as f64 - 1023.0 - 52.0
}
