//! TinyObs records its own figures as ordinary metrics, labelled
//! `service="tinyobs"`, so the "TinyObs itself" dashboard needs no scraping
//! and shows the server the way it shows any app.

use crate::http::now_ms;
use crate::storage::{Append, Labels, METRIC_NAME, Sample, Storage};
use app::model::MetricType;
use std::sync::Arc;
use std::time::Duration;

/// One figure: name, type, value.
type Figure = (&'static str, MetricType, f64);

/// Appends the figures every `every`, until the task is aborted.
pub async fn record(storage: Arc<Storage>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    loop {
        ticker.tick().await;
        let storage = storage.clone();
        let done = tokio::task::spawn_blocking(move || {
            let figures = collect(&storage);
            let at = now_ms();
            for (name, kind, _) in &figures {
                storage.set_metric_type(name, *kind)?;
            }
            let batch: Vec<Append> = figures
                .into_iter()
                .map(|(name, _, v)| {
                    let labels = Labels::new([(METRIC_NAME, name), ("service", "tinyobs")]);
                    Append::one(labels, Sample { t: at, v })
                })
                .collect();
            storage.append(&batch).map(drop)
        })
        .await;
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("recording own metrics failed: {e}"),
            Err(e) => tracing::warn!("own metrics task failed: {e}"),
        }
    }
}

/// The storage's counters and the process's resources.
pub fn collect(storage: &Storage) -> Vec<Figure> {
    let stats = storage.stats();
    let mut figures = vec![
        ("tinyobs_series", MetricType::Gauge, stats.series as f64),
        (
            "tinyobs_active_series",
            MetricType::Gauge,
            stats.active_series as f64,
        ),
        (
            "tinyobs_stored_samples",
            MetricType::Gauge,
            stats.samples as f64,
        ),
        (
            "tinyobs_disk_bytes",
            MetricType::Gauge,
            stats.disk_bytes as f64,
        ),
        (
            "tinyobs_ingested_samples_total",
            MetricType::Counter,
            storage.accepted_since_open() as f64,
        ),
        (
            "tinyobs_rejected_samples_total",
            MetricType::Counter,
            stats.rejected_samples as f64,
        ),
    ];
    if let Some(run) = storage.last_compaction() {
        figures.extend([
            (
                "tinyobs_compaction_last_duration_seconds",
                MetricType::Gauge,
                run.duration_ms as f64 / 1000.0,
            ),
            (
                "tinyobs_compaction_last_run_timestamp_seconds",
                MetricType::Gauge,
                run.started as f64 / 1000.0,
            ),
        ]);
    }
    figures.extend(process_figures());
    figures
}

/// Resident memory, CPU time, threads and open files (Linux; elsewhere
/// none), read the way the SDK reads them for apps.
fn process_figures() -> Vec<Figure> {
    tinyobs_sdk::process::read()
        .named()
        .into_iter()
        .map(|(name, value, counter)| {
            let kind = if counter {
                MetricType::Counter
            } else {
                MetricType::Gauge
            };
            (name, kind, value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StorageConfig;

    #[test]
    fn figures_cover_storage_and_process() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(StorageConfig::new(dir.path())).unwrap();
        let figures = collect(&storage);
        let get = |name: &str| figures.iter().find(|f| f.0 == name).map(|f| f.2);
        assert_eq!(get("tinyobs_series"), Some(0.0));
        assert!(get("tinyobs_disk_bytes").unwrap() > 0.0);
        assert!(get("process_resident_memory_bytes").unwrap() > 1e6);
        assert!(get("process_threads").unwrap() >= 1.0);
        assert!(get("process_open_fds").unwrap() >= 3.0);
        assert!(get("process_cpu_seconds_total").unwrap() >= 0.0);
    }
}
