//! The 53-day test at full size: four instances of the example app's
//! traffic (104 series, one sample per 15 s, 47.6 M samples) for 53 simulated
//! days through ingest, hourly compaction passes and retention, checked
//! against the plain model every week. Prints disk, RSS and compaction time
//! per day, and what each resolution holds.
//!
//! Run: `cargo bench -p tinyobs --bench fifty_three_days` (env `SIM_DAYS`,
//! `SIM_INSTANCES`; retention `SIM_RETENTION=raw,5m,1h` in days, default
//! 7,14,30 so that all three level off within the run; `SIM_CHECK=0` leaves
//! the model out, so that the RSS is TinyObs's alone).

#[path = "../tests/sim/mod.rs"]
mod sim;

use std::time::Instant;
use tinyobs::storage::DAY_MS;

fn env_or(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let retention: Vec<i64> = std::env::var("SIM_RETENTION")
        .unwrap_or_else(|_| "7,14,30".into())
        .split(',')
        .map(|d| d.trim().parse().expect("days"))
        .collect();
    let config = sim::SimConfig {
        days: env_or("SIM_DAYS", 53),
        instances: env_or("SIM_INSTANCES", 4) as usize,
        retention_raw_ms: retention[0] * DAY_MS,
        retention_5m_ms: retention[1] * DAY_MS,
        retention_1h_ms: retention[2] * DAY_MS,
        check: std::env::var("SIM_CHECK").as_deref() != Ok("0"),
    };
    let dir = tempfile::tempdir().unwrap();
    let timer = Instant::now();
    let days = sim::run(dir.path(), &config);
    let wall = timer.elapsed();
    println!(
        "| day | disk MiB | RSS MiB | compaction s/day | raw samples | 5m buckets | 1h buckets |"
    );
    println!("|---|---|---|---|---|---|---|");
    for d in &days {
        println!(
            "| {} | {:.1} | {:.0} | {:.2} | {} | {} | {} |",
            d.day,
            d.disk_bytes as f64 / 1048576.0,
            d.rss_bytes as f64 / 1048576.0,
            d.compaction_ms as f64 / 1000.0,
            d.held[0],
            d.held[1],
            d.held[2]
        );
    }
    for part in ["sled", "wal", "chunks"] {
        println!(
            "{part}: {:.1} MiB after a clean stop",
            tinyobs::storage::dir_size(&dir.path().join(part)) as f64 / 1048576.0
        );
    }
    let last = days.last().expect("at least a day");
    let compaction: u64 = days.iter().map(|d| d.compaction_ms).sum();
    println!(
        "\n{} samples in {:.0} s of wall time ({:.0} samples/s with compaction); \
         {} compaction passes took {:.1} s in all ({:.0} ms a pass)",
        last.samples,
        wall.as_secs_f64(),
        last.samples as f64 / wall.as_secs_f64(),
        config.days * 24,
        compaction as f64 / 1000.0,
        compaction as f64 / (config.days * 24) as f64
    );
}
