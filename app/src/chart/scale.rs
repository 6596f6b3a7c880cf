//! Axis scales: where ticks go on a time axis and a value axis, and how values
//! read in their unit. Pure functions, shared by the chart and the tooltips.

use serde::{Deserialize, Serialize};

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// Tick spacings a time axis may use: round numbers of the clock and calendar.
const TIME_STEPS: [i64; 22] = [
    SECOND,
    2 * SECOND,
    5 * SECOND,
    10 * SECOND,
    15 * SECOND,
    30 * SECOND,
    MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
    2 * DAY,
    7 * DAY,
    14 * DAY,
    30 * DAY,
];

/// What a value measures, which decides how the axis and tooltips print it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    #[default]
    None,
    Bytes,
    Seconds,
    /// A ratio (0.25) shown as a percentage (25%).
    Percent,
    PerSecond,
    BytesPerSecond,
}

impl Unit {
    /// The unit a metric's name announces, by Prometheus naming conventions.
    /// `rate` says the chart shows the per-second rate of a counter.
    pub fn for_metric(name: &str, rate: bool) -> Unit {
        let base = name.strip_suffix("_total").unwrap_or(name);
        match (rate, base) {
            (true, b) if b.ends_with("_bytes") => Unit::BytesPerSecond,
            // Seconds spent per second: the fraction of one CPU or one worker.
            (true, b) if b.ends_with("_seconds") => Unit::Percent,
            (true, _) => Unit::PerSecond,
            (false, b) if b.ends_with("_bytes") => Unit::Bytes,
            (false, b) if b.ends_with("_seconds") => Unit::Seconds,
            (false, b) if b.ends_with("_ratio") => Unit::Percent,
            _ => Unit::None,
        }
    }

    /// A short human reading of `v`: `1.5 GiB`, `250 ms`, `12%`, `3.2k/s`.
    pub fn format(self, v: f64) -> String {
        self.format_digits(v, 3)
    }

    /// `format` with `digits` significant digits, for axis ticks that three
    /// digits cannot tell apart (516.1 KiB, 516.2 KiB).
    pub fn format_digits(self, v: f64, digits: i32) -> String {
        if !v.is_finite() {
            return v.to_string();
        }
        let t = |x: f64| trim(x, digits);
        match self {
            Unit::None => si(v, digits),
            Unit::PerSecond => format!("{}/s", si(v, digits)),
            Unit::Bytes => binary(v, digits),
            Unit::BytesPerSecond => format!("{}/s", binary(v, digits)),
            Unit::Percent => format!("{}%", t(v * 100.0)),
            Unit::Seconds => seconds(v, digits),
        }
    }

    /// The fewest significant digits (3 to 8) that print every tick differently.
    pub fn digits_for(self, ticks: &[f64]) -> i32 {
        (3..=8)
            .find(|&d| {
                let labels: std::collections::HashSet<String> =
                    ticks.iter().map(|&t| self.format_digits(t, d)).collect();
                labels.len() == ticks.len()
            })
            .unwrap_or(8)
    }
}

/// `digits` significant digits without trailing zeros: 1.5, 12, 0.0025.
fn trim(v: f64, digits: i32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let magnitude = v.abs().log10().floor() as i32;
    let decimals = (digits - 1 - magnitude).clamp(0, 12) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// SI prefixes for plain numbers: 1.2k, 3.4M, 5m (milli), 7µ.
fn si(v: f64, digits: i32) -> String {
    const BIG: [(f64, &str); 5] = [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")];
    const SMALL: [(f64, &str); 3] = [(1e-3, "m"), (1e-6, "µ"), (1e-9, "n")];
    let a = v.abs();
    if let Some((scale, prefix)) = BIG.iter().find(|(s, _)| a >= *s) {
        return format!("{}{prefix}", trim(v / scale, digits));
    }
    if a != 0.0 && a < 0.01 {
        let (scale, prefix) = SMALL
            .iter()
            .find(|(s, _)| a >= *s)
            .unwrap_or(&SMALL[SMALL.len() - 1]);
        return format!("{}{prefix}", trim(v / scale, digits));
    }
    trim(v, digits)
}

/// Powers of 1024, as `du -h` and most dashboards show memory and disk.
fn binary(v: f64, digits: i32) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut scaled = v;
    let mut unit = 0;
    while scaled.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        scaled /= 1024.0;
        unit += 1;
    }
    format!("{} {}", trim(scaled, digits), UNITS[unit])
}

fn seconds(v: f64, digits: i32) -> String {
    let trim = |x: f64| trim(x, digits);
    let a = v.abs();
    match a {
        _ if a == 0.0 => "0 s".into(),
        _ if a >= DAY as f64 / 1e3 => format!("{} d", trim(v / 86_400.0)),
        _ if a >= HOUR as f64 / 1e3 => format!("{} h", trim(v / 3_600.0)),
        _ if a >= 60.0 => format!("{} min", trim(v / 60.0)),
        _ if a >= 1.0 => format!("{} s", trim(v)),
        _ if a >= 1e-3 => format!("{} ms", trim(v * 1e3)),
        _ if a >= 1e-6 => format!("{} µs", trim(v * 1e6)),
        _ => format!("{} ns", trim(v * 1e9)),
    }
}

/// Ticks for a time axis over `[start, end]` (ms), at most `max_ticks`, on
/// round clock times in the viewer's time zone (`tz_offset_ms` east of UTC).
/// Returns the ticks and the spacing used, which decides the label format.
pub fn time_ticks(start: i64, end: i64, max_ticks: usize, tz_offset_ms: i64) -> (Vec<i64>, i64) {
    if end <= start || max_ticks == 0 {
        return (Vec::new(), DAY);
    }
    let span = end - start;
    let step = TIME_STEPS
        .iter()
        .copied()
        .find(|step| span / step < max_ticks as i64)
        .unwrap_or_else(|| span / max_ticks as i64 / DAY * DAY + DAY);
    let local = start + tz_offset_ms;
    let first = local.div_euclid(step) * step + if local % step == 0 { 0 } else { step };
    let ticks = (0..)
        .map(|i| first + i * step - tz_offset_ms)
        .take_while(|&t| t <= end)
        .collect();
    (ticks, step)
}

/// A tick label: seconds shown only when ticks are seconds apart, the date
/// only at midnight or when ticks are days apart.
pub fn format_time(t: i64, step: i64, tz_offset_ms: i64) -> String {
    let local = t + tz_offset_ms;
    let (_, month, day) = civil_from_days(local.div_euclid(DAY));
    let in_day = local.rem_euclid(DAY);
    let (h, m, s) = (
        in_day / HOUR,
        in_day % HOUR / MINUTE,
        in_day % MINUTE / SECOND,
    );
    if step >= DAY || (in_day == 0 && step >= MINUTE) {
        format!("{month:02}-{day:02}")
    } else if step < MINUTE {
        format!("{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}")
    }
}

/// A full timestamp for tooltips and tables: `2026-11-25 13:05:00`.
pub fn format_datetime(t: i64, tz_offset_ms: i64) -> String {
    let local = t + tz_offset_ms;
    let (year, month, day) = civil_from_days(local.div_euclid(DAY));
    let in_day = local.rem_euclid(DAY);
    let (h, m, s) = (
        in_day / HOUR,
        in_day % HOUR / MINUTE,
        in_day % MINUTE / SECOND,
    );
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02}")
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) in the proleptic Gregorian calendar to days since
/// 1970-01-01 (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// Round ticks (1, 2 or 5 times a power of ten) covering `[lo, hi]`, at most
/// `max_ticks` of them.
pub fn value_ticks(lo: f64, hi: f64, max_ticks: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo || max_ticks < 2 {
        return Vec::new();
    }
    let raw = (hi - lo) / (max_ticks - 1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    // The smallest round step that gives at most `max_ticks` ticks.
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| (((hi / s).floor() - (lo / s).ceil()) as usize) < max_ticks)
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// Value ticks that are round in the unit: for bytes, round numbers of KiB,
/// MiB or GiB (1024-based) rather than of decimal bytes.
pub fn unit_ticks(unit: Unit, lo: f64, hi: f64, max_ticks: usize) -> Vec<f64> {
    match unit {
        Unit::Bytes | Unit::BytesPerSecond => {
            let top = lo.abs().max(hi.abs());
            let mut scale = 1.0;
            while top / scale >= 1024.0 && scale < 1024f64.powi(5) {
                scale *= 1024.0;
            }
            value_ticks(lo / scale, hi / scale, max_ticks)
                .into_iter()
                .map(|t| t * scale)
                .collect()
        }
        _ => value_ticks(lo, hi, max_ticks),
    }
}

/// The value range an axis shows for data in `[min, max]`: a little room
/// above and below, zero kept in view when the data sits near it, and a
/// sensible span for flat lines.
pub fn value_range(min: f64, max: f64) -> (f64, f64) {
    if !(min.is_finite() && max.is_finite()) || min > max {
        return (0.0, 1.0);
    }
    if min == max {
        let pad = if min == 0.0 { 1.0 } else { min.abs() * 0.1 };
        return (min - pad, max + pad);
    }
    let pad = (max - min) * 0.05;
    let lo = if min >= 0.0 && (min - pad < 0.0 || min < max * 0.25) {
        0.0
    } else {
        min - pad
    };
    (lo, max + pad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_follow_prometheus_names() {
        assert_eq!(
            Unit::for_metric("process_resident_memory_bytes", false),
            Unit::Bytes
        );
        assert_eq!(
            Unit::for_metric("node_network_receive_bytes_total", true),
            Unit::BytesPerSecond
        );
        assert_eq!(
            Unit::for_metric("http_request_duration_seconds", false),
            Unit::Seconds
        );
        assert_eq!(
            Unit::for_metric("node_cpu_seconds_total", true),
            Unit::Percent
        );
        assert_eq!(
            Unit::for_metric("http_requests_total", true),
            Unit::PerSecond
        );
        assert_eq!(Unit::for_metric("cache_hit_ratio", false), Unit::Percent);
        assert_eq!(Unit::for_metric("active_users", false), Unit::None);
    }

    #[test]
    fn values_read_in_their_unit() {
        assert_eq!(Unit::Bytes.format(1536.0), "1.5 KiB");
        assert_eq!(Unit::Bytes.format(3.0 * 1024.0 * 1024.0 * 1024.0), "3 GiB");
        assert_eq!(Unit::Seconds.format(0.25), "250 ms");
        assert_eq!(Unit::Seconds.format(0.000_12), "120 µs");
        assert_eq!(Unit::Seconds.format(90.0), "1.5 min");
        assert_eq!(Unit::Percent.format(0.125), "12.5%");
        assert_eq!(Unit::PerSecond.format(3200.0), "3.2k/s");
        assert_eq!(Unit::None.format(0.0), "0");
        assert_eq!(Unit::None.format(-42.0), "-42");
        assert_eq!(Unit::None.format(0.005), "5m");
        assert_eq!(Unit::None.format(1234.0), "1.23k");
        assert_eq!(Unit::None.format(f64::NAN), "NaN");
    }

    #[test]
    fn close_ticks_get_more_digits() {
        let kib = 1024.0;
        let ticks = [516.0 * kib, 516.2 * kib, 516.4 * kib];
        let d = Unit::Bytes.digits_for(&ticks);
        assert_eq!(d, 4);
        assert_eq!(Unit::Bytes.format_digits(ticks[1], d), "516.2 KiB");
        assert_eq!(Unit::None.digits_for(&[0.0, 5.0, 10.0]), 3);
    }

    #[test]
    fn time_ticks_fall_on_round_local_times() {
        let start = 1_764_075_700_000; // 2025-11-25 13:01:40 UTC
        let (ticks, step) = time_ticks(start, start + HOUR, 8, 0);
        assert_eq!(step, 10 * MINUTE);
        assert!(ticks.len() <= 8 && ticks.len() >= 5);
        assert!(ticks.iter().all(|t| t % (10 * MINUTE) == 0));
        assert_eq!(format_time(ticks[0], step, 0), "13:10");
        // One hour east of UTC: ticks still land on local round times.
        let (ticks, _) = time_ticks(start, start + 2 * DAY, 6, HOUR);
        assert!(ticks.iter().all(|t| (t + HOUR) % (12 * HOUR) == 0));
        assert_eq!(time_ticks(10, 10, 5, 0).0, Vec::<i64>::new());
    }

    #[test]
    fn long_ranges_tick_by_days_and_show_dates() {
        let (ticks, step) = time_ticks(0, 90 * DAY, 6, 0);
        assert!(step >= 14 * DAY && ticks.len() <= 7);
        assert_eq!(format_time(0, step, 0), "01-01");
        assert_eq!(format_datetime(1_764_075_700_000, 0), "2025-11-25 13:01:40");
        assert_eq!(format_datetime(-1, 0), "1969-12-31 23:59:59");
    }

    #[test]
    fn value_ticks_are_round_and_cover_the_range() {
        assert_eq!(
            value_ticks(0.0, 10.0, 6),
            vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
        );
        let ticks = value_ticks(0.013, 0.087, 5);
        assert!(ticks.len() <= 5 && ticks.len() >= 3, "{ticks:?}");
        assert!(value_ticks(1.0, 1.0, 5).is_empty());
        // A range of 90 around 100 gets five ticks, not only "100".
        assert_eq!(
            value_ticks(55.0, 145.0, 5),
            vec![60.0, 80.0, 100.0, 120.0, 140.0]
        );
        assert!(value_ticks(f64::NAN, 1.0, 5).is_empty());
    }

    #[test]
    fn byte_ticks_are_round_in_binary_units() {
        let mib = 1024.0 * 1024.0;
        let ticks = unit_ticks(Unit::Bytes, 0.0, 2.0 * mib, 5);
        assert_eq!(ticks, vec![0.0, 0.5 * mib, mib, 1.5 * mib, 2.0 * mib]);
        assert_eq!(Unit::Bytes.format(ticks[1]), "512 KiB");
        assert_eq!(
            unit_ticks(Unit::None, 0.0, 10.0, 6),
            value_ticks(0.0, 10.0, 6)
        );
    }

    #[test]
    fn value_ranges_pad_and_keep_zero_near() {
        assert_eq!(value_range(5.0, 5.0), (4.5, 5.5));
        assert_eq!(value_range(0.0, 0.0), (-1.0, 1.0));
        assert_eq!(value_range(1.0, 100.0).0, 0.0);
        let (lo, hi) = value_range(90.0, 100.0);
        assert!(lo > 80.0 && lo < 90.0 && hi > 100.0);
        assert_eq!(value_range(f64::INFINITY, 1.0), (0.0, 1.0));
    }
}
