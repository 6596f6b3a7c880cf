//! The Prometheus HTTP API (`/api/v1/...`), with Prometheus's JSON shapes and
//! error types, so Grafana, promtool and other clients can query TinyObs.
//! Parameters come from the query string or, for POST, a form body.

use super::{AppState, now_ms};
use crate::promql::{Engine, LabelSet, PromqlError, Value};
use crate::query::{format_value, parse_matchers, parse_time_param};
use crate::storage::{METRIC_NAME, Storage};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json_, json};
use std::collections::BTreeSet;
use std::time::Duration;

/// Longest a query may run before it is abandoned with a 503.
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// A Prometheus API error: HTTP status, `errorType` and message.
struct ApiFailure(StatusCode, &'static str, String);

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let body = json!({ "status": "error", "errorType": self.1, "error": self.2 });
        (self.0, Json(body)).into_response()
    }
}

fn bad_data(message: impl Into<String>) -> ApiFailure {
    ApiFailure(StatusCode::BAD_REQUEST, "bad_data", message.into())
}

impl From<PromqlError> for ApiFailure {
    fn from(e: PromqlError) -> Self {
        match e {
            PromqlError::Parse(m) => bad_data(m),
            PromqlError::Timeout => ApiFailure(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "query timed out".into(),
            ),
            PromqlError::Storage(s) => {
                tracing::error!("storage error in a query: {s}");
                ApiFailure(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "storage error; see server log".into(),
                )
            }
            other => ApiFailure(
                StatusCode::UNPROCESSABLE_ENTITY,
                "execution",
                other.to_string(),
            ),
        }
    }
}

fn success(data: Json_) -> Response {
    Json(json!({ "status": "success", "data": data })).into_response()
}

/// Query-string and form-body parameters together; names may repeat (`match[]`).
fn params(query: Option<String>, body: &Bytes) -> Result<Vec<(String, String)>, ApiFailure> {
    let mut out: Vec<(String, String)> = match query {
        Some(q) => serde_urlencoded::from_str(&q).map_err(|e| bad_data(e.to_string()))?,
        None => Vec::new(),
    };
    if !body.is_empty() {
        let form: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|e| bad_data(format!("form body: {e}")))?;
        out.extend(form);
    }
    Ok(out)
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn time_param(params: &[(String, String)], name: &str) -> Result<Option<i64>, ApiFailure> {
    get(params, name)
        .map(|t| parse_time_param(name, t).map_err(|e| bad_data(e.0)))
        .transpose()
}

/// `15s`, `1m` or a number of seconds.
fn step_param(text: &str) -> Result<i64, ApiFailure> {
    if let Ok(secs) = text.parse::<f64>() {
        return Ok((secs * 1000.0).round() as i64);
    }
    promql_parser::util::parse_duration(text)
        .map(|d| d.as_millis() as i64)
        .map_err(|_| {
            bad_data(format!(
                "invalid parameter \"step\": cannot parse {text:?} to a valid duration"
            ))
        })
}

/// A query result as Prometheus's JSON, written straight into bytes: a
/// range answer can hold millions of points, and building a
/// `serde_json::Value` tree for each point first took most of its time.
fn result_json(value: Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(br#"{"status":"success","data":{"resultType":"#);
    match value {
        Value::Scalar { t, v } => {
            out.extend_from_slice(br#""scalar","result":"#);
            write_sample(&mut out, t, v);
        }
        Value::String(s) => {
            out.extend_from_slice(br#""string","result":"#);
            write_point(&mut out, now_ms(), &s);
        }
        Value::Vector(samples) => {
            out.extend_from_slice(br#""vector","result":"#);
            write_list(&mut out, &samples, |out, s| {
                write_metric(out, &s.labels);
                out.extend_from_slice(br#","value":"#);
                write_sample(out, s.t, s.v);
                out.push(b'}');
            });
        }
        Value::Matrix(series) => {
            out.extend_from_slice(br#""matrix","result":"#);
            write_list(&mut out, &series, |out, s| {
                write_metric(out, &s.labels);
                out.extend_from_slice(br#","values":"#);
                write_list(out, &s.points, |out, &(t, v)| write_sample(out, t, v));
                out.push(b'}');
            });
        }
    }
    out.extend_from_slice(b"}}");
    out
}

/// `[a,b,...]`, each item written by `write`.
fn write_list<T>(out: &mut Vec<u8>, items: &[T], write: impl Fn(&mut Vec<u8>, &T)) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(out, item);
    }
    out.push(b']');
}

/// `{"metric":{...}` (the caller closes the object).
fn write_metric(out: &mut Vec<u8>, labels: &LabelSet) {
    out.extend_from_slice(br#"{"metric":"#);
    serde_json::to_writer(&mut *out, labels).expect("a map of strings serialises");
}

/// `[seconds,"text"]`.
fn write_point(out: &mut Vec<u8>, t: i64, value: &str) {
    write_time(out, t);
    serde_json::to_writer(&mut *out, value).expect("a string serialises");
    out.push(b']');
}

/// `[seconds,` of a point, the seconds as Prometheus writes them: the
/// integer part, then `.` and three digits only when there are milliseconds.
fn write_time(out: &mut Vec<u8>, t: i64) {
    out.push(b'[');
    if t < 0 {
        out.push(b'-');
    }
    let t = t.unsigned_abs();
    out.extend_from_slice(itoa::Buffer::new().format(t / 1000).as_bytes());
    let ms = (t % 1000) as u16;
    if ms != 0 {
        let digit = |d: u16| b'0' + d as u8;
        out.extend_from_slice(&[b'.', digit(ms / 100), digit(ms / 10 % 10), digit(ms % 10)]);
    }
    out.push(b',');
}

/// `[seconds,"value"]` for a float, formatted as `format_value` does.
fn write_sample(out: &mut Vec<u8>, t: i64, v: f64) {
    if v.is_finite() {
        write_time(out, t);
        out.push(b'"');
        write_finite(out, v);
        out.extend_from_slice(b"\"]");
    } else {
        write_point(out, t, &format_value(v));
    }
}

/// A finite float as Prometheus writes it (Go's `FormatFloat(v, 'f', -1,
/// 64)`) and as Rust's `Display` does: the shortest digits that read back
/// to `v`, never an exponent. Formatting was most of the time a raw
/// series' answer took to serve (`Display` about 200 ns a point); `zmij`
/// (serde_json's) finds the same digits several times faster. It writes
/// `42.0` for 42, trimmed here, and an exponent outside about 1e-5 to
/// 1e16, left to `Display`. Where more than one shortest string reads
/// back to `v` (both `…12.2` and `…12.3` for a float at `…12.25`), the
/// two may pick differently.
fn write_finite(out: &mut Vec<u8>, v: f64) {
    let mut buffer = zmij::Buffer::new();
    let text = buffer.format_finite(v);
    if text.contains('e') {
        use std::io::Write;
        let _ = write!(out, "{v}");
    } else {
        out.extend_from_slice(text.strip_suffix(".0").unwrap_or(text).as_bytes());
    }
}

fn result_response(value: Value) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        result_json(value),
    )
        .into_response()
}

/// Runs `work` on the blocking pool, giving up after the query timeout;
/// `work` is told the same deadline, so that it stops too.
async fn run_query<T: Send + 'static>(
    work: impl FnOnce(std::time::Instant) -> Result<T, ApiFailure> + Send + 'static,
) -> Result<T, ApiFailure> {
    let deadline = std::time::Instant::now() + QUERY_TIMEOUT;
    let work = move || work(deadline);
    match tokio::time::timeout(QUERY_TIMEOUT, tokio::task::spawn_blocking(work)).await {
        Err(_) => Err(ApiFailure(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "query timed out".into(),
        )),
        Ok(Err(e)) => Err(ApiFailure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            e.to_string(),
        )),
        Ok(Ok(result)) => result,
    }
}

/// `GET|POST /api/v1/query?query=&time=`
pub async fn query(State(state): State<AppState>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let result = async {
        let params = params(q, &body)?;
        let query = get(&params, "query")
            .ok_or_else(|| bad_data("invalid parameter \"query\": missing"))?
            .to_string();
        let time = time_param(&params, "time")?.unwrap_or_else(now_ms);
        let storage = state.storage.clone();
        run_query(move |deadline| {
            Ok(Engine::new(&storage)
                .deadline(deadline)
                .instant(&query, time)?)
        })
        .await
    }
    .await;
    match result {
        Ok(value) => result_response(value),
        Err(e) => e.into_response(),
    }
}

/// `GET|POST /api/v1/query_range?query=&start=&end=&step=`
pub async fn query_range(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let result = async {
        let params = params(q, &body)?;
        let query = get(&params, "query").ok_or_else(|| bad_data("invalid parameter \"query\": missing"))?.to_string();
        let start = time_param(&params, "start")?.ok_or_else(|| bad_data("invalid parameter \"start\": missing"))?;
        let end = time_param(&params, "end")?.ok_or_else(|| bad_data("invalid parameter \"end\": missing"))?;
        let step = step_param(get(&params, "step").ok_or_else(|| bad_data("invalid parameter \"step\": missing"))?)?;
        if step <= 0 {
            return Err(bad_data("zero or negative query resolution step widths are not accepted. Try a positive integer"));
        }
        if end < start {
            return Err(bad_data("end timestamp must not be before start time"));
        }
        let storage = state.storage.clone();
        run_query(move |deadline| {
            Ok(Engine::new(&storage).deadline(deadline).range(&query, start, end, step)?)
        })
        .await
    }
    .await;
    match result {
        Ok(series) => result_response(Value::Matrix(series)),
        Err(e) => e.into_response(),
    }
}

/// The series matching any `match[]` selector (all series without one).
fn matching_series(
    storage: &Storage,
    params: &[(String, String)],
) -> Result<Vec<crate::storage::Labels>, ApiFailure> {
    let selectors: Vec<&str> = params
        .iter()
        .filter(|(n, _)| n == "match[]")
        .map(|(_, v)| v.as_str())
        .collect();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let lists = if selectors.is_empty() {
        vec![Vec::new()]
    } else {
        selectors
            .iter()
            .map(|s| {
                let s = s.trim();
                // `metric{...}` or `{...}`: the name becomes a matcher.
                let (name, rest) = match s.find('{') {
                    Some(i) => (&s[..i], &s[i..]),
                    None => (s, ""),
                };
                let mut matchers = if rest.is_empty() {
                    Vec::new()
                } else {
                    parse_matchers(rest).map_err(|e| bad_data(e.0))?
                };
                if !name.is_empty() {
                    matchers.push(crate::storage::Matcher::equal(
                        METRIC_NAME,
                        name.to_string(),
                    ));
                }
                Ok(matchers)
            })
            .collect::<Result<Vec<_>, ApiFailure>>()?
    };
    for matchers in lists {
        for (id, labels) in storage
            .select_series(&matchers)
            .map_err(|e| ApiFailure::from(PromqlError::from(e)))?
        {
            if seen.insert(id) {
                out.push(labels);
            }
        }
    }
    Ok(out)
}

/// `GET|POST /api/v1/series?match[]=...`
pub async fn series(State(state): State<AppState>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let result = async {
        let params = params(q, &body)?;
        if !params.iter().any(|(n, _)| n == "match[]") {
            return Err(bad_data("no match[] parameter provided"));
        }
        let storage = state.storage.clone();
        run_query(move |_| matching_series(&storage, &params)).await
    }
    .await;
    match result {
        Ok(list) => success(json!(list.iter().map(|l| l.to_map()).collect::<Vec<_>>())),
        Err(e) => e.into_response(),
    }
}

/// `GET|POST /api/v1/labels`
pub async fn labels(State(state): State<AppState>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let result = async {
        let params = params(q, &body)?;
        let storage = state.storage.clone();
        run_query(move |_| {
            if params.iter().any(|(n, _)| n == "match[]") {
                let names: BTreeSet<String> = matching_series(&storage, &params)?
                    .iter()
                    .flat_map(|l| l.iter().map(|(k, _)| k.to_string()).collect::<Vec<_>>())
                    .collect();
                return Ok(names.into_iter().collect::<Vec<_>>());
            }
            storage
                .label_names()
                .map_err(|e| ApiFailure::from(PromqlError::from(e)))
        })
        .await
    }
    .await;
    match result {
        Ok(names) => success(json!(names)),
        Err(e) => e.into_response(),
    }
}

/// `GET /api/v1/label/{name}/values`
pub async fn label_values(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let result = async {
        let params = params(q, &Bytes::new())?;
        let storage = state.storage.clone();
        run_query(move |_| {
            if params.iter().any(|(n, _)| n == "match[]") {
                let values: BTreeSet<String> = matching_series(&storage, &params)?
                    .iter()
                    .filter_map(|l| l.get(&name).map(str::to_string))
                    .collect();
                return Ok(values.into_iter().collect::<Vec<_>>());
            }
            storage
                .label_values(&name)
                .map_err(|e| ApiFailure::from(PromqlError::from(e)))
        })
        .await
    }
    .await;
    match result {
        Ok(values) => success(json!(values)),
        Err(e) => e.into_response(),
    }
}

/// `GET /api/v1/metadata`: the type of every metric that has one.
pub async fn metadata(State(state): State<AppState>) -> Response {
    let storage = state.storage.clone();
    let result = run_query(move |_| {
        let mut out = serde_json::Map::new();
        let names = storage
            .label_values(METRIC_NAME)
            .map_err(|e| ApiFailure::from(PromqlError::from(e)))?;
        for name in names {
            if let Some(kind) = storage
                .metric_type(&name)
                .map_err(|e| ApiFailure::from(PromqlError::from(e)))?
            {
                out.insert(
                    name,
                    json!([{ "type": kind.as_str(), "help": "", "unit": "" }]),
                );
            }
        }
        Ok(Json_::Object(out))
    })
    .await;
    match result {
        Ok(data) => success(data),
        Err(e) => e.into_response(),
    }
}

/// `GET /api/v1/status/buildinfo`
pub async fn buildinfo() -> Response {
    success(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": "",
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::{Sample, Series};

    fn parsed(value: Value) -> Json_ {
        serde_json::from_slice(&result_json(value)).expect("valid JSON")
    }

    #[test]
    fn matrix_json_has_prometheus_shape() {
        let labels = [("__name__", "up"), ("job", "a\"<b>\\")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let series = Series {
            labels,
            points: vec![(1_500, 0.1), (-2_005, f64::NAN), (3_000, f64::NEG_INFINITY)],
        };
        assert_eq!(
            parsed(Value::Matrix(vec![series])),
            json!({"status": "success", "data": {"resultType": "matrix", "result": [{
                "metric": {"__name__": "up", "job": "a\"<b>\\"},
                "values": [[1.5, "0.1"], [-2.005, "NaN"], [3, "-Inf"]],
            }]}})
        );
        // Whole seconds print without a fraction, as Prometheus prints them.
        let text = String::from_utf8(result_json(Value::Scalar { t: 3_000, v: 2.0 })).unwrap();
        assert!(text.contains(r#""result":[3,"2"]"#), "{text}");
    }

    #[test]
    fn vector_and_empty_json() {
        let sample = Sample {
            labels: LabelSet::new(),
            t: 1_001,
            v: 1e21,
        };
        assert_eq!(
            parsed(Value::Vector(vec![sample])),
            json!({"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {}, "value": [1.001, "1000000000000000000000"]},
            ]}})
        );
        assert_eq!(
            parsed(Value::Matrix(Vec::new()))["data"]["result"],
            json!([])
        );
    }

    fn finite_text(v: f64) -> String {
        let mut out = Vec::new();
        write_finite(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn floats_print_as_display_does() {
        for v in [
            0.0,
            -0.0,
            42.0,
            -7.0,
            0.1,
            1e-5,
            1.5e-7,
            1e15,
            1e16,
            1e21,
            123.456,
            f64::MAX,
        ] {
            assert_eq!(finite_text(v), v.to_string(), "{v:e}");
        }
    }

    /// The same text as `Display`, or, where more than one string of the
    /// shortest length reads back to `v`, possibly another one.
    fn prints_as_display_does(v: f64) -> Result<(), proptest::test_runner::TestCaseError> {
        let (text, display) = (finite_text(v), v.to_string());
        if text != display {
            proptest::prop_assert_eq!(text.len(), display.len(), "{} against {}", text, display);
            let back: f64 = text.parse().unwrap();
            proptest::prop_assert_eq!(back.to_bits(), v.to_bits(), "{}", text);
        }
        Ok(())
    }

    proptest::proptest! {
        // Formatting is cheap: enough cases that ties and short values turn up.
        #![proptest_config(proptest::test_runner::Config::with_cases(2_000))]
        #[test]
        fn any_finite_float_prints_as_display_does(
            bits: u64,
            m in proptest::prop_oneof![-10_000_000i64..10_000_000, proptest::num::i64::ANY],
            e in 0u32..12,
        ) {
            let v = f64::from_bits(bits);
            if v.is_finite() {
                prints_as_display_does(v)?;
            }
            // Scraped values: a few digits with a few decimals (`12.25`,
            // `0.3`, `42`), and long ones.
            prints_as_display_does(m as f64 / 10f64.powi(e as i32))?;
        }
    }
}
