//! The 53-day simulation, shared by `tests/fifty_three_days.rs` (reduced, in
//! CI) and `benches/fifty_three_days.rs` (full size): the example app's kind
//! of traffic, one sample per 15 s, driven through `Storage::append`,
//! hourly compaction passes and retention on an injected clock, checked
//! against a plain model of what each resolution must hold.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use tinyobs::storage::{
    Append, DAY_MS, Labels, METRIC_NAME, ManualClock, Matcher, Resolution, Sample, Storage,
    StorageConfig,
};

pub const STEP_MS: i64 = 15_000;
const HOUR_MS: i64 = 3_600_000;
/// Samples appended per request: ten minutes of every series.
const STEPS_PER_BATCH: i64 = 40;

pub struct SimConfig {
    pub days: i64,
    /// Copies of the example app (26 series each).
    pub instances: usize,
    pub retention_raw_ms: i64,
    pub retention_5m_ms: i64,
    pub retention_1h_ms: i64,
    /// Keep the model and check against it (its memory counts in the RSS).
    pub check: bool,
}

/// What one simulated day ended with.
#[derive(Clone, Debug)]
pub struct DayFigures {
    pub day: i64,
    pub disk_bytes: u64,
    pub rss_bytes: u64,
    /// Wall time of the day's 24 compaction passes.
    pub compaction_ms: u64,
    /// Samples ingested so far.
    pub samples: u64,
    /// What each resolution holds at the end of the day: raw samples, 5 min
    /// and 1 h buckets.
    pub held: [u64; 3],
}

/// The series of one example-app instance: name, labels, and how a value
/// moves each step. Values are multiples of 1/64, so every sum is exact
/// whatever the order of addition, and the model can demand bit equality.
struct SeriesGen {
    labels: Labels,
    kind: Kind,
    value: f64,
}

#[derive(Clone, Copy)]
enum Kind {
    /// Grows by up to `max` sixty-fourths a step; resets on restarts.
    Counter { max: u64 },
    /// Walks within [lo, hi] by up to `step`.
    Gauge { lo: f64, hi: f64, step: u64 },
}

fn example_app(instance: usize) -> Vec<SeriesGen> {
    let inst = format!("app-{instance}");
    let mut out = Vec::new();
    let mut add = |name: &str, extra: &[(&str, &str)], kind: Kind| {
        let mut labels = vec![
            (METRIC_NAME, name.to_string()),
            ("instance", inst.clone()),
            ("service", "shop".to_string()),
        ];
        labels.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        out.push(SeriesGen {
            labels: Labels::new(labels),
            kind,
            value: 0.0,
        });
    };
    for route in [
        "/api/users",
        "/api/users/:id",
        "/api/products",
        "/api/orders",
        "/health",
    ] {
        add(
            "http_requests_total",
            &[("route", route), ("status", "200")],
            Kind::Counter { max: 64 * 20 },
        );
        add(
            "http_requests_total",
            &[("route", route), ("status", "500")],
            Kind::Counter { max: 64 },
        );
    }
    for le in ["0.05", "0.1", "0.25", "0.5", "1", "+Inf"] {
        add(
            "http_request_duration_seconds_bucket",
            &[("le", le)],
            Kind::Counter { max: 64 * 15 },
        );
    }
    add(
        "http_request_duration_seconds_sum",
        &[],
        Kind::Counter { max: 200 },
    );
    add(
        "http_request_duration_seconds_count",
        &[],
        Kind::Counter { max: 64 * 15 },
    );
    add(
        "active_users",
        &[],
        Kind::Gauge {
            lo: 20.0,
            hi: 400.0,
            step: 64 * 5,
        },
    );
    add(
        "db_pool_connections",
        &[("state", "idle")],
        Kind::Gauge {
            lo: 0.0,
            hi: 10.0,
            step: 64,
        },
    );
    add(
        "db_pool_connections",
        &[("state", "in_use")],
        Kind::Gauge {
            lo: 0.0,
            hi: 10.0,
            step: 64,
        },
    );
    for op in ["select", "insert", "update"] {
        add(
            "db_queries_total",
            &[("operation", op)],
            Kind::Counter { max: 64 * 30 },
        );
    }
    add(
        "process_resident_memory_bytes",
        &[],
        Kind::Gauge {
            lo: 4e7,
            hi: 9e7,
            step: 64 * 100_000,
        },
    );
    add("process_cpu_seconds_total", &[], Kind::Counter { max: 8 });
    out
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// Per resolution and series, the buckets a plain loop computes:
/// (count, sum, min, max).
type ModelBuckets = BTreeMap<(usize, i64), (u64, f64, f64, f64)>;

struct Model {
    five: ModelBuckets,
    hour: ModelBuckets,
}

impl Model {
    fn add(&mut self, series: usize, s: Sample) {
        for (buckets, step) in [(&mut self.five, 300_000), (&mut self.hour, HOUR_MS)] {
            let b = buckets
                .entry((series, s.t.div_euclid(step) * step))
                .or_insert((0, 0.0, f64::INFINITY, f64::NEG_INFINITY));
            b.0 += 1;
            b.1 += s.v;
            b.2 = b.2.min(s.v);
            b.3 = b.3.max(s.v);
        }
    }

    /// Forgets buckets before `t`: the model keeps only what retention keeps,
    /// so its memory levels off too.
    fn prune(&mut self, five_before: i64, hour_before: i64) {
        self.five.retain(|(_, t), _| *t >= five_before);
        self.hour.retain(|(_, t), _| *t >= hour_before);
    }
}

fn held(storage: &Storage) -> [u64; 3] {
    let stats = storage.resolution_stats().unwrap();
    [stats[0].samples, stats[1].samples, stats[2].samples]
}

pub fn rss_bytes() -> u64 {
    tinyobs_sdk::process::read()
        .resident_memory_bytes
        .unwrap_or(0.0) as u64
}

/// Runs the simulation in `dir`, checking every simulated week (and at the
/// end) that each resolution holds exactly what the model says. Panics on
/// the first difference.
pub fn run(dir: &std::path::Path, sim: &SimConfig) -> Vec<DayFigures> {
    let start = 1_767_225_600_000; // 2026-01-01T00:00:00Z
    let clock = Arc::new(ManualClock::new(start));
    let mut config = StorageConfig::new(dir);
    config.sync_wal = false;
    config.cache_bytes = 16 << 20;
    config.retention_raw_ms = sim.retention_raw_ms;
    config.retention_5m_ms = sim.retention_5m_ms;
    config.retention_1h_ms = sim.retention_1h_ms;
    config.clock = clock.clone();
    let storage = Storage::open(config).unwrap();

    let mut gens: Vec<SeriesGen> = (0..sim.instances).flat_map(example_app).collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut model = Model {
        five: BTreeMap::new(),
        hour: BTreeMap::new(),
    };
    let steps_per_day = DAY_MS / STEP_MS;
    let mut figures = Vec::new();
    let mut samples = 0u64;
    let mut compaction_ms = 0u64;
    let mut step = 0i64;
    while step < sim.days * steps_per_day {
        let batch_end = step + STEPS_PER_BATCH;
        let mut batch: Vec<Append> = gens
            .iter()
            .map(|g| Append {
                labels: g.labels.clone(),
                samples: Vec::with_capacity(STEPS_PER_BATCH as usize),
            })
            .collect();
        for i in step..batch_end {
            let t = start + i * STEP_MS;
            // Every instance restarts every 9 days: counters reset.
            let restart = i % (9 * steps_per_day) == 4321;
            for (n, g) in gens.iter_mut().enumerate() {
                g.value = match g.kind {
                    Kind::Counter { .. } if restart => 0.0,
                    Kind::Counter { max } => g.value + rng.below(max + 1) as f64 / 64.0,
                    Kind::Gauge { lo, hi, step } => {
                        let delta = rng.below(2 * step + 1) as f64 / 64.0 - step as f64 / 64.0;
                        (g.value + delta).clamp(lo, hi)
                    }
                };
                let s = Sample { t, v: g.value };
                batch[n].samples.push(s);
                if sim.check {
                    model.add(n, s);
                }
            }
        }
        let report = storage.append(&batch).unwrap();
        assert!(report.rejected.is_empty(), "{:?}", report.rejected.first());
        samples += report.accepted;
        step = batch_end;

        let now = start + step * STEP_MS;
        if (now - start) % HOUR_MS == 0 {
            clock.set(now);
            let timer = Instant::now();
            storage.compact().unwrap();
            storage.maintain(Instant::now()).unwrap();
            compaction_ms += timer.elapsed().as_millis() as u64;
        }
        if (now - start) % DAY_MS == 0 {
            let day = (now - start) / DAY_MS;
            model.prune(
                now - sim.retention_5m_ms - DAY_MS,
                now - sim.retention_1h_ms - 5 * DAY_MS,
            );
            if sim.check && (day % 7 == 0 || day == sim.days) {
                check(&storage, &gens, &model, now, sim);
            }
            figures.push(DayFigures {
                day,
                disk_bytes: storage.disk_bytes(),
                rss_bytes: rss_bytes(),
                compaction_ms: std::mem::take(&mut compaction_ms),
                samples,
                held: held(&storage),
            });
        }
    }
    storage.flush().unwrap();
    figures
}

/// Every bucket each resolution must still hold (from its retention
/// cutoff to now: retention drops only blocks that end before the cutoff) equals the model's, count and sum and min and max; raw starts at
/// the horizon.
fn check(storage: &Storage, gens: &[SeriesGen], model: &Model, now: i64, sim: &SimConfig) {
    for (n, g) in gens.iter().enumerate() {
        let matchers: Vec<Matcher> = g
            .labels
            .iter()
            .map(|(k, v)| Matcher::equal(k, v.to_string()))
            .collect();
        let (id, _) = storage.select_series(&matchers).unwrap()[0].clone();
        // Blocks are written once complete: 5 min up to the block holding
        // the newest sample, 1 h up to the 4-day block holding that.
        let five_until = (now - STEP_MS).div_euclid(8 * HOUR_MS) * 8 * HOUR_MS;
        let hour_until = five_until.div_euclid(4 * DAY_MS) * 4 * DAY_MS;
        for (resolution, buckets, keep, until) in [
            (
                Resolution::FiveMinutes,
                &model.five,
                sim.retention_5m_ms,
                five_until,
            ),
            (
                Resolution::OneHour,
                &model.hour,
                sim.retention_1h_ms,
                hour_until,
            ),
        ] {
            let from = now - keep;
            let stored: Vec<(i64, u64, f64, f64, f64)> = storage
                .buckets(resolution, id, from, until - 1)
                .unwrap()
                .iter()
                .map(|b| (b.t, b.count, b.sum, b.min, b.max))
                .collect();
            let expected: Vec<(i64, u64, f64, f64, f64)> = buckets
                .range((n, from)..(n, until))
                .map(|((_, t), b)| (*t, b.0, b.1, b.2, b.3))
                .collect();
            assert!(!expected.is_empty());
            if stored != expected {
                let i = stored.iter().zip(&expected).position(|(a, b)| a != b);
                panic!(
                    "series {n} at {}: {} buckets stored, {} expected, first difference at {i:?}",
                    resolution.name(),
                    stored.len(),
                    expected.len()
                );
            }
        }
        let horizon = storage.horizon();
        if horizon > i64::MIN {
            assert!(
                storage
                    .samples(id, i64::MIN, horizon - 1)
                    .unwrap()
                    .is_empty()
            );
            assert!(horizon >= now - sim.retention_raw_ms - 2 * HOUR_MS);
        }
    }
}
