//! Runs compaction passes (`Storage::compact`) in the background and keeps
//! track of whether they keep up, for `/health`.

use crate::storage::{Storage, StorageError};
use app::model::CompactionRun;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Passes older than this many intervals make `/health` say "degraded".
/// Judged on the last *successful* pass, so one slow or failed pass among
/// good ones does not make the status flap.
const BEHIND_AFTER_INTERVALS: u32 = 3;

/// Shared between the background loop and the HTTP handlers.
pub struct Compactor {
    storage: Arc<Storage>,
    /// `None`: no background passes (only `POST /v1/admin/compact`).
    interval: Option<Duration>,
    state: Mutex<State>,
}

struct State {
    /// When the last pass succeeded (or the server started).
    last_ok: Instant,
    last_error: Option<String>,
}

/// What `/health` says about compaction.
pub struct Health {
    pub degraded: bool,
    pub reason: Option<String>,
}

impl Compactor {
    pub fn new(storage: Arc<Storage>, interval: Option<Duration>) -> Self {
        Compactor {
            storage,
            interval,
            state: Mutex::new(State {
                last_ok: Instant::now(),
                last_error: None,
            }),
        }
    }

    /// Runs one pass now (blocking), logs it and records the outcome.
    pub fn run_pass(&self) -> Result<CompactionRun, StorageError> {
        let result = self.storage.compact();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match &result {
            Ok(run) => {
                state.last_ok = Instant::now();
                state.last_error = None;
                tracing::info!(
                    duration_ms = run.duration_ms,
                    series = run.series,
                    compacted = run.series_compacted,
                    buckets_5m = run.buckets_5m_written,
                    buckets_1h = run.buckets_1h_written,
                    raw_samples_deleted = run.raw_samples_deleted,
                    raw_files_deleted = run.raw_files_deleted,
                    blocks_5m_deleted = run.blocks_5m_deleted,
                    blocks_1h_deleted = run.blocks_1h_deleted,
                    "compaction pass"
                );
            }
            Err(e) => {
                tracing::error!("compaction failed: {e}");
                state.last_error = Some(e.to_string());
            }
        }
        result
    }

    pub fn health(&self) -> Health {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(interval) = self.interval else {
            return Health {
                degraded: false,
                reason: None,
            };
        };
        let behind = state.last_ok.elapsed() > interval * BEHIND_AFTER_INTERVALS;
        Health {
            degraded: behind,
            reason: behind.then(|| match &state.last_error {
                Some(e) => format!("compaction behind: last pass failed: {e}"),
                None => format!(
                    "compaction behind: no pass finished in {} s",
                    state.last_ok.elapsed().as_secs()
                ),
            }),
        }
    }

    /// The background loop: a pass every interval, the first one interval
    /// after start (a restart does not block on a catch-up pass).
    pub async fn run(self: Arc<Self>) {
        let Some(every) = self.interval else {
            return;
        };
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let this = self.clone();
            if let Err(e) = tokio::task::spawn_blocking(move || this.run_pass()).await {
                tracing::error!("compaction task panicked: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StorageConfig;

    #[test]
    fn health_degrades_when_passes_stop_and_recovers_after_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = StorageConfig::new(dir.path());
        config.sync_wal = false;
        let storage = Arc::new(Storage::open(config).unwrap());
        let compactor = Compactor::new(storage.clone(), Some(Duration::from_millis(5)));
        assert!(!compactor.health().degraded, "not behind right after start");
        std::thread::sleep(Duration::from_millis(30));
        let health = compactor.health();
        assert!(health.degraded);
        assert!(health.reason.unwrap().contains("no pass finished"));
        compactor.run_pass().unwrap();
        assert!(!compactor.health().degraded);
        // Without background passes, nothing can fall behind.
        let manual = Compactor::new(storage, None);
        std::thread::sleep(Duration::from_millis(10));
        assert!(!manual.health().degraded);
    }
}
