//! Server settings: decided once by the binary (flags and environment) and
//! passed down, so nothing deeper reads the environment or the working directory.

use crate::ingest::IngestLimits;
use crate::storage::StorageConfig;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Config {
    pub storage: StorageConfig,
    pub limits: IngestLimits,
    /// Where the built dashboard (`pkg/tinyobs.{js,wasm,css}`) lives.
    pub site_root: PathBuf,
    /// How often idle series are sealed and the WAL trimmed.
    pub maintenance_interval: Duration,
    /// How often the server records its own metrics; `None`: never.
    pub self_metrics_interval: Option<Duration>,
    /// How often a compaction pass runs; `None`: only when asked
    /// (`POST /v1/admin/compact`).
    pub compaction_interval: Option<Duration>,
}

impl Config {
    /// Defaults for a store in `data_dir`, with the dashboard in `site_root`.
    pub fn new(data_dir: impl Into<PathBuf>, site_root: impl Into<PathBuf>) -> Self {
        Config {
            storage: StorageConfig::new(data_dir),
            limits: IngestLimits::default(),
            site_root: site_root.into(),
            maintenance_interval: Duration::from_secs(60),
            self_metrics_interval: Some(Duration::from_secs(15)),
            compaction_interval: Some(Duration::from_secs(300)),
        }
    }
}
