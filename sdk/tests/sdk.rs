//! The SDK against a real TinyObs server (in process, on port 0): exact
//! values arrive, retries outlast a 503, shutdown loses nothing, the tower
//! layer labels by route template, and the `metrics` recorder path works.

use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tinyobs_sdk::{Client, HttpMetricsLayer, TinyObsRecorder};

/// A TinyObs server on 127.0.0.1:0 with a fresh data directory.
struct Server {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut config = tinyobs::Config::new(dir.path(), dir.path().join("no-site"));
        config.self_metrics_interval = None;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            // Errors here are the runtime ending with the test; the asserts are done.
            let _ = tinyobs::run(config, listener, shutdown).await;
        });
        Server {
            base,
            stop: Some(stop),
            _dir: dir,
        }
    }

    /// The newest value of each series of `metric` matching `selector`, as
    /// (labels, value text).
    async fn latest(&self, metric: &str, selector: &str) -> Vec<(Value, String)> {
        let mut url = format!("{}/v1/query?metric={metric}", self.base);
        if !selector.is_empty() {
            let encoded = selector
                .replace('{', "%7B")
                .replace('}', "%7D")
                .replace('"', "%22")
                .replace('/', "%2F");
            url += &format!("&match={encoded}");
        }
        let body: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        let mut out: Vec<(Value, String)> = body["series"]
            .as_array()
            .unwrap_or_else(|| panic!("not a query answer: {body}"))
            .iter()
            .map(|s| {
                let samples = s["samples"].as_array().unwrap();
                let last = samples.last().unwrap()[1].as_str().unwrap().to_string();
                (s["labels"].clone(), last)
            })
            .collect();
        out.sort_by_key(|(l, _)| l.to_string());
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn client(endpoint: &str) -> Client {
    Client::builder("shop", endpoint)
        .flush_interval(Duration::from_secs(3600))
        .initial_backoff(Duration::from_millis(20))
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_values_arrive() {
    let server = Server::start().await;
    let client = client(&server.base);
    let orders = client.counter("orders_total", &[("region", "eu")]);
    orders.inc();
    orders.inc_by(2.5);
    orders.inc_by(-7.0); // ignored: counters only go up
    client.gauge("queue_depth", &[]).set(42.0);
    let latency =
        client.histogram_with_buckets("latency_seconds", &[("route", "/a")], &[0.01, 0.1, 1.0]);
    for v in [0.003, 0.2, 7.0] {
        latency.observe(v);
    }
    // Labels are typed pairs: an odd list cannot happen. A bad name is
    // refused without touching the host app.
    client.counter("bad name", &[]).inc();

    let report = client.flush(Duration::from_secs(5)).await;
    assert_eq!(report.pending, 0);
    assert_eq!(report.invalid_metrics, 1);
    assert_eq!(server.latest("orders_total", "").await[0].1, "3.5");
    let depth = server.latest("queue_depth", "").await;
    assert_eq!(
        depth[0].0["service"], "shop",
        "every series gets the service label"
    );
    assert_eq!(depth[0].1, "42");
    let buckets: Vec<(String, String)> = server
        .latest("latency_seconds_bucket", "")
        .await
        .into_iter()
        .map(|(l, v)| (l["le"].as_str().unwrap().to_string(), v))
        .collect();
    assert_eq!(
        buckets,
        [("+Inf", "3"), ("0.01", "1"), ("0.1", "1"), ("1", "2")]
            .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert_eq!(server.latest("latency_seconds_sum", "").await[0].1, "7.203");
    assert_eq!(server.latest("latency_seconds_count", "").await[0].1, "3");
    client.shutdown().await;
}

/// A proxy answering 503 to the first `failures` requests, then passing
/// requests on to `target`.
async fn flaky_proxy(target: String, failures: usize) -> (String, Arc<AtomicUsize>) {
    use axum::body::Bytes;
    use axum::http::StatusCode;
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let app = axum::Router::new().route(
        "/v1/ingest",
        axum::routing::post(move |body: Bytes| {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let target = target.clone();
            async move {
                if n < failures {
                    return (StatusCode::SERVICE_UNAVAILABLE, "busy".to_string());
                }
                let r = reqwest::Client::new()
                    .post(format!("{target}/v1/ingest"))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                (
                    StatusCode::from_u16(r.status().as_u16()).unwrap(),
                    r.text().await.unwrap(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_outlast_a_503() {
    let server = Server::start().await;
    let (proxy, seen) = flaky_proxy(server.base.clone(), 2).await;
    let client = client(&proxy);
    client.counter("jobs_total", &[]).inc_by(5.0);
    let report = client.flush(Duration::from_secs(10)).await;
    assert_eq!(seen.load(Ordering::SeqCst), 3, "two 503s, then through");
    assert_eq!(report.retries, 2);
    assert_eq!((report.sent, report.pending, report.dropped), (1, 0, 0));
    assert_eq!(server.latest("jobs_total", "").await[0].1, "5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_sends_everything_pending() {
    let server = Server::start().await;
    // The flush interval is an hour: only shutdown can send these.
    let client = client(&server.base);
    let handles: Vec<_> = (0..50)
        .map(|i| client.counter("events_total", &[("shard", &i.to_string())]))
        .collect();
    for (i, h) in handles.iter().enumerate() {
        h.inc_by(i as f64);
    }
    let report = client.shutdown().await;
    assert_eq!((report.sent, report.pending, report.dropped), (50, 0, 0));
    let stored = server.latest("events_total", "").await;
    assert_eq!(stored.len(), 50);
    let total: f64 = stored.iter().map(|(_, v)| v.parse::<f64>().unwrap()).sum();
    assert_eq!(total, (0..50).sum::<i32>() as f64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_labels_requests_by_route_template() {
    use tower::ServiceExt;
    let server = Server::start().await;
    let client = client(&server.base);
    let app = axum::Router::new()
        .route("/users/{id}", axum::routing::get(|| async { "hi" }))
        .layer(HttpMetricsLayer::new(&client));
    for path in ["/users/42", "/users/43", "/nowhere"] {
        let request = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        app.clone().oneshot(request).await.unwrap();
    }
    client.flush(Duration::from_secs(5)).await;
    let requests: Vec<(String, String, String)> = server
        .latest("http_requests_total", "")
        .await
        .into_iter()
        .map(|(l, v)| {
            (
                l["route"].as_str().unwrap().to_string(),
                l["status"].as_str().unwrap().to_string(),
                v,
            )
        })
        .collect();
    assert_eq!(
        requests,
        [("/users/{id}", "200", "2"), ("unmatched", "404", "1")].map(|(a, b, c)| (
            a.to_string(),
            b.to_string(),
            c.to_string()
        ))
    );
    let count = server
        .latest(
            "http_request_duration_seconds_count",
            "{route=\"/users/{id}\"}",
        )
        .await;
    assert_eq!(count[0].1, "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_crate_reports_through_the_recorder() {
    let server = Server::start().await;
    let client = client(&server.base);
    let recorder = TinyObsRecorder::new(&client);
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("cache.hits", "tier" => "l1").increment(7);
        metrics::gauge!("pool_in_use").set(3.0);
        metrics::gauge!("pool_in_use").increment(1.0);
        metrics::histogram!("query_seconds").record(0.02);
    });
    client.flush(Duration::from_secs(5)).await;
    let hits = server.latest("cache_hits", "").await;
    assert_eq!(hits[0].0["tier"], "l1");
    assert_eq!(hits[0].1, "7");
    assert_eq!(server.latest("pool_in_use", "").await[0].1, "4");
    assert_eq!(server.latest("query_seconds_count", "").await[0].1, "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_and_runtime_metrics_are_reported() {
    let server = Server::start().await;
    let client = Client::builder("worker", &server.base)
        .flush_interval(Duration::from_secs(3600))
        .process_metrics(Duration::from_millis(20))
        .build();
    tokio::time::sleep(Duration::from_millis(100)).await;
    client.flush(Duration::from_secs(5)).await;
    let memory = server.latest("process_resident_memory_bytes", "").await;
    assert_eq!(memory[0].0["service"], "worker");
    assert!(memory[0].1.parse::<f64>().unwrap() > 1e6);
    assert_eq!(server.latest("tokio_workers", "").await[0].1, "2");
    assert!(
        !server
            .latest("process_cpu_seconds_total", "")
            .await
            .is_empty()
    );
    assert!(!server.latest("process_open_fds", "").await.is_empty());
    client.shutdown().await;
}
