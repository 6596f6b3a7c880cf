//! The `tinyobs` binary: flags and environment to a [`Config`], then serve.

use anyhow::Context;
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tinyobs::Config;

/// mimalloc instead of glibc's malloc: under remote_write ingest glibc spent
/// about a quarter of the CPU in malloc, free and their bin consolidation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "tinyobs",
    version,
    about = "Metrics ingest, storage, query and dashboard in one binary"
)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "TINYOBS_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the data lives [default: $XDG_DATA_HOME/tinyobs or ~/.local/share/tinyobs].
    #[arg(long, env = "TINYOBS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The built dashboard directory [default: found next to the executable].
    #[arg(long, env = "TINYOBS_SITE_ROOT")]
    site_root: Option<PathBuf>,
    /// sled page cache size, in MiB.
    #[arg(long, env = "TINYOBS_CACHE_MB", default_value_t = 64)]
    cache_mb: u64,
    /// Hard limit on the number of series; a request that would pass it gets 429.
    #[arg(
        long = "limits.max-series",
        alias = "max-series",
        env = "TINYOBS_LIMITS_MAX_SERIES",
        default_value_t = 1_000_000
    )]
    max_series: u64,
    /// Hard limit on the series of one metric name.
    #[arg(
        long = "limits.max-series-per-metric",
        env = "TINYOBS_LIMITS_MAX_SERIES_PER_METRIC",
        default_value_t = 100_000
    )]
    max_series_per_metric: u64,
    /// Hard limit on the labels of one series (besides its name).
    #[arg(
        long = "limits.max-labels",
        env = "TINYOBS_LIMITS_MAX_LABELS",
        default_value_t = 32
    )]
    max_labels: usize,
    /// How long raw samples are kept (Prometheus durations: 14d, 36h, 1y).
    #[arg(long = "retention.raw", env = "TINYOBS_RETENTION_RAW", default_value = "14d", value_parser = duration)]
    retention_raw: Duration,
    /// How long 5 minute aggregates are kept.
    #[arg(long = "retention.5m", env = "TINYOBS_RETENTION_5M", default_value = "90d", value_parser = duration)]
    retention_5m: Duration,
    /// How long 1 hour aggregates are kept.
    #[arg(long = "retention.1h", env = "TINYOBS_RETENTION_1H", default_value = "1y", value_parser = duration)]
    retention_1h: Duration,
    /// Cap on bytes on disk (e.g. 500MB, 2GiB); the oldest data goes first.
    #[arg(long = "storage.max-bytes", env = "TINYOBS_STORAGE_MAX_BYTES", value_parser = byte_size)]
    max_bytes: Option<u64>,
    /// How often a compaction pass runs; 0s: only on POST /v1/admin/compact.
    #[arg(long = "compaction.interval", env = "TINYOBS_COMPACTION_INTERVAL", default_value = "5m", value_parser = interval)]
    compaction_interval: Duration,
    /// How often TinyObs records its own metrics (service="tinyobs"), in
    /// seconds; 0 turns it off.
    #[arg(long, env = "TINYOBS_SELF_METRICS_SECS", default_value_t = 15)]
    self_metrics_secs: u64,
}

fn main() -> anyhow::Result<()> {
    restart_with_prompt_purging();
    tokio::runtime::Runtime::new()
        .context("cannot start the async runtime")?
        .block_on(serve())
}

/// The environment variable that makes mimalloc return freed memory to the
/// system at once rather than a second later (its default). Under
/// remote_write ingest, the second's worth of freed request buffers was
/// 40 of the server's 140 MiB at peak, with no CPU cost measured
/// (docs/BENCHMARKS.md).
const PURGE_DELAY: &str = "MIMALLOC_PURGE_DELAY";

/// mimalloc takes its options from the environment. Setting a variable in
/// a running process needs `unsafe` (`std::env::set_var`), as does
/// mimalloc's C API; starting again with it set needs neither: the process
/// replaces itself, once (same pid and arguments). A value the user set,
/// under this name or its older one, is kept.
fn restart_with_prompt_purging() {
    #[cfg(unix)]
    if [PURGE_DELAY, "MIMALLOC_RESET_DELAY"]
        .iter()
        .all(|name| std::env::var_os(name).is_none())
    {
        use std::os::unix::process::CommandExt;
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let mut args = std::env::args_os();
        let arg0 = args.next().unwrap_or_else(|| exe.clone().into());
        let error = std::process::Command::new(&exe)
            .arg0(arg0)
            .args(args)
            .env(PURGE_DELAY, "0")
            .exec();
        // `exec` returns only when it failed: run as we are.
        eprintln!(
            "note: could not restart with {PURGE_DELAY}=0 ({error}); keeping mimalloc's default"
        );
    }
}

async fn serve() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    tinyobs::storage::start_reading_threads();
    let data_dir = cli.data_dir.unwrap_or_else(default_data_dir);
    let site_root = cli.site_root.unwrap_or_else(find_site_root);
    let mut config = Config::new(&data_dir, &site_root);
    config.storage.cache_bytes = cli.cache_mb << 20;
    config.storage.max_series = cli.max_series;
    config.storage.max_series_per_metric = cli.max_series_per_metric;
    config.limits.max_labels = cli.max_labels;
    config.storage.retention_raw_ms = millis(cli.retention_raw);
    config.storage.retention_5m_ms = millis(cli.retention_5m);
    config.storage.retention_1h_ms = millis(cli.retention_1h);
    config.storage.max_bytes = cli.max_bytes;
    config.compaction_interval =
        (!cli.compaction_interval.is_zero()).then_some(cli.compaction_interval);
    config.self_metrics_interval =
        (cli.self_metrics_secs > 0).then(|| std::time::Duration::from_secs(cli.self_metrics_secs));

    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cli.listen))?;
    let addr = listener.local_addr()?;
    println!("TinyObs listening on http://{addr}");
    println!("data directory: {}", data_dir.display());
    if !site_root.join("pkg").exists() {
        println!(
            "warning: dashboard files not found in {} (build with `cargo leptos build`)",
            site_root.display()
        );
    }
    tinyobs::run(config, listener, shutdown_signal())
        .await
        .context("server failed")?;
    println!("TinyObs stopped cleanly");
    Ok(())
}

/// A Prometheus duration: `90d`, `1h30m`, `1y`.
fn duration(text: &str) -> Result<Duration, String> {
    promql_parser::util::parse_duration(text)
}

/// A duration, or 0 for "never".
fn interval(text: &str) -> Result<Duration, String> {
    match text.trim_start_matches('0') {
        "" | "s" | "m" | "h" => Ok(Duration::ZERO),
        _ => duration(text),
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Bytes, with an optional unit: `1000000`, `500MB`, `2GiB`.
fn byte_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 500MB or 2GiB"))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit {other:?}; use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB"
            ));
        }
    };
    number
        .checked_mul(scale)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// The per-user data directory, so that TinyObs finds the same data whichever
/// directory it is started from.
fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("tinyobs");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/share/tinyobs"),
        None => PathBuf::from("tinyobs-data"),
    }
}

/// The dashboard is built by cargo-leptos into `target/site`, beside
/// `target/{debug,release}/tinyobs`; an installed copy keeps `site/` next to
/// the binary. cargo-leptos itself says where with `LEPTOS_SITE_ROOT`.
fn find_site_root() -> PathBuf {
    if let Some(root) = std::env::var_os("LEPTOS_SITE_ROOT") {
        let root = PathBuf::from(root);
        if root.is_absolute() || root.exists() {
            return root;
        }
    }
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok())
        .and_then(|p| p.parent().map(PathBuf::from))
        .unwrap_or_default();
    let candidates = [exe_dir.join("../site"), exe_dir.join("site")];
    candidates
        .iter()
        .find(|c| c.join("pkg").exists())
        .cloned()
        .unwrap_or_else(|| candidates[0].clone())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    println!("shutting down: sealing open chunks");
}
