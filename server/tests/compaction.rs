//! Compaction, retention and cardinality limits on a real server: old data
//! is folded into 5 min and 1 h aggregates and raw is deleted, range queries
//! stitch the resolutions, and a request over a limit gets 429 and stores nothing.

mod common;

use common::{Server, get, now_s, post_json};
use serde_json::{Value, json};

const MINUTE: i64 = 60;
const DAY: i64 = 86_400;

/// `days` of one sample per minute up to now: a gauge cycling 0..=9 and a
/// counter growing by 2 a minute.
async fn ingest_history(server: &Server, days: i64) -> i64 {
    let end = now_s() / MINUTE * MINUTE;
    let start = end - days * DAY;
    let minutes: Vec<i64> = (0..=days * DAY / MINUTE).collect();
    for chunk in minutes.chunks(10_000) {
        let metrics: Vec<Value> = chunk
            .iter()
            .flat_map(|&i| {
                let t = start + i * MINUTE;
                [
                    json!({"name": "temp", "type": "gauge", "value": i % 10, "timestamp": t}),
                    json!({"name": "jobs_total", "type": "counter", "value": 2 * i, "timestamp": t}),
                ]
            })
            .collect();
        let (status, body) = post_json(server, json!({ "metrics": metrics })).await;
        assert_eq!(status, 200, "{body}");
    }
    start
}

async fn post(server: &Server, path: &str) -> (u16, Value) {
    let r = common::client()
        .post(server.url(path))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn old_data_moves_to_aggregates_and_queries_stitch_resolutions() {
    let dir = tempfile::tempdir().unwrap();
    let flags = [
        "--retention.raw",
        "3d",
        "--retention.5m",
        "8d",
        "--compaction.interval",
        "0s",
    ];
    let server = Server::start_with(dir.path(), &flags);
    let start = ingest_history(&server, 12).await;
    let samples = 12 * DAY / MINUTE + 1;

    let (status, run) = post(&server, "/v1/admin/compact").await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["series"], 2);
    assert_eq!(run["series_compacted"], 2);
    assert!(run["raw_samples_deleted"].as_u64().unwrap() >= 2 * 8 * DAY as u64 / 60);
    assert!(run["blocks_5m_deleted"].as_u64().unwrap() >= 2 * 3);
    let horizon = run["raw_horizon"].as_i64().unwrap();
    assert!(horizon >= (now_s() - 3 * DAY - 7200) * 1000 && horizon <= (now_s() - 3 * DAY) * 1000);

    // A second pass finds nothing new.
    let (_, again) = post(&server, "/v1/admin/compact").await;
    assert_eq!(
        (
            again["series_compacted"].as_u64(),
            again["buckets_5m_written"].as_u64()
        ),
        (Some(0), Some(0))
    );

    // Stats per resolution; the last run is shown.
    let (_, stats) = get(&server, "/v1/stats").await;
    let res = stats["resolutions"].as_array().unwrap();
    let names: Vec<&str> = res
        .iter()
        .map(|r| r["resolution"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["raw", "5m", "1h"]);
    let hour_buckets = res[2]["samples"].as_u64().unwrap();
    // 1 h blocks (4 days, aligned to the epoch) are written once complete.
    assert!(
        (2 * 8 * 24..=2 * 12 * 24).contains(&hour_buckets),
        "{stats}"
    );
    assert!(res[1]["bytes_on_disk"].as_u64().unwrap() > 0);
    assert_eq!(stats["compaction"]["started"], again["started"]);
    assert!(stats["samples"].as_u64().unwrap() < 2 * samples as u64 / 2);

    // The whole range at maxPoints=200 prefers 1 h and is served by 1 h;
    // every minute is accounted for: the average of 0..=9 is 4.5.
    let path = format!(
        "/v1/query/range?metric=temp&start={start}&end={}&maxPoints=200",
        now_s()
    );
    let (status, body) = get(&server, &path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["resolution"], "1h");
    let spans: Vec<&str> = body["resolutions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["resolution"].as_str().unwrap())
        .collect();
    assert_eq!(spans.first(), Some(&"1h"), "{body}");
    let series = &body["series"][0];
    assert!(!series["band"].as_array().unwrap().is_empty());
    let middle = &series["points"][50];
    assert!((middle[1].as_f64().unwrap() - 4.5).abs() < 1e-9, "{middle}");

    // A week at maxPoints=1000 prefers raw: raw where it still exists, 5m
    // before the horizon; no overlap, no gap.
    let week = now_s() - 7 * DAY;
    let path = format!(
        "/v1/query/range?metric=jobs_total&fn=rate&start={week}&end={}&maxPoints=5000",
        now_s()
    );
    let (_, body) = get(&server, &path).await;
    let spans = body["resolutions"].as_array().unwrap();
    assert_eq!(
        spans
            .iter()
            .map(|s| s["resolution"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["5m", "raw"],
        "{body}"
    );
    assert_eq!(
        spans[0]["end"].as_i64().unwrap() + 1,
        spans[1]["start"].as_i64().unwrap()
    );
    assert_eq!(spans[1]["start"].as_i64().unwrap(), horizon);
    // 2 per minute everywhere, aggregated or not: 1/30 per second.
    for point in body["series"][0]["points"].as_array().unwrap() {
        let rate = point[1].as_f64().unwrap();
        assert!((rate - 2.0 / 60.0).abs() < 1e-3, "{point}");
    }

    // Raw before the horizon is gone, and a sample there is refused by name.
    let old = start + DAY;
    let (_, raw) = get(
        &server,
        &format!("/v1/query?metric=temp&start={old}&end={}", old + 3600),
    )
    .await;
    assert_eq!(raw["series"].as_array().map(Vec::len), Some(0), "{raw}");
    let (status, body) = post_json(
        &server,
        json!({"metrics": [{"name": "temp", "type": "gauge", "value": 1, "timestamp": old}]}),
    )
    .await;
    assert_eq!(status, 409);
    assert!(
        body["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("too old"),
        "{body}"
    );

    // PromQL below the horizon reads the aggregates, each function the one
    // it needs: 5 min ones six days ago, 1 h ones ten days ago.
    let six_days_ago = (now_s() - 6 * DAY) / 3600 * 3600;
    let ten_days_ago = (now_s() - 10 * DAY) / 3600 * 3600;
    // The counter grows steadily, so its rates come out as from raw
    // samples (the tolerance is for float rounding).
    for (query, at, want, tolerance) in [
        ("avg_over_time(temp[1h])", six_days_ago, 4.5, 1e-9),
        ("max_over_time(temp[1h])", six_days_ago, 9.0, 1e-9),
        ("min_over_time(temp[1h])", six_days_ago, 0.0, 1e-9),
        ("sum_over_time(temp[1h])", six_days_ago, 270.0, 1e-9),
        ("rate(jobs_total[1h])", six_days_ago, 2.0 / 60.0, 1e-6),
        ("increase(jobs_total[30m])", six_days_ago, 60.0, 1e-6),
        ("avg_over_time(temp[3h])", ten_days_ago, 4.5, 1e-9),
        ("rate(jobs_total[3h])", ten_days_ago, 2.0 / 60.0, 1e-6),
    ] {
        let path = format!(
            "/api/v1/query?query={}&time={at}",
            query.replace('[', "%5B").replace(']', "%5D")
        );
        let (status, body) = get(&server, &path).await;
        assert_eq!(status, 200, "{query}: {body}");
        let value: f64 = body["data"]["result"][0]["value"][1]
            .as_str()
            .unwrap_or_else(|| panic!("{query}: {body}"))
            .parse()
            .unwrap();
        assert!(
            (value - want).abs() <= tolerance * want.abs(),
            "{query} at {at}: {value}, want {want}"
        );
    }

    // Everything survives a restart.
    server.stop();
    let server = Server::start_with(dir.path(), &flags);
    let (_, stats) = get(&server, "/v1/stats").await;
    assert_eq!(
        stats["resolutions"][2]["samples"].as_u64(),
        Some(hour_buckets)
    );
    assert_eq!(stats["compaction"]["started"], again["started"]);
    let (_, health) = get(&server, "/health").await;
    assert_eq!(health["status"], "ok");
}

#[tokio::test]
async fn cardinality_limits_refuse_whole_requests_with_429() {
    let dir = tempfile::tempdir().unwrap();
    let flags = [
        "--limits.max-series-per-metric",
        "3",
        "--limits.max-series",
        "5",
        "--limits.max-labels",
        "2",
    ];
    let server = Server::start_with(dir.path(), &flags);
    let metric = |name: &str, n: i64| json!({"name": name, "type": "gauge", "value": 1, "labels": {"n": n.to_string()}});
    let (status, _) = post_json(
        &server,
        json!({"metrics": [metric("a", 0), metric("a", 1)]}),
    )
    .await;
    assert_eq!(status, 200);
    // Two more series of "a" pass the per-metric limit: the "b" one is not
    // stored either.
    let (status, body) = post_json(
        &server,
        json!({"metrics": [metric("b", 0), metric("a", 2), metric("a", 3)]}),
    )
    .await;
    assert_eq!(status, 429, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("limits.max-series-per-metric=3") && error.contains("\"a\""),
        "{error}"
    );
    let (_, list) = get(&server, "/v1/metrics/list").await;
    assert!(!list.to_string().contains("\"b\""), "{list}");

    // Labels per series: 429 naming the limit and the metric.
    let many =
        json!({"name": "c", "type": "gauge", "value": 1, "labels": {"x": "1", "y": "2", "z": "3"}});
    let (status, body) = post_json(&server, json!({"metrics": [many]})).await;
    assert_eq!(status, 429);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("limits.max-labels"),
        "{body}"
    );

    // Remembered across a restart.
    server.stop();
    let server = Server::start_with(dir.path(), &flags);
    let (status, _) = post_json(&server, json!({"metrics": [metric("a", 2)]})).await;
    assert_eq!(status, 200);
    let (status, _) = post_json(&server, json!({"metrics": [metric("a", 9)]})).await;
    assert_eq!(status, 429);

    let (status, card) = get(&server, "/v1/cardinality?limit=5").await;
    assert_eq!(status, 200, "{card}");
    assert_eq!(card["series"], 3);
    assert_eq!(card["metrics"][0], json!({"name": "a", "series": 3}));
    assert_eq!(card["limits"]["max_series_per_metric"], 3);
    let n = card["labels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "n")
        .unwrap();
    assert_eq!(
        (n["series"].as_u64(), n["values"].as_u64()),
        (Some(3), Some(3))
    );
    let (status, _) = get(&server, "/v1/cardinality?limit=0").await;
    assert_eq!(status, 400);
}
