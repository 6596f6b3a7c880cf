//! Ingest handlers: the TinyObs JSON push format and Prometheus remote_write.

use super::{AppError, AppState, blocking, now_ms};
use crate::ingest::convert_metric;
use crate::remote_write::{self, RemoteWriteError};
use crate::storage::{AppendReport, METRIC_NAME};
use app::model::{ApiError, IngestMetric, IngestResponse, Rejection};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// `POST /v1/ingest`. Validation is all-or-nothing: one invalid metric and
/// nothing is stored (400, naming its index). Valid requests are stored
/// sample by sample: if the storage refuses some (out of order, conflicting
/// value) the rest are kept and the answer is 409 listing the refused ones.
pub async fn ingest_json(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let body = read_body(body)?;
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| AppError::bad_request(format!("body is not JSON: {e}")))?;
    let items = value
        .get("metrics")
        .and_then(|m| m.as_array())
        .ok_or_else(|| AppError::bad_request("body must be an object with a \"metrics\" array"))?;
    if items.len() > state.limits.max_metrics_per_request {
        return Err(AppError::TooLarge(format!(
            "{} metrics in one request; the limit is {}",
            items.len(),
            state.limits.max_metrics_per_request
        )));
    }
    let now = now_ms();
    let mut appends = Vec::with_capacity(items.len());
    let mut types = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let metric = IngestMetric::deserialize(item).map_err(|message| AppError::BadRequest {
            message: format!("metric {index}: {message}"),
            index: Some(index),
        })?;
        let append =
            convert_metric(index, &metric, now, &state.limits).map_err(|e| match e.over_limit {
                true => AppError::TooMany(e.to_string()),
                false => AppError::BadRequest {
                    message: e.to_string(),
                    index: Some(e.index),
                },
            })?;
        types.push((metric.name, metric.kind));
        appends.push(append);
    }
    let storage = state.storage.clone();
    let report = blocking(move || {
        // Types only once the samples are in: a refused request leaves no trace.
        let report = storage.append(&appends)?;
        types.sort();
        types.dedup();
        for (name, kind) in types {
            storage.set_metric_type(&name, kind)?;
        }
        Ok(report)
    })
    .await?;
    Ok(ingest_answer(report))
}

fn ingest_answer(report: AppendReport) -> Response {
    let status = if report.rejected.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    let body = IngestResponse {
        accepted: report.accepted,
        duplicates: report.duplicates,
        rejected: report
            .rejected
            .into_iter()
            .map(|(index, reason)| Rejection {
                index,
                reason: reason.to_string(),
            })
            .collect(),
    };
    (status, Json(body)).into_response()
}

/// `POST /api/v1/write`, remote_write 1.0: 204 when stored; 400 (not retried
/// by senders) for an undecodable or invalid request, or when the storage
/// refused samples (the rest are kept, as Prometheus does); 5xx (retried) when
/// the storage failed.
pub async fn remote_write(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let body = read_body(body)?;
    let limits = state.limits;
    let storage = state.storage.clone();
    blocking(move || {
        let decoded = remote_write::decode(&body, now_ms(), &limits).map_err(refusal)?;
        let report = storage.append_keyed(&decoded.keyed(), |index| {
            decoded.labels(index, &limits).map_err(refusal)
        })?;
        for (name, kind) in &decoded.types {
            storage.set_metric_type(name, *kind)?;
        }
        if let Some((index, reason)) = report.rejected.first() {
            // Rejections count samples across the request; find the series.
            let series = decoded
                .series_of_sample(*index)
                .expect("a rejected sample belongs to a series");
            let labels = decoded.labels(series, &limits).map_err(refusal)?;
            let message = format!(
                "stored {} of {} samples; {} refused, first: {} for {}",
                report.accepted,
                decoded.sample_count(),
                report.rejected.len(),
                reason,
                labels
            );
            tracing::debug!(metric = labels.get(METRIC_NAME), "{message}");
            return Ok((
                StatusCode::BAD_REQUEST,
                Json(ApiError {
                    error: message,
                    index: None,
                }),
            )
                .into_response());
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .await
}

fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, AppError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::TooLarge(format!("request body too large: {}", rejection.body_text()))
        } else {
            AppError::bad_request(format!("cannot read body: {}", rejection.body_text()))
        }
    })
}

/// A request remote_write cannot take: 400 (429 over a limit), which senders
/// do not retry.
fn refusal(e: RemoteWriteError) -> AppError {
    match e {
        RemoteWriteError::Invalid { index, .. } => AppError::BadRequest {
            message: e.to_string(),
            index: Some(index),
        },
        RemoteWriteError::Limit { .. } => AppError::TooMany(e.to_string()),
        e => AppError::bad_request(e.to_string()),
    }
}
