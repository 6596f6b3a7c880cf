//! The 53-day test, reduced for CI: one instance of the example app's
//! traffic (26 series, one sample per 15 s) for 53 simulated days, with
//! retention raw 7 d, 5 min 14 d, 1 h 30 d. Disk and memory must level off
//! once retention deletes, and every resolution must match the plain model.
//! The full size is `cargo bench -p tinyobs --bench fifty_three_days`.

mod sim;

use tinyobs::storage::DAY_MS;

#[test]
fn fifty_three_days_level_off_and_match_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let config = sim::SimConfig {
        days: 53,
        instances: 1,
        retention_raw_ms: 7 * DAY_MS,
        retention_5m_ms: 14 * DAY_MS,
        retention_1h_ms: 30 * DAY_MS,
        check: true,
    };
    let days = sim::run(dir.path(), &config);
    for d in &days {
        println!(
            "day {:>2}: {} samples in, disk {:>6} KiB, rss {:>4} MiB, compaction {:>5} ms, held {:?}",
            d.day,
            d.samples,
            d.disk_bytes >> 10,
            d.rss_bytes >> 20,
            d.compaction_ms,
            d.held
        );
    }
    let series = 26;
    let per_day = [DAY_MS / sim::STEP_MS, 288, 24].map(|n| n as u64 * series);
    // What each resolution holds stops growing at its retention (plus the
    // block or window that retention deletes whole).
    let bounds = [
        7 * per_day[0] + per_day[0] / 12,
        14 * per_day[1] + per_day[1] / 3,
        34 * per_day[2],
    ];
    for d in days.iter().filter(|d| d.day >= 35) {
        for (r, (&held, &bound)) in d.held.iter().zip(&bounds).enumerate() {
            assert!(held <= bound, "day {}: resolution {r} holds {held}", d.day);
            assert!(
                held >= bound / 2,
                "day {}: resolution {r} holds {held}",
                d.day
            );
        }
    }
    // Disk and memory level off: the last two weeks never pass the peak of
    // days 15 to 30 by more than a quarter (disk saws up and down as WAL
    // segments of up to 32 MiB fill and are deleted).
    let peak = |from: i64, to: i64, f: fn(&sim::DayFigures) -> u64| {
        days.iter()
            .filter(|d| (from..=to).contains(&d.day))
            .map(f)
            .max()
            .unwrap()
    };
    let (disk_before, disk_after) = (
        peak(15, 30, |d| d.disk_bytes),
        peak(40, 53, |d| d.disk_bytes),
    );
    assert!(
        disk_after * 4 <= disk_before * 5,
        "disk grew from {disk_before} to {disk_after}"
    );
    let (rss_before, rss_after) = (peak(15, 30, |d| d.rss_bytes), peak(40, 53, |d| d.rss_bytes));
    assert!(
        rss_after * 4 <= rss_before * 5,
        "rss grew from {rss_before} to {rss_after}"
    );
}
