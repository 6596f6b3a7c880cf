//! Operator endpoints: run a compaction pass now, see where the series come
//! from, and the health check.

use super::{AppError, AppState, blocking};
use app::model::{Cardinality, CardinalityEntry, CardinalityLimits, CompactionRun};
use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

/// `POST /v1/admin/compact`: one pass now (waits for a running one), answered
/// with what it did.
pub async fn compact(State(state): State<AppState>) -> Result<Json<CompactionRun>, AppError> {
    let compactor = state.compactor.clone();
    blocking(move || Ok(Json(compactor.run_pass()?))).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardinalityParams {
    limit: Option<usize>,
}

const MAX_CARDINALITY_ROWS: usize = 1000;

/// `GET /v1/cardinality?limit=N`: the metrics and label names with the most
/// series (N rows each, default 20), and the limits they count against.
pub async fn cardinality(
    State(state): State<AppState>,
    params: Result<Query<CardinalityParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Cardinality>, AppError> {
    let Query(params) = params.map_err(|e| AppError::bad_request(e.body_text()))?;
    let limit = params.limit.unwrap_or(20);
    if limit == 0 || limit > MAX_CARDINALITY_ROWS {
        return Err(AppError::bad_request(format!(
            "limit must be from 1 to {MAX_CARDINALITY_ROWS}"
        )));
    }
    let storage = state.storage.clone();
    let max_labels = state.limits.max_labels as u64;
    blocking(move || {
        let config = storage.config();
        let metrics = storage
            .top_metrics(limit)
            .into_iter()
            .map(|(name, series)| CardinalityEntry {
                name,
                series,
                values: None,
            })
            .collect();
        let labels = storage
            .label_cardinality(limit)?
            .into_iter()
            .map(|(name, series, values)| CardinalityEntry {
                name,
                series,
                values: Some(values),
            })
            .collect();
        Ok(Json(Cardinality {
            series: storage.stats().series,
            limits: CardinalityLimits {
                max_series: config.max_series,
                max_series_per_metric: config.max_series_per_metric,
                max_labels,
            },
            metrics,
            labels,
        }))
    })
    .await
}

/// `GET /health`: "ok", or "degraded" with a reason when compaction has
/// fallen behind. Still 200: the server answers; a monitor reads the status.
pub async fn health(State(state): State<AppState>) -> Json<Value> {
    let health = state.compactor.health();
    match health.reason {
        Some(reason) if health.degraded => Json(json!({ "status": "degraded", "reason": reason })),
        _ => Json(json!({ "status": "ok" })),
    }
}
