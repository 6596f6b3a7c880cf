//! Ingest benchmark on a deterministic synthetic workload: 2,000 series shaped
//! like node-exporter and HTTP-service metrics, one sample per 15 s for 24 h.
//! It measures TinyObs's storage layer directly, then sends the very same
//! remote_write requests over HTTP to TinyObs and, when installed, to Debian's
//! `prometheus` and `victoria-metrics`, one after the other (each alone: the
//! others are frozen meanwhile), and prints one table of ingest rate, bytes
//! per sample on disk after a flush, and peak RSS.
//!
//! First it prints the workload's entropy by metric, the floor under any
//! lossless store's bytes per sample, beside what TinyObs's chunk codec
//! spends on the same values (`ingest/entropy.rs`).
//!
//! Once all are loaded, the peers answer the PromQL queries of
//! `ingest/queries.rs`, asked of each in turn and timed side by side (issue 5).
//!
//! Run: `cargo bench -p tinyobs --bench ingest` (env `BENCH_HOURS` shortens it).

#[path = "ingest/entropy.rs"]
mod entropy;
#[path = "ingest/queries.rs"]
mod queries;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tinyobs::remote_write;
use tinyobs::storage::{Append, Labels, METRIC_NAME, Matcher, Sample, Storage, StorageConfig};

/// The allocator the `tinyobs` binary uses, so that the in-process rows
/// measure what the server does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SERIES: usize = 2000;
const STEP_MS: i64 = 15_000;
/// Series per remote_write shard; each shard sends its series in time order,
/// as Prometheus's shards do, so no peer sees out-of-order samples.
const SHARDS: usize = 4;
const STEPS_PER_REQUEST: usize = 4;

/// A number from the environment variable `name`, if it is set and parses.
fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok()?.parse().ok()
}

fn main() {
    // The query threads the server starts, for the in-process figures.
    tinyobs::storage::start_reading_threads();
    let hours: i64 = env_number("BENCH_HOURS").unwrap_or(24);
    let steps = (hours * 3600 * 1000 / STEP_MS) as usize;
    let end = (chrono::Utc::now().timestamp_millis() / STEP_MS) * STEP_MS - 60_000;
    let start = end - steps as i64 * STEP_MS;
    let workload = Workload::generate(start, steps);
    let total = (SERIES * steps) as u64;
    println!("workload: {SERIES} series x {steps} steps = {total} samples, {hours} h at 15 s");
    let (entropy_table, floor) = entropy_report(&workload);
    println!("{entropy_table}");

    let mut rows = Vec::new();
    rows.push(bench_storage_layer(&workload, total));
    let requests = workload.requests();
    println!(
        "{} remote_write requests, {:.1} MB snappy in all",
        requests.iter().map(Vec::len).sum::<usize>(),
        requests.iter().flatten().map(Vec::len).sum::<usize>() as f64 / 1e6
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // BENCH_PEERS: "0" for the storage layer alone, or a comma list of
    // tinyobs, prometheus, victoria-metrics.
    let wanted = std::env::var("BENCH_PEERS").unwrap_or_default();
    let peers: Vec<Peer> = [Peer::TinyObs, Peer::Prometheus, Peer::VictoriaMetrics]
        .into_iter()
        .filter(|p| wanted.is_empty() || wanted.split(',').any(|w| w == p.short()))
        .collect();
    // Queries start an hour in, so that every window is full, and 7 s off
    // the 15 s sample grid: Prometheus 2.42 includes a sample exactly on a
    // window's left edge, Prometheus 3 (whose test scripts TinyObs follows)
    // does not; off the grid, both answer alike.
    let span = (start / 1000 + 3600 + 7, end / 1000);
    // BENCH_ROUNDS=N: every peer N times, round by round, each figure the
    // median of its N; this machine's rates move by a quarter run to run.
    let rounds: usize = env_number("BENCH_ROUNDS").unwrap_or(1).max(1);
    let mut runs: Vec<Vec<Row>> = peers.iter().map(|_| Vec::new()).collect();
    for round in 1..=rounds {
        let results = runtime.block_on(bench_round(&peers, &requests, total, span));
        for (peer, result) in results {
            let runs = &mut runs[peers
                .iter()
                .position(|&p| p == peer)
                .expect("a peer of the round")];
            match result {
                Ok(row) => {
                    if rounds > 1 {
                        let p50s: Vec<String> = row
                            .queries
                            .iter()
                            .map(|t| format!("{:.1}", t.p50_ms))
                            .collect();
                        println!(
                            "round {round}: {}: {:.0} samples/s, {} CPU s per million samples, query p50s {} ms",
                            row.name,
                            row.samples_per_s,
                            row.cpu_s_per_million
                                .map_or("n/a".into(), |c| format!("{c:.3}")),
                            p50s.join(" / ")
                        );
                    }
                    runs.push(row);
                }
                Err(e) => println!("{}: skipped ({e})", peer.name()),
            }
        }
    }
    rows.extend(runs.into_iter().filter_map(median_row));
    let mut report = render(&rows, hours, floor);
    if rounds > 1 {
        report = format!("{rounds} rounds, each figure the median of its rounds\n\n{report}");
    }
    let timed: Vec<(String, Vec<queries::Timing>)> = rows
        .iter_mut()
        .filter(|r| !r.queries.is_empty())
        .map(|r| (r.name.clone(), std::mem::take(&mut r.queries)))
        .collect();
    if !timed.is_empty() {
        report += &format!(
            "
PromQL over the {hours} h, each query {} times:

",
            queries::REPEATS
        );
        report += &queries::render(&timed);
    }
    report += &format!("\nThe values' entropy and the chunk codec, by metric:\n\n{entropy_table}");
    println!("\n{report}");
    let _ = std::fs::write(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-ingest.md"),
        report,
    );
}

struct Row {
    name: String,
    samples_per_s: f64,
    /// CPU time (user + system) the server spent while ingesting, per
    /// million samples: steadier than the rate on a noisy machine. Work a
    /// peer defers past the last request (VictoriaMetrics merges in the
    /// background) is not in it.
    cpu_s_per_million: Option<f64>,
    bytes_per_sample: Option<f64>,
    peak_rss_mb: Option<f64>,
    /// PromQL timings and answers, for the peers queried over HTTP.
    queries: Vec<queries::Timing>,
}

/// One peer's runs as one row: the median of each figure (query latencies
/// included), and the first run's query answers.
fn median_row(mut runs: Vec<Row>) -> Option<Row> {
    fn median(mut values: Vec<f64>) -> Option<f64> {
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied()
    }
    let of = |f: fn(&Row) -> Option<f64>, runs: &[Row]| median(runs.iter().filter_map(f).collect());
    let samples_per_s = of(|r| Some(r.samples_per_s), &runs)?;
    let cpu_s_per_million = of(|r| r.cpu_s_per_million, &runs);
    let bytes_per_sample = of(|r| r.bytes_per_sample, &runs);
    let peak_rss_mb = of(|r| r.peak_rss_mb, &runs);
    // Each query's latency: the median of the rounds' p50s (one round's
    // runs move with the machine's slow spells); its answer, compared
    // with Prometheus's, from the first round.
    let p50s: Vec<Option<f64>> = (0..runs[0].queries.len())
        .map(|q| {
            median(
                runs.iter()
                    .filter_map(|r| r.queries.get(q))
                    .map(|t| t.p50_ms)
                    .collect(),
            )
        })
        .collect();
    let mut first = runs.swap_remove(0);
    for (timing, p50) in first.queries.iter_mut().zip(p50s) {
        timing.p50_ms = p50.unwrap_or(timing.p50_ms);
    }
    Some(Row {
        samples_per_s,
        cpu_s_per_million,
        bytes_per_sample,
        peak_rss_mb,
        ..first
    })
}

/// The table of rows, the ratios of TinyObs over HTTP to each peer, and
/// where bytes/sample stands against `floor`, the values' entropy.
fn render(rows: &[Row], hours: i64, floor: f64) -> String {
    let mut out = format!(
        "| target ({hours} h, {SERIES} series) | ingest samples/s | server CPU s per million samples | bytes/sample on disk | peak RSS MiB |\n|---|---|---|---|---|\n"
    );
    for r in rows {
        let opt =
            |v: Option<f64>, prec: usize| v.map_or("n/a".to_string(), |v| format!("{v:.prec$}"));
        out += &format!(
            "| {} | {:.0} | {} | {} | {} |\n",
            r.name,
            r.samples_per_s,
            opt(r.cpu_s_per_million, 3),
            opt(r.bytes_per_sample, 3),
            opt(r.peak_rss_mb, 1)
        );
    }
    let find = |prefix: &str| rows.iter().find(|r| r.name.starts_with(prefix));
    if let Some(t) = find("TinyObs over HTTP") {
        for peer in ["Prometheus", "VictoriaMetrics"] {
            if let Some(p) = find(peer) {
                out += &format!(
                    "\nTinyObs / {peer}: ingest rate x{:.2}",
                    t.samples_per_s / p.samples_per_s
                );
                if let (Some(a), Some(b)) = (t.cpu_s_per_million, p.cpu_s_per_million) {
                    out += &format!(", CPU per sample x{a:.2}", a = a / b);
                }
                if let (Some(a), Some(b)) = (t.bytes_per_sample, p.bytes_per_sample) {
                    out += &format!(", bytes/sample x{:.2}", a / b);
                }
                if let (Some(a), Some(b)) = (t.peak_rss_mb, p.peak_rss_mb) {
                    out += &format!(", peak RSS x{:.2}", a / b);
                }
            }
        }
        out += "\n";
    }
    out += &format!(
        "\nNo store that codes series one by one, losslessly, can keep these values in under {floor:.3} bytes/sample (their entropy)"
    );
    if let Some(vm) = find("VictoriaMetrics").and_then(|r| r.bytes_per_sample) {
        out += &format!("; 0.8 x VictoriaMetrics's is {:.3}", 0.8 * vm);
    }
    out += ".\n";
    out
}

/// By metric, the values' entropy in bits per sample (`entropy.rs`) beside
/// what TinyObs's chunk codec spends on the same values, cut into chunks as
/// the store seals them; last, both over the whole workload. Returns the
/// table and the entropy in bytes per sample.
fn entropy_report(w: &Workload) -> (String, f64) {
    let window = StorageConfig::new(Path::new("")).chunk_window_ms;
    // metric -> (series, entropy bits, chunk bytes)
    let mut by_metric = std::collections::BTreeMap::<&str, (usize, f64, usize)>::new();
    for (s, labels) in w.labels.iter().enumerate() {
        let samples: Vec<Sample> = (0..w.steps).map(|step| w.sample(s, step)).collect();
        let bytes: usize = samples
            .chunk_by(|a, b| a.t.div_euclid(window) == b.t.div_euclid(window))
            .map(|chunk| tinyobs::storage::sealed_chunk_len(chunk).expect("a 2 h chunk"))
            .sum();
        let m = by_metric
            .entry(labels.metric_name().unwrap_or_default())
            .or_default();
        *m = (m.0 + 1, m.1 + w.entropy_bits[s], m.2 + bytes);
    }
    let per_sample = |bits: f64, series: usize| bits / series as f64;
    let mut out = String::from(
        "| metric | series | entropy, bits/sample | TinyObs chunks, bits/sample | chunks / entropy |\n|---|---|---|---|---|\n",
    );
    let mut all = (0, 0.0, 0);
    for (name, (series, bits, bytes)) in &by_metric {
        let entropy = per_sample(*bits, *series);
        let chunks = per_sample(*bytes as f64 * 8.0 / w.steps as f64, *series);
        out += &format!(
            "| {name} | {series} | {entropy:.2} | {chunks:.2} | {} |\n",
            if entropy > 0.0 {
                format!("x{:.2}", chunks / entropy)
            } else {
                "n/a".into()
            }
        );
        all = (all.0 + series, all.1 + bits, all.2 + bytes);
    }
    let floor = all.1 / 8.0 / all.0 as f64;
    let chunks = all.2 as f64 / (all.0 * w.steps) as f64;
    out += &format!(
        "| all, bytes/sample | {} | {floor:.3} | {chunks:.3} | x{:.2} |\n",
        all.0,
        chunks / floor
    );
    (out, floor)
}

/// Appends the workload straight into `Storage` (WAL fsync on, as in
/// production), in batches of one scrape round of all series.
fn bench_storage_layer(w: &Workload, total: u64) -> Row {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(StorageConfig::new(dir.path())).unwrap();
    let began = Instant::now();
    for step in 0..w.steps {
        let batch: Vec<Append> = (0..SERIES)
            .map(|s| Append::one(w.labels[s].clone(), w.sample(s, step)))
            .collect();
        let report = storage.append(&batch).unwrap();
        assert_eq!(report.accepted as usize, SERIES);
    }
    // The ingest time includes the flush, not queries timed before it.
    let appended = began.elapsed();
    if std::env::var("BENCH_QUERY_BEFORE_FLUSH").is_ok() {
        println!("before the flush (newest chunks still open):");
        profile_queries(&storage, w);
    }
    let flush_began = Instant::now();
    storage.flush().unwrap();
    let elapsed = (appended + flush_began.elapsed()).as_secs_f64();
    let bytes = storage.disk_bytes();
    assert_eq!(storage.stats().samples, total);
    let part =
        |name: &str| tinyobs::storage::dir_size(&dir.path().join(name)) as f64 / total as f64;
    println!(
        "storage layer on disk, bytes/sample: chunk files {:.3}, sled {:.3}, wal {:.3}",
        part("chunks"),
        part("sled"),
        part("wal")
    );
    profile_queries(&storage, w);
    profile_reads(&storage, w);
    Row {
        name: "TinyObs storage layer (in process)".into(),
        samples_per_s: total as f64 / elapsed,
        cpu_s_per_million: None,
        bytes_per_sample: Some(bytes as f64 / total as f64),
        peak_rss_mb: None,
        queries: Vec::new(),
    }
}

/// With `BENCH_QUERY_LOOP=N`, runs each query of `queries.rs` N times
/// in process, straight on the engine, and prints the median: a loop to
/// profile (`perf record`) without HTTP in the way; `BENCH_QUERY` picks
/// the queries whose name contains it.
fn profile_queries(storage: &Storage, w: &Workload) {
    let Some(n) = env_number::<usize>("BENCH_QUERY_LOOP") else {
        return;
    };
    let engine = tinyobs::promql::Engine::new(storage);
    let (start, end) = (
        w.start + 3_600_000 + 7_000,
        w.start + w.steps as i64 * STEP_MS,
    );
    let only = std::env::var("BENCH_QUERY").unwrap_or_default();
    // BENCH_QUERY_PAUSE_MS: idle this long before each run, as a server
    // does between requests (its threads asleep, its caches cold).
    let pause: u64 = env_number("BENCH_QUERY_PAUSE_MS").unwrap_or(0);
    for (name, query, step) in queries::QUERIES {
        if !name.contains(&only) {
            continue;
        }
        let cpu_before = cpu_seconds(std::process::id());
        let mut times: Vec<f64> = (0..n.max(1))
            .map(|_| {
                if pause > 0 {
                    std::thread::sleep(Duration::from_millis(pause));
                }
                let began = Instant::now();
                let series = engine.range(query, start, end, step * 1000).unwrap();
                std::hint::black_box(series);
                began.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        // CPU per run against its time: how well the query's threads use the cores.
        let cpu_ms = cpu_before
            .zip(cpu_seconds(std::process::id()))
            .map_or(f64::NAN, |(a, b)| (b - a) * 1000.0 / n.max(1) as f64);
        times.sort_by(f64::total_cmp);
        println!(
            "in process: {name}: p50 {:.2} ms, CPU {cpu_ms:.1} ms per run",
            times[times.len() / 2]
        );
    }
}

/// With `BENCH_READ_LOOP=N`, reads every sample of three metrics' series
/// N times on one thread, as a query does (chunk look-up, file read,
/// decode), and prints the cost per sample. Unlike the codec's own bench,
/// which decodes a few chunks over and over (and lets the branch predictor
/// learn them), this decodes thousands of different chunks.
fn profile_reads(storage: &Storage, w: &Workload) {
    let Some(n) = env_number::<usize>("BENCH_READ_LOOP") else {
        return;
    };
    let (start, end) = (w.start, w.start + w.steps as i64 * STEP_MS);
    let names = [
        "http_request_duration_seconds_bucket",
        "http_requests_total",
        "node_load1",
    ];
    for name in names {
        let selected = storage
            .select_series(&[Matcher::equal(METRIC_NAME, name)])
            .unwrap();
        let mut best = f64::INFINITY;
        let mut samples = 0u64;
        for _ in 0..n.max(1) {
            let began = Instant::now();
            samples = 0;
            for (id, _) in &selected {
                storage
                    .for_each_sample(*id, start, end, |s| {
                        samples += 1;
                        std::hint::black_box(s);
                        true
                    })
                    .unwrap();
            }
            best = best.min(began.elapsed().as_secs_f64());
        }
        println!(
            "read {name}: {} series, {samples} samples, {:.1} ns/sample (best of {n})",
            selected.len(),
            best * 1e9 / samples as f64
        );
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Peer {
    TinyObs,
    Prometheus,
    VictoriaMetrics,
}

impl Peer {
    fn short(self) -> &'static str {
        match self {
            Peer::TinyObs => "tinyobs",
            Peer::Prometheus => "prometheus",
            Peer::VictoriaMetrics => "victoria-metrics",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Peer::TinyObs => "TinyObs over HTTP remote_write",
            Peer::Prometheus => "Prometheus 2.42 remote_write receiver",
            Peer::VictoriaMetrics => "VictoriaMetrics 1.79",
        }
    }
}

/// One round over `peers`: each is loaded alone (`load_peer`), then all
/// answer the queries, asked in turn, then each is flushed, measured and
/// stopped. A peer that fails is reported and left out of the rest.
async fn bench_round(
    peers: &[Peer],
    requests: &[Vec<Vec<u8>>],
    total: u64,
    span: (i64, i64),
) -> Vec<(Peer, Result<Row, String>)> {
    let client = reqwest::Client::new();
    let mut out = Vec::new();
    let mut loaded = Vec::new();
    for &peer in peers {
        match load_peer(peer, &client, requests, total).await {
            Ok(l) => loaded.push(l),
            Err(e) => out.push((peer, Err(e))),
        }
    }
    if loaded.is_empty() {
        return out;
    }
    let timings = query_peers(&client, &loaded, span).await;
    for (mut l, timings) in loaded.into_iter().zip(timings) {
        let row = match timings {
            Ok(queries) => {
                let peer = l.peer;
                flush_and_measure(peer, &client, &l.base, &mut l.child, &l.data)
                    .await
                    .map(|bytes| Row {
                        name: peer.name().into(),
                        samples_per_s: l.samples_per_s,
                        cpu_s_per_million: l.cpu_s_per_million,
                        bytes_per_sample: Some(bytes as f64 / total as f64),
                        peak_rss_mb: l.peak_rss_mb,
                        queries,
                    })
            }
            Err(e) => Err(e),
        };
        out.push((l.peer, row));
    }
    out
}

/// A peer holding the workload, frozen (SIGSTOP) since its ingest ended,
/// with what that ingest measured. Dropping it stops the peer, whatever
/// happened: a stray one would hold its port and answer the next run with
/// its stale data.
struct Loaded {
    peer: Peer,
    child: Child,
    base: String,
    data: PathBuf,
    samples_per_s: f64,
    cpu_s_per_million: Option<f64>,
    peak_rss_mb: Option<f64>,
    /// Removed after the peer has stopped (fields drop after `drop`).
    _dir: tempfile::TempDir,
}

impl Drop for Loaded {
    fn drop(&mut self) {
        stop(self.peer, &mut self.child);
    }
}

/// Sends `signal` (`STOP`, `CONT`, `TERM`) to a peer.
fn signal(child: &Child, signal: &str) {
    let _ = Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status();
}

/// Starts `peer` and sends it the whole workload, then freezes it, so that
/// the background work its ingest leaves (VictoriaMetrics's merges,
/// Prometheus's head compaction) does not share the cores with the next
/// peer's ingest.
async fn load_peer(
    peer: Peer,
    client: &reqwest::Client,
    requests: &[Vec<Vec<u8>>],
    total: u64,
) -> Result<Loaded, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    let (child, base) = start_peer(peer, dir.path(), &data)?;
    let mut loaded = Loaded {
        peer,
        child,
        base,
        data,
        samples_per_s: 0.0,
        cpu_s_per_million: None,
        peak_rss_mb: None,
        _dir: dir,
    };
    wait_ready(client, &loaded.base, peer).await?;

    // The shards send concurrently but in lock-step, one request each at a
    // time, as Prometheus's shards stay close in time: a peer that only
    // accepts recent samples (Prometheus's head) never sees a shard lag behind.
    let began = Instant::now();
    let pid = loaded.child.id();
    let cpu_before = cpu_seconds(pid);
    let url = format!("{}/api/v1/write", loaded.base);
    for k in 0..requests[0].len() {
        let mut sends = tokio::task::JoinSet::new();
        for body in requests.iter().filter_map(|shard| shard.get(k)) {
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            sends.spawn(async move {
                let r = client
                    .post(&url)
                    .header("Content-Encoding", "snappy")
                    .header("Content-Type", "application/x-protobuf")
                    .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if !r.status().is_success() {
                    return Err(format!(
                        "HTTP {}: {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    ));
                }
                Ok::<_, String>(())
            });
        }
        while let Some(result) = sends.join_next().await {
            result.map_err(|e| e.to_string())??;
        }
    }
    loaded.samples_per_s = total as f64 / began.elapsed().as_secs_f64();
    loaded.cpu_s_per_million = cpu_before
        .zip(cpu_seconds(pid))
        .map(|(before, after)| (after - before) / (total as f64 / 1e6));
    // Peak RSS while ingesting; TinyObs's flush is its clean stop, so it is
    // read before any flush for every peer alike.
    loaded.peak_rss_mb = peak_rss_mb(pid);
    signal(&loaded.child, "STOP");
    Ok(loaded)
}

/// Wakes the loaded peers, lets them settle, and times the queries on all
/// of them, asked in turn (`queries::run`): one result per peer, in order.
async fn query_peers(
    client: &reqwest::Client,
    loaded: &[Loaded],
    span: (i64, i64),
) -> Vec<Result<Vec<queries::Timing>, String>> {
    for l in loaded {
        signal(&l.child, "CONT");
    }
    // VictoriaMetrics: make what was just written searchable.
    for l in loaded
        .iter()
        .filter(|l| matches!(l.peer, Peer::VictoriaMetrics))
    {
        let _ = client
            .get(format!("{}/internal/force_flush", l.base))
            .send()
            .await;
    }
    settle(loaded).await;
    let targets: Vec<queries::Target> = loaded
        .iter()
        .map(|l| queries::Target {
            base: &l.base,
            extra: match l.peer {
                Peer::VictoriaMetrics => &[("nocache", "1")],
                _ => &[],
            },
        })
        .collect();
    let timings = queries::run(client, &targets, span).await;
    // BENCH_HOLD_SECS: keep the loaded peers up a while, to profile them by hand.
    if let Some(secs) = env_number("BENCH_HOLD_SECS") {
        for l in loaded {
            println!(
                "{} holds at {} for {secs} s (pid {})",
                l.peer.name(),
                l.base,
                l.child.id()
            );
        }
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }
    timings
}

/// Waits for the background work the peers' ingest left (TinyObs's sealer
/// and sled flush, VictoriaMetrics's merges, Prometheus's WAL and head
/// compaction), so that no query's time includes it: at least 2 s, then
/// until the peers together use under 3 % of a core over a second, for at
/// most 3 minutes.
async fn settle(loaded: &[Loaded]) {
    let used = || -> f64 {
        loaded
            .iter()
            .filter_map(|l| cpu_seconds(l.child.id()))
            .sum()
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let began = Instant::now();
    let mut before = used();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = used();
        if now - before < 0.03 {
            break;
        }
        if began.elapsed() > Duration::from_secs(180) {
            println!("peers still busy after 3 minutes; querying anyway");
            break;
        }
        before = now;
    }
    println!(
        "peers settled in {:.0} s",
        2.0 + began.elapsed().as_secs_f64()
    );
}

fn start_peer(peer: Peer, dir: &Path, data: &Path) -> Result<(Child, String), String> {
    // Each peer's log goes to /tmp/tinyobs-bench-<peer>.log, to explain failures.
    let log = std::fs::File::create(
        std::env::temp_dir().join(format!("tinyobs-bench-{}.log", peer.short())),
    )
    .map_err(|e| e.to_string())?;
    let spawn = |cmd: &mut Command| {
        cmd.stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| e.to_string())
    };
    match peer {
        Peer::TinyObs => {
            let child = spawn(
                Command::new(env!("CARGO_BIN_EXE_tinyobs"))
                    .args(["--listen", "127.0.0.1:18080", "--data-dir"])
                    .arg(data),
            )?;
            Ok((child, "http://127.0.0.1:18080".into()))
        }
        Peer::Prometheus => {
            let config = dir.join("prometheus.yml");
            let yaml = "global:\n  scrape_interval: 15s\n";
            std::fs::write(&config, yaml).map_err(|e| e.to_string())?;
            let child = spawn(
                Command::new("prometheus")
                    .arg(format!("--config.file={}", config.display()))
                    .arg(format!("--storage.tsdb.path={}", data.display()))
                    .args([
                        "--web.listen-address=127.0.0.1:19090",
                        "--web.enable-remote-write-receiver",
                        "--web.enable-admin-api",
                    ]),
            )?;
            Ok((child, "http://127.0.0.1:19090".into()))
        }
        Peer::VictoriaMetrics => {
            let child = spawn(
                Command::new("victoria-metrics")
                    .arg(format!("-storageDataPath={}", data.display()))
                    .args(["-httpListenAddr=127.0.0.1:18428", "-retentionPeriod=1"]),
            )?;
            Ok((child, "http://127.0.0.1:18428".into()))
        }
    }
}

async fn wait_ready(client: &reqwest::Client, base: &str, peer: Peer) -> Result<(), String> {
    let path = match peer {
        Peer::TinyObs => "/health",
        Peer::Prometheus => "/-/ready",
        Peer::VictoriaMetrics => "/health",
    };
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}{path}")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("{} did not become ready", peer.name()))
}

/// Makes each peer persist what it holds, the fairest "after a flush" each
/// offers, and returns the bytes that takes.
async fn flush_and_measure(
    peer: Peer,
    client: &reqwest::Client,
    base: &str,
    child: &mut Child,
    data: &Path,
) -> Result<u64, String> {
    match peer {
        // A clean stop seals every open chunk and empties the WAL.
        Peer::TinyObs => {
            stop(peer, child);
            Ok(tinyobs::storage::dir_size(data))
        }
        // A snapshot with the head writes the in-memory head out as a block:
        // its size is the compressed data, without the WAL.
        Peer::Prometheus => {
            let r = client
                .post(format!("{base}/api/v1/admin/tsdb/snapshot?skip_head=false"))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let body: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
            let name = body["data"]["name"]
                .as_str()
                .ok_or(format!("snapshot failed: {body}"))?;
            Ok(tinyobs::storage::dir_size(
                &data.join("snapshots").join(name),
            ))
        }
        // Flush in-memory parts, then merge, as VictoriaMetrics does over time.
        Peer::VictoriaMetrics => {
            let _ = client
                .get(format!("{base}/internal/force_flush"))
                .send()
                .await;
            let _ = client
                .get(format!("{base}/internal/force_merge"))
                .send()
                .await;
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(tinyobs::storage::dir_size(data))
        }
    }
}

fn stop(_peer: Peer, child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        // A frozen peer would hold the signal until woken.
        signal(child, "CONT");
        signal(child, "TERM");
        let _ = child.wait();
    }
}

/// CPU time (user + system, all threads) a live process has used so far.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // USER_HZ: 100 on every Linux this runs on; `getconf CLK_TCK` says so.
    let hz = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0);
    Some(ticks / hz)
}

/// Peak resident memory (VmHWM) of a live process.
fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The synthetic workload, generated once and shared by every target.
struct Workload {
    labels: Vec<Labels>,
    /// values[series][step]
    values: Vec<Vec<f64>>,
    /// The entropy of each series' values, bits per sample: see `entropy.rs`.
    entropy_bits: Vec<f64>,
    start: i64,
    steps: usize,
}

impl Workload {
    fn sample(&self, series: usize, step: usize) -> Sample {
        Sample {
            t: self.start + step as i64 * STEP_MS,
            v: self.values[series][step],
        }
    }

    /// Requests per shard: each holds `STEPS_PER_REQUEST` steps of the shard's series.
    fn requests(&self) -> Vec<Vec<Vec<u8>>> {
        let per_shard = SERIES.div_ceil(SHARDS);
        (0..SHARDS)
            .map(|shard| {
                let series: Vec<usize> =
                    (shard * per_shard..((shard + 1) * per_shard).min(SERIES)).collect();
                (0..self.steps)
                    .step_by(STEPS_PER_REQUEST)
                    .map(|first| {
                        let steps = first..(first + STEPS_PER_REQUEST).min(self.steps);
                        let batch: Vec<(Labels, Vec<Sample>)> = series
                            .iter()
                            .map(|&s| {
                                (
                                    self.labels[s].clone(),
                                    steps.clone().map(|i| self.sample(s, i)).collect(),
                                )
                            })
                            .collect();
                        remote_write::encode(&batch)
                    })
                    .collect()
            })
            .collect()
    }

    fn generate(start: i64, steps: usize) -> Workload {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut labels = Vec::new();
        let mut gens: Vec<Gen> = Vec::new();
        let l = |pairs: &[(&str, &str)]| {
            Labels::new(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())))
        };
        // Node exporter: 10 instances x 46 series.
        for i in 0..10 {
            let inst = format!("node-{i}:9100");
            let ins = inst.as_str();
            for cpu in 0..4 {
                for (mode, share) in [
                    ("user", 0.2),
                    ("system", 0.05),
                    ("idle", 0.7),
                    ("iowait", 0.02),
                    ("irq", 0.001),
                    ("softirq", 0.005),
                    ("nice", 0.0),
                    ("steal", 0.0),
                ] {
                    labels.push(l(&[
                        (METRIC_NAME, "node_cpu_seconds_total"),
                        ("instance", ins),
                        ("cpu", &cpu.to_string()),
                        ("mode", mode),
                    ]));
                    gens.push(Gen::Counter {
                        value: rng.range(1e5, 1e6).round(),
                        rate: 15.0 * share,
                        decimals: 2,
                        noise: 0.3,
                    });
                }
            }
            labels.push(l(&[
                (METRIC_NAME, "node_memory_MemAvailable_bytes"),
                ("instance", ins),
            ]));
            gens.push(Gen::Walk {
                value: 4096.0 * rng.range(1e5, 1e6).round(),
                step: 4096.0 * 200.0,
                quantum: 4096.0,
                min: 0.0,
            });
            labels.push(l(&[
                (METRIC_NAME, "node_memory_MemTotal_bytes"),
                ("instance", ins),
            ]));
            gens.push(Gen::Constant(16.0 * 1024.0 * 1024.0 * 1024.0));
            for name in ["node_load1", "node_load5", "node_load15"] {
                labels.push(l(&[(METRIC_NAME, name), ("instance", ins)]));
                gens.push(Gen::Walk {
                    value: rng.range(0.0, 4.0),
                    step: 0.1,
                    quantum: 0.01,
                    min: 0.0,
                });
            }
            for dev in ["eth0", "lo"] {
                for dir in ["receive", "transmit"] {
                    labels.push(l(&[
                        (METRIC_NAME, &format!("node_network_{dir}_bytes_total")),
                        ("instance", ins),
                        ("device", dev),
                    ]));
                    gens.push(Gen::Counter {
                        value: rng.range(1e9, 1e10).round(),
                        rate: rng.range(1e4, 1e6) * 15.0,
                        decimals: 0,
                        noise: 0.5,
                    });
                }
            }
            for mount in ["/", "/home"] {
                labels.push(l(&[
                    (METRIC_NAME, "node_filesystem_avail_bytes"),
                    ("instance", ins),
                    ("mountpoint", mount),
                ]));
                gens.push(Gen::Walk {
                    value: 4096.0 * rng.range(1e6, 1e7).round(),
                    step: 4096.0 * 50.0,
                    quantum: 4096.0,
                    min: 0.0,
                });
            }
            for dev in ["sda", "sdb"] {
                labels.push(l(&[
                    (METRIC_NAME, "node_disk_io_time_seconds_total"),
                    ("instance", ins),
                    ("device", dev),
                ]));
                gens.push(Gen::Counter {
                    value: rng.range(1e3, 1e5).round(),
                    rate: 15.0 * 0.05,
                    decimals: 3,
                    noise: 0.8,
                });
            }
            labels.push(l(&[
                (METRIC_NAME, "up"),
                ("instance", ins),
                ("job", "node"),
            ]));
            gens.push(Gen::Constant(1.0));
        }
        // HTTP services: 102 endpoints x 15 series (2 status counters, 11 buckets, sum, count).
        let les = [
            "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf",
        ];
        for e in 0..102 {
            let service = format!("svc-{}", e % 6);
            let route = format!("/api/v1/resource{}", e / 6);
            let rps = rng.range(1.0, 50.0);
            let base = [
                (METRIC_NAME, "http_requests_total"),
                ("service", service.as_str()),
                ("route", route.as_str()),
                ("method", "GET"),
            ];
            for (status, share) in [("200", 0.98), ("500", 0.02)] {
                let mut pairs = base.to_vec();
                pairs.push(("status", status));
                labels.push(l(&pairs));
                gens.push(Gen::Counter {
                    value: 0.0,
                    rate: rps * 15.0 * share,
                    decimals: 0,
                    noise: 1.0,
                });
            }
            let scale = rng.range(0.01, 0.2);
            let hist = gens.len();
            for le in les {
                let mut pairs = base.to_vec();
                pairs[0] = (METRIC_NAME, "http_request_duration_seconds_bucket");
                pairs.push(("le", le));
                labels.push(l(&pairs));
                gens.push(Gen::Bucket {
                    of: hist + les.len() + 1,
                    le: le.parse().unwrap_or(f64::INFINITY),
                    scale,
                });
            }
            let mut pairs = base.to_vec();
            pairs[0] = (METRIC_NAME, "http_request_duration_seconds_sum");
            labels.push(l(&pairs));
            gens.push(Gen::Sum {
                of: hist + les.len() + 1,
                scale,
            });
            pairs[0] = (METRIC_NAME, "http_request_duration_seconds_count");
            labels.push(l(&pairs));
            gens.push(Gen::Counter {
                value: 0.0,
                rate: rps * 15.0,
                decimals: 0,
                noise: 1.0,
            });
        }
        for s in 0..(SERIES - labels.len()) {
            labels.push(l(&[
                (METRIC_NAME, "active_users"),
                ("service", &format!("svc-{s}")),
            ]));
            gens.push(Gen::Walk {
                value: 100.0,
                step: 5.0,
                quantum: 1.0,
                min: 0.0,
            });
        }
        assert_eq!(labels.len(), SERIES);

        let mut values: Vec<Vec<f64>> = (0..SERIES).map(|_| Vec::with_capacity(steps)).collect();
        let mut current = vec![0.0f64; SERIES];
        let mut deltas = vec![0.0f64; SERIES];
        for _ in 0..steps {
            for (i, g) in gens.iter_mut().enumerate() {
                let before = current[i];
                current[i] = match g {
                    Gen::Constant(v) => *v,
                    Gen::Counter {
                        value,
                        rate,
                        decimals,
                        noise,
                    } => {
                        let inc = (*rate + rng.gauss() * rate.sqrt() * *noise).max(0.0);
                        let p = 10f64.powi(*decimals);
                        *value = ((*value + inc) * p).round() / p;
                        *value
                    }
                    Gen::Walk {
                        value,
                        step,
                        quantum,
                        min,
                    } => {
                        *value = (((*value + rng.gauss() * *step) / *quantum).round() * *quantum)
                            .max(*min);
                        *value
                    }
                    // Share of the count's increment that was at most `le` seconds
                    // (exponential latencies), cumulated.
                    Gen::Bucket { of, le, scale } => {
                        let count_inc = deltas.get(*of).copied().unwrap_or(0.0);
                        before + (count_inc * entropy::bucket_share(*le, *scale)).floor()
                    }
                    Gen::Sum { of, scale } => {
                        let count_inc = deltas.get(*of).copied().unwrap_or(0.0);
                        before + count_inc * *scale * (1.0 + 0.2 * rng.gauss())
                    }
                };
                deltas[i] = current[i] - before;
            }
            for (i, v) in current.iter().enumerate() {
                values[i].push(*v);
            }
        }
        let entropy_bits = entropy::bits_per_sample(&gens, &values);
        Workload {
            labels,
            values,
            entropy_bits,
            start,
            steps,
        }
    }
}

/// How one series' value evolves from step to step.
enum Gen {
    Constant(f64),
    Counter {
        value: f64,
        rate: f64,
        decimals: i32,
        noise: f64,
    },
    Walk {
        value: f64,
        step: f64,
        quantum: f64,
        min: f64,
    },
    /// A histogram bucket of the `_count` series at index `of` (its increment
    /// of the previous step: buckets lag their count by one scrape, harmlessly).
    Bucket {
        of: usize,
        le: f64,
        scale: f64,
    },
    Sum {
        of: usize,
        scale: f64,
    },
}

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next()
    }
    /// Roughly standard normal (Irwin-Hall with 4 uniforms).
    fn gauss(&mut self) -> f64 {
        (self.next() + self.next() + self.next() + self.next() - 2.0) * 1.732
    }
}
