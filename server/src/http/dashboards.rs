//! `/v1/dashboards`: dashboards saved on the server, as JSON documents
//! (`app::model::DashboardDoc`, the same format as export/import).

use super::{AppError, AppState, blocking};
use crate::ingest::is_valid_metric_name;
use crate::query::parse_matchers;
use app::model::{DashboardDoc, DashboardInfo, DashboardList, SeriesFunction, dashboard_id};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;

/// Bounds on a saved dashboard, so a document can never be unreasonably big.
const MAX_DOC_BYTES: usize = 256 * 1024;
const MAX_PANELS: usize = 100;
const MAX_SERIES_PER_PANEL: usize = 20;
const MAX_TITLE_CHARS: usize = 200;

/// Checks everything a dashboard will later query, so that a bad document
/// is refused when it is saved, with the place of the problem.
pub fn validate(doc: &DashboardDoc) -> Result<(), String> {
    let title_ok = |t: &str| !t.trim().is_empty() && t.chars().count() <= MAX_TITLE_CHARS;
    if !title_ok(&doc.title) {
        return Err(format!("title must have 1 to {MAX_TITLE_CHARS} characters"));
    }
    if doc.panels.len() > MAX_PANELS {
        return Err(format!("at most {MAX_PANELS} panels"));
    }
    for (p, panel) in doc.panels.iter().enumerate() {
        if !title_ok(&panel.title) {
            return Err(format!(
                "panels[{p}].title must have 1 to {MAX_TITLE_CHARS} characters"
            ));
        }
        if panel.series.is_empty() || panel.series.len() > MAX_SERIES_PER_PANEL {
            return Err(format!(
                "panels[{p}] needs 1 to {MAX_SERIES_PER_PANEL} series"
            ));
        }
        for (s, series) in panel.series.iter().enumerate() {
            let at = format!("panels[{p}].series[{s}]");
            if let Some(expr) = &series.promql {
                promql_parser::parser::parse(expr).map_err(|e| format!("{at}.promql: {e}"))?;
                continue;
            }
            if !is_valid_metric_name(&series.metric) {
                return Err(format!(
                    "{at}.metric {:?} is not a metric name",
                    series.metric
                ));
            }
            if !series.selector.is_empty() {
                parse_matchers(&series.selector).map_err(|e| format!("{at}.selector: {}", e.0))?;
            }
            if let SeriesFunction::Quantile(q) = series.function
                && !(0.0..=1.0).contains(&q)
            {
                return Err(format!("{at}.function: quantile must be from 0 to 1"));
            }
        }
    }
    Ok(())
}

/// `GET /v1/dashboards`: ids and titles of the saved dashboards.
pub async fn list(State(state): State<AppState>) -> Result<Json<DashboardList>, AppError> {
    let storage = state.storage.clone();
    blocking(move || {
        let mut dashboards = Vec::new();
        for (id, bytes) in storage.documents_list()? {
            // Stored documents were validated on the way in.
            if let Ok(doc) = serde_json::from_slice::<DashboardDoc>(&bytes) {
                dashboards.push(DashboardInfo {
                    id,
                    title: doc.title,
                });
            }
        }
        Ok(Json(DashboardList { dashboards }))
    })
    .await
}

/// `GET /v1/dashboards/{id}`
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DashboardDoc>, AppError> {
    let storage = state.storage.clone();
    blocking(move || match storage.document(&id)? {
        None => Err(AppError::NotFound(format!("no dashboard {id:?}"))),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Json)
            .map_err(|e| AppError::Internal(format!("stored dashboard {id:?}: {e}"))),
    })
    .await
}

/// `PUT /v1/dashboards/{id}`: saves (creates or replaces) a dashboard. The id
/// must be the slug of its title, so a dashboard has one name.
pub async fn put(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<DashboardInfo>, AppError> {
    if body.len() > MAX_DOC_BYTES {
        return Err(AppError::TooLarge(format!(
            "a dashboard may be at most {MAX_DOC_BYTES} bytes"
        )));
    }
    let doc: DashboardDoc = serde_json::from_slice(&body)
        .map_err(|e| AppError::bad_request(format!("not a dashboard document: {e}")))?;
    validate(&doc).map_err(AppError::bad_request)?;
    if dashboard_id(&doc.title) != id {
        return Err(AppError::bad_request(format!(
            "the id of a dashboard titled {:?} is {:?}, not {id:?}",
            doc.title,
            dashboard_id(&doc.title)
        )));
    }
    let storage = state.storage.clone();
    let bytes = serde_json::to_vec(&doc).map_err(|e| AppError::Internal(e.to_string()))?;
    blocking(move || {
        storage.put_document(&id, &bytes)?;
        Ok(Json(DashboardInfo {
            id,
            title: doc.title,
        }))
    })
    .await
}

/// `DELETE /v1/dashboards/{id}`
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let storage = state.storage.clone();
    blocking(move || match storage.delete_document(&id)? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(AppError::NotFound(format!("no dashboard {id:?}"))),
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_templates_pass_the_checks_of_saved_dashboards() {
        let templates = app::templates::all();
        assert_eq!(templates.len(), 4);
        for (id, doc) in templates {
            assert_eq!(validate(&doc), Ok(()), "template {id}");
        }
    }
}
