//! Integration tests on a real server: ingest over JSON and remote_write,
//! query back, restart (clean and `kill -9`), and every bad input's 4xx.

mod common;

use common::{Server, client, get, now_s, post_json};
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;
use tinyobs::remote_write;
use tinyobs::storage::{Labels, METRIC_NAME, Sample};

/// Samples of `metric` in the last two hours, as (ms, value text) per series.
async fn raw_values(server: &Server, metric: &str) -> Vec<(i64, String)> {
    let (status, body) = get(
        server,
        &format!(
            "/v1/query?metric={metric}&start={}&end={}",
            now_s() - 7200,
            now_s() + 60
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["series"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["samples"].as_array().unwrap().clone())
        .map(|p| (p[0].as_i64().unwrap(), p[1].as_str().unwrap().to_string()))
        .collect()
}

/// Every sample the first test stores, read back bit-exactly (as text).
async fn expect_all(server: &Server, t0: i64, when: &str) {
    let ms = t0 * 1000;
    let want: [(&str, Vec<(i64, String)>); 4] = [
        (
            "http_requests_total",
            vec![(ms, "42".into()), (ms + 15_000, "43".into())],
        ),
        ("latency_seconds_bucket", vec![(ms, "+Inf".into())]),
        ("queue_depth", vec![(ms, "NaN".into())]),
        (
            "node_load1",
            vec![(ms, "0.5".into()), (ms + 15_000, "NaN".into())],
        ),
    ];
    for (metric, samples) in want {
        assert_eq!(raw_values(server, metric).await, samples, "{metric} {when}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_query_and_survive_kill_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let t0 = now_s() - 600;

    // JSON ingest, a counter and a histogram bucket, with RFC 3339 and unix times.
    let stamp = chrono::DateTime::from_timestamp(t0, 0)
        .unwrap()
        .to_rfc3339();
    let (status, body) = post_json(&server, json!({"metrics": [
        {"name": "http_requests_total", "type": "counter", "value": 42, "timestamp": stamp, "labels": {"service": "api"}},
        {"name": "http_requests_total", "type": "counter", "value": 43, "timestamp": t0 + 15, "labels": {"service": "api"}},
        {"name": "latency_seconds_bucket", "type": "histogram", "value": "+Inf", "timestamp": t0, "labels": {"le": "0.5"}},
        {"name": "queue_depth", "type": "gauge", "value": "NaN", "timestamp": t0},
    ]})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 4);

    // remote_write, including the stale marker.
    let stale = f64::from_bits(0x7ff0_0000_0000_0002);
    let labels = Labels::new([(METRIC_NAME, "node_load1"), ("instance", "a")]);
    let samples = vec![
        Sample {
            t: t0 * 1000,
            v: 0.5,
        },
        Sample {
            t: t0 * 1000 + 15_000,
            v: stale,
        },
    ];
    let body = remote_write::encode(&[(labels, samples)]);
    // Sent twice: a sender retrying after a lost reply must not get an error.
    for _ in 0..2 {
        let r = client()
            .post(server.url("/api/v1/write"))
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
    }

    // A retried request is harmless; an older sample is refused and reported.
    let (status, body) = post_json(&server, json!({"metrics": [
        {"name": "http_requests_total", "type": "counter", "value": 43, "timestamp": t0 + 15, "labels": {"service": "api"}},
        {"name": "http_requests_total", "type": "counter", "value": 1, "timestamp": t0 - 60, "labels": {"service": "api"}},
    ]})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["duplicates"], 1);
    assert_eq!(body["rejected"][0]["index"], 1);
    assert!(
        body["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("out of order")
    );

    expect_all(&server, t0, "before restart").await;

    // Range query: chart points, NaN as null, resolution named.
    let (status, body) = get(
        &server,
        &format!(
            "/v1/query/range?metric=node_load1&match=instance%3Da&start={}&end={}",
            t0 - 60,
            t0 + 60
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["resolution"], "raw");
    assert_eq!(
        body["series"][0]["points"],
        json!([[t0 * 1000, 0.5], [t0 * 1000 + 15_000, null]])
    );

    // Catalogue.
    let (_, metrics) = get(&server, "/v1/metrics/list").await;
    let names: Vec<&str> = metrics["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "http_requests_total",
            "latency_seconds_bucket",
            "node_load1",
            "queue_depth"
        ]
    );
    assert_eq!(metrics["metrics"][0]["type"], "counter");
    let (_, labels) = get(&server, "/v1/labels").await;
    assert_eq!(labels["labels"], json!(["instance", "le", "service"]));
    let (_, values) = get(&server, "/v1/label/service/values").await;
    assert_eq!(values["values"], json!(["api"]));
    let (_, stats) = get(&server, "/v1/stats").await;
    assert_eq!(stats["samples"], 6);
    assert_eq!(stats["series"], 4);
    assert_eq!(stats["oldest"], t0 * 1000);

    // kill -9: every acknowledged sample must come back from the WAL.
    server.kill9();
    let server = Server::start(dir.path());
    expect_all(&server, t0, "after kill -9").await;
    let (_, stats) = get(&server, "/v1/stats").await;
    assert_eq!(stats["samples"], 6);

    // A clean stop seals everything; it all comes back again.
    server.stop();
    let server = Server::start(dir.path());
    expect_all(&server, t0, "after clean stop").await;
    let (_, health) = get(&server, "/health").await;
    assert_eq!(health["status"], "ok");
    server.stop();
}

/// The server starts itself again once, so that mimalloc returns freed
/// memory at once (main.rs): the same process, now with the variable set,
/// and serving.
#[tokio::test]
async fn the_server_runs_with_prompt_memory_purging() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let environ = std::fs::read(format!("/proc/{}/environ", server.pid())).unwrap();
    assert!(
        environ
            .split(|&b| b == 0)
            .any(|var| var == b"MIMALLOC_PURGE_DELAY=0"),
        "{}",
        String::from_utf8_lossy(&environ)
    );
    let (status, _) = get(&server, "/health").await;
    assert_eq!(status, 200);
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_get_clear_4xx_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let ok = json!({"name": "ok_metric", "type": "gauge", "value": 1});
    let cases: Vec<(Value, u16, &str, Option<usize>)> = vec![
        (json!("nope"), 400, "metrics", None),
        (
            json!({"metrics": [ok, {"name": "bad name", "type": "gauge", "value": 1}]}),
            400,
            "invalid metric name",
            Some(1),
        ),
        (
            json!({"metrics": [{"name": "m", "type": "summary", "value": 1}]}),
            400,
            "metric 0",
            Some(0),
        ),
        (
            json!({"metrics": [{"name": "m", "type": "gauge", "value": "lots"}]}),
            400,
            "value",
            Some(0),
        ),
        (
            json!({"metrics": [{"name": "m", "type": "gauge", "value": 1, "timestamp": "noon"}]}),
            400,
            "invalid time",
            Some(0),
        ),
        (
            json!({"metrics": [{"name": "m", "type": "gauge", "value": 1, "labels": {"0x": "y"}}]}),
            400,
            "invalid label name",
            Some(0),
        ),
        (
            json!({"metrics": [{"name": "m_bucket", "type": "histogram", "value": 1}]}),
            400,
            "le",
            Some(0),
        ),
        (
            json!({"metrics": [{"name": "m", "type": "gauge", "value": 1, "timestamp": now_s() + 86_400}]}),
            400,
            "future",
            Some(0),
        ),
    ];
    for (body, status, needle, index) in cases {
        let (got, answer) = post_json(&server, body.clone()).await;
        assert_eq!(got, status, "{body} -> {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(needle),
            "{body} -> {answer}"
        );
        assert_eq!(
            answer["index"].as_u64().map(|i| i as usize),
            index,
            "{body} -> {answer}"
        );
    }
    // All-or-nothing: the valid metric of the rejected request was not stored.
    let (_, stats) = get(&server, "/v1/stats").await;
    assert_eq!(stats["samples"], 0);

    // Oversized body: 413 with a JSON message.
    let huge = "x".repeat(9 << 20);
    let r = client()
        .post(server.url("/v1/ingest"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    assert!(
        r.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("too large")
    );

    // remote_write garbage: 400, not retried.
    let r = client()
        .post(server.url("/api/v1/write"))
        .body("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(
        r.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("snappy")
    );

    // Query parameters.
    for (path, needle) in [
        ("/v1/query/range", "metric is required"),
        ("/v1/query/range?metric=m&maxPoints=0", "maxPoints"),
        ("/v1/query/range?metric=m&maxPoints=999999", "maxPoints"),
        ("/v1/query/range?metric=m&start=10&end=5", "before start"),
        ("/v1/query/range?metric=m&start=yesterday", "start"),
        ("/v1/query/range?metric=m&match=a%3D~%22(%22", "match"),
        ("/v1/query/range?metric=m&step=0", "unknown parameter"),
        ("/v1/query?metric=m&limit=100000000", "limit"),
        (
            "/v1/query/range?metric=m&start=0&end=99999999999",
            "range longer",
        ),
        ("/v1/label/bad-name/values", "invalid label name"),
    ] {
        let (status, body) = get(&server, path).await;
        assert_eq!(status, 400, "{path} -> {body}");
        assert!(
            body["error"].as_str().unwrap().contains(needle),
            "{path} -> {body}"
        );
    }
    server.stop();
}

/// Reads the event stream until `needle` shows up, or fails after `within`.
async fn wait_for_event(stream: &mut reqwest::Response, needle: &str, within: Duration) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + within;
    while !seen.contains(needle) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} within {within:?}; got {seen:?}"))
            .unwrap()
            .expect("stream still open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_queries_and_live_events() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let mut events = client().get(server.url("/v1/events")).send().await.unwrap();
    assert_eq!(
        events.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    wait_for_event(&mut events, "{\"accepted\":0}", Duration::from_secs(5)).await;

    let t = now_s() - 60;
    let counter = |dt: i64, v: f64| {
        json!({"name": "http_requests_total", "type": "counter", "value": v,
               "timestamp": t + dt, "labels": {"service": "api"}})
    };
    let gauge = json!({"name": "active_users", "type": "gauge", "value": 7,
                       "timestamp": t, "labels": {"service": "web"}});
    let body = json!({"metrics": [counter(0, 10.0), counter(10, 30.0), counter(20, 5.0), gauge]});
    assert_eq!(post_json(&server, body).await.0, 200);
    // Live: the open stream hears of the 4 new samples well within 2 s.
    wait_for_event(&mut events, "{\"accepted\":4}", Duration::from_secs(2)).await;

    let (status, all) = get(&server, "/v1/series").await;
    assert_eq!(status, 200);
    assert_eq!(all["series"].as_array().unwrap().len(), 2);
    assert_eq!(all["truncated"], false);
    let (_, api) = get(&server, "/v1/series?match=%7Bservice%3D%22api%22%7D").await;
    assert_eq!(
        api["series"],
        json!([{"__name__": "http_requests_total", "service": "api"}])
    );
    let (_, limited) = get(&server, "/v1/series?limit=1").await;
    assert_eq!(limited["truncated"], true);

    let range = format!(
        "/v1/query/range?metric=http_requests_total&fn=rate&start={}&end={}",
        t - 1,
        t + 30
    );
    let (status, rates) = get(&server, &range).await;
    assert_eq!(status, 200, "{rates}");
    // 10 → 30 in 10 s is 2/s; the drop to 5 is a reset: 5 in 10 s.
    assert_eq!(
        rates["series"][0]["points"],
        json!([[(t + 10) * 1000, 2.0], [(t + 20) * 1000, 0.5]])
    );
    let (status, error) = get(&server, "/v1/query/range?metric=up&fn=sum").await;
    assert_eq!(status, 400);
    assert!(error["error"].as_str().unwrap().contains("fn"), "{error}");

    // A stop with a dashboard still connected ends its stream and exits cleanly.
    let stopped = tokio::task::spawn_blocking(move || server.stop());
    tokio::time::timeout(Duration::from_secs(15), stopped)
        .await
        .expect("the server stops although an event stream is open")
        .unwrap();
    drop(events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histogram_quantiles_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let t = (now_s() / 60 - 10) * 60;
    // Per minute: 10 requests, 5 of them within 0.1 s, all within 1 s.
    let mut metrics = Vec::new();
    for step in 0..5i64 {
        for (le, per_minute) in [("0.1", 5.0), ("1", 10.0), ("+Inf", 10.0)] {
            metrics.push(json!({"name": "rq_seconds_bucket", "type": "histogram",
                "value": per_minute * step as f64, "timestamp": t + step * 60,
                "labels": {"le": le, "route": "/a"}}));
        }
    }
    assert_eq!(
        post_json(&server, json!({ "metrics": metrics })).await.0,
        200
    );
    let path = format!(
        "/v1/query/range?metric=rq_seconds_bucket&fn=quantile&q=0.5&start={t}&end={}",
        t + 240
    );
    let (status, body) = get(&server, &path).await;
    assert_eq!(status, 200, "{body}");
    let series = &body["series"][0];
    assert_eq!(series["labels"], json!({"quantile": "0.5", "route": "/a"}));
    let values: Vec<f64> = series["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p[1].as_f64())
        .collect();
    // The median falls at the top of the first bucket in every minute.
    assert_eq!(values, vec![0.1; 4]);
    let (status, _) = get(&server, "/v1/query/range?metric=x&fn=quantile&q=2").await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_are_saved_validated_and_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let put = |server: &Server, id: &str, body: Value| {
        let request = client()
            .put(server.url(&format!("/v1/dashboards/{id}")))
            .json(&body);
        async move {
            let r = request.send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let doc = json!({"title": "My API", "panels": [{"title": "requests", "series": [
        {"metric": "http_requests_total", "selector": "{status=~\"5..\"}", "function": "rate"},
        {"metric": "rq_seconds_bucket", "function": {"quantile": 0.99}, "axis": "right"}]}]});
    assert_eq!(
        put(&server, "my-api", doc.clone()).await,
        (200, json!({"id": "my-api", "title": "My API"}))
    );

    for (bad, needle) in [
        (json!({"title": "My API", "panelz": []}), "unknown field"),
        (
            json!({"title": "My API", "panels": [{"title": "x", "series": [{"metric": "1bad"}]}]}),
            "panels[0].series[0].metric",
        ),
        (
            json!({"title": "My API", "panels": [{"title": "x", "series": [{"metric": "up", "selector": "{a=}"}]}]}),
            "selector",
        ),
        (json!({"title": "Other", "panels": []}), "id of a dashboard"),
        (
            json!({"title": "My API", "panels": [{"title": "x", "series": [{"promql": "sum("}]}]}),
            "panels[0].series[0].promql",
        ),
    ] {
        let (status, body) = put(&server, "my-api", bad).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["error"].as_str().unwrap().contains(needle), "{body}");
    }
    assert_eq!(get(&server, "/v1/dashboards/nope").await.0, 404);

    // Saved means durable: a kill -9 right after keeps it.
    server.kill9();
    let server = Server::start(dir.path());
    assert_eq!(get(&server, "/v1/dashboards/my-api").await, (200, doc));
    assert_eq!(
        get(&server, "/v1/dashboards").await.1,
        json!({"dashboards": [{"id": "my-api", "title": "My API"}]})
    );
    let r = client()
        .delete(server.url("/v1/dashboards/my-api"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(
        get(&server, "/v1/dashboards").await.1,
        json!({"dashboards": []})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prometheus_http_api_answers_promql() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let t = now_s() - 600;
    let metrics: Vec<Value> = (0..10)
        .flat_map(|i| {
            ["200", "500"].map(|status| {
                json!({"name": "req_total", "type": "counter", "value": i * 60,
                       "timestamp": t + i * 60, "labels": {"status": status}})
            })
        })
        .collect();
    assert_eq!(
        post_json(&server, json!({ "metrics": metrics })).await.0,
        200
    );

    let at = t + 540;
    let (status, body) = get(
        &server,
        &format!("/api/v1/query?query=sum%20by%20(status)%20(rate(req_total%5B5m%5D))&time={at}"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["data"]["resultType"], "vector");
    let result = body["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 2);
    assert_eq!(result[0]["metric"], json!({"status": "200"}));
    assert_eq!(result[0]["value"][1], "1", "60 per minute is 1/s");

    // POST form bodies work as Grafana sends them.
    let r = client()
        .post(server.url("/api/v1/query_range"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "query=req_total%7Bstatus%3D%22500%22%7D&start={t}&end={at}&step=60s"
        ))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["data"]["resultType"], "matrix");
    assert_eq!(
        body["data"]["result"][0]["values"]
            .as_array()
            .unwrap()
            .len(),
        10
    );

    let (_, series) = get(&server, "/api/v1/series?match[]=req_total").await;
    assert_eq!(series["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        get(&server, "/api/v1/labels").await.1["data"],
        json!(["__name__", "status"])
    );
    assert_eq!(
        get(&server, "/api/v1/label/status/values").await.1["data"],
        json!(["200", "500"])
    );
    assert_eq!(
        get(&server, "/api/v1/metadata").await.1["data"]["req_total"][0]["type"],
        "counter"
    );
    assert_eq!(
        get(&server, "/api/v1/status/buildinfo").await.1["status"],
        "success"
    );

    for (path, error_type) in [
        ("/api/v1/query", "bad_data"),
        ("/api/v1/query?query=sum(", "bad_data"),
        (
            &*format!("/api/v1/query_range?query=up&start={t}&end={at}&step=0"),
            "bad_data",
        ),
        ("/api/v1/series", "bad_data"),
    ] {
        let (status, body) = get(&server, path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["errorType"], error_type, "{path}");
        assert_eq!(body["status"], "error");
    }

    // Debian's promtool (package `prometheus`), when installed, speaks to it.
    if Command::new("promtool").arg("--version").output().is_ok() {
        let out = Command::new("promtool")
            .args(["query", "instant", &server.base, "count(req_total)"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "promtool: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("=> 2 @"), "{text}");
        let out = Command::new("promtool")
            .args(["query", "labels", &server.base, "status"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "200\n500");
        let (start, end) = (t.to_string(), at.to_string());
        let out = Command::new("promtool")
            .args([
                "query", "range", "--start", &start, "--end", &end, "--step", "1m",
            ])
            .args([&server.base, "req_total{status=\"200\"}"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Ten samples a minute apart: 0, 60, … 540.
        assert!(text.contains("req_total{status=\"200\"} =>"), "{text}");
        assert!(text.contains("540 @["), "{text}");
        let out = Command::new("promtool")
            .args(["query", "series", "--match", "req_total", &server.base])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text.lines().count(), 2, "{text}");
    } else {
        println!("promtool not installed: its part of this test did not run");
    }
}
