//! The HTTP surface: the `/v1` JSON API, Prometheus remote_write and the
//! server-rendered dashboard, as one axum `Router`.

mod admin;
mod dashboards;
mod events;
mod ingest;
mod prometheus;
mod query;

use crate::ingest::IngestLimits;
use crate::storage::{Storage, StorageError};
use app::model::ApiError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Router, extract::DefaultBodyLimit};
use std::sync::Arc;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub storage: Arc<Storage>,
    pub limits: IngestLimits,
    /// Turns true when the server begins to stop, so that endless responses
    /// (the event stream) end and graceful shutdown can finish.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    pub compactor: Arc<crate::compactor::Compactor>,
}

/// The API routes. Storage calls block (sled, fsync), so handlers run them on
/// tokio's blocking pool.
pub fn api_router(state: AppState) -> Router {
    Router::new()
        .route("/v1/ingest", post(ingest::ingest_json))
        .route("/api/v1/write", post(ingest::remote_write))
        .route("/v1/query/range", get(query::query_range))
        .route("/v1/query", get(query::query_raw))
        .route("/v1/metrics/list", get(query::metrics_list))
        .route("/v1/labels", get(query::label_names))
        .route("/v1/label/{name}/values", get(query::label_values))
        .route("/v1/stats", get(query::stats))
        .route("/v1/series", get(query::series))
        .route("/v1/events", get(events::events))
        .route(
            "/api/v1/query",
            get(prometheus::query).post(prometheus::query),
        )
        .route(
            "/api/v1/query_range",
            get(prometheus::query_range).post(prometheus::query_range),
        )
        .route(
            "/api/v1/series",
            get(prometheus::series).post(prometheus::series),
        )
        .route(
            "/api/v1/labels",
            get(prometheus::labels).post(prometheus::labels),
        )
        .route("/api/v1/label/{name}/values", get(prometheus::label_values))
        .route("/api/v1/metadata", get(prometheus::metadata))
        .route("/api/v1/status/buildinfo", get(prometheus::buildinfo))
        .route("/v1/dashboards", get(dashboards::list))
        .route(
            "/v1/dashboards/{id}",
            get(dashboards::get)
                .put(dashboards::put)
                .delete(dashboards::delete),
        )
        .route("/v1/admin/compact", post(admin::compact))
        .route("/v1/cardinality", get(admin::cardinality))
        .route("/health", get(admin::health))
        // Bodies are read as bytes under our own limit so that an oversized one
        // gets our JSON 413; axum's default limit would answer first in text.
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .with_state(state)
}

/// Every way a request can fail. 4xx carry their message to the client; 5xx
/// are logged and the client gets a generic message.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    BadRequest {
        message: String,
        index: Option<usize>,
    },
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    NotFound(String),
    /// A cardinality limit: 429, naming the limit and the metric.
    #[error("{0}")]
    TooMany(String),
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("internal: {0}")]
    Internal(String),
}

impl AppError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        AppError::BadRequest {
            message: message.into(),
            index: None,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, error, index) = match self {
            AppError::BadRequest { message, index } => (StatusCode::BAD_REQUEST, message, index),
            AppError::TooLarge(message) => (StatusCode::PAYLOAD_TOO_LARGE, message, None),
            AppError::NotFound(message) => (StatusCode::NOT_FOUND, message, None),
            AppError::TooMany(message) => (StatusCode::TOO_MANY_REQUESTS, message, None),
            AppError::Storage(StorageError::Limit(limit)) => {
                (StatusCode::TOO_MANY_REQUESTS, limit.to_string(), None)
            }
            AppError::Storage(e) => {
                tracing::error!("storage error: {e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "storage error; see server log".into(),
                    None,
                )
            }
            AppError::Internal(e) => {
                tracing::error!("internal error: {e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; see server log".into(),
                    None,
                )
            }
        };
        (status, Json(ApiError { error, index })).into_response()
    }
}

/// Runs blocking storage work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
}

/// Milliseconds since the epoch, from the server clock.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
