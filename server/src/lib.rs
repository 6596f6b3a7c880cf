//! TinyObs server: metrics ingest, storage, query and the dashboard in one
//! process. This file is the map:
//!
//! - [`storage`]: the engine: series index, compressed chunks, WAL,
//!   compaction to 5 min and 1 h aggregates, retention.
//! - [`compactor`]: background compaction passes and whether they keep up.
//! - [`ingest`] and [`remote_write`]: validation and decoding of pushed samples.
//! - [`query`]: parameter parsing and downsampling for the JSON API.
//! - [`http`]: the axum routes; [`site`]: the Leptos dashboard routes.
//! - [`self_metrics`]: the server's own figures, stored like any metric.
//! - [`config`]: settings, parsed once by the binary.

pub mod compactor;
pub mod config;
pub mod http;
pub mod ingest;
pub mod promql;
pub mod query;
pub mod remote_write;
pub mod self_metrics;
pub mod site;
pub mod storage;

pub use config::Config;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;
use storage::{Storage, StorageError};
use tokio::net::TcpListener;

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves on `listener` until `shutdown` resolves, then seals all open chunks
/// so that a clean stop leaves an empty WAL.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let storage_config = config.storage.clone();
    let storage = tokio::task::spawn_blocking(move || Storage::open(storage_config))
        .await
        .map_err(std::io::Error::other)??;
    let storage = Arc::new(storage);
    let compactor = Arc::new(compactor::Compactor::new(
        storage.clone(),
        config.compaction_interval,
    ));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    let state = http::AppState {
        storage: storage.clone(),
        limits: config.limits,
        stopping,
        compactor: compactor.clone(),
    };
    let app =
        http::api_router(state).merge(site::router(&config.site_root, listener.local_addr()?));

    let maintenance = tokio::spawn(maintain(storage.clone(), config.maintenance_interval));
    let compaction = tokio::spawn(compactor.run());
    let recorder = config
        .self_metrics_interval
        .map(|every| tokio::spawn(self_metrics::record(storage.clone(), every)));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    maintenance.abort();
    compaction.abort();
    if let Some(recorder) = recorder {
        recorder.abort();
    }
    tokio::task::spawn_blocking(move || storage.flush())
        .await
        .map_err(std::io::Error::other)??;
    Ok(())
}

/// Periodic upkeep: seal idle series, trim the WAL.
async fn maintain(storage: Arc<Storage>, every: std::time::Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let storage = storage.clone();
        match tokio::task::spawn_blocking(move || storage.maintain(Instant::now())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!("maintenance failed: {e}"),
            Err(e) => tracing::error!("maintenance task panicked: {e}"),
        }
    }
}
