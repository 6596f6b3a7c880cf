//! PromQL on the loaded workload (issue 5): each query of the list runs
//! `REPEATS` times against every loaded peer's `/api/v1/query_range`, the
//! peers asked in turn; a peer's median time is its latency. TinyObs's
//! answers must match Prometheus's to a relative 1e-6; VictoriaMetrics's
//! are only reported (MetricsQL's `rate` differs by design: it does not
//! extrapolate).

use std::collections::BTreeMap;
use std::time::Instant;

/// (name, PromQL, step in seconds).
pub const QUERIES: [(&str, &str, i64); 5] = [
    (
        "sum by status of rate",
        "sum by (status) (rate(http_requests_total[5m]))",
        60,
    ),
    (
        "sum by mode of CPU rate",
        "sum by (mode) (rate(node_cpu_seconds_total[5m]))",
        60,
    ),
    (
        "p99 from buckets",
        "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
        60,
    ),
    ("one raw series", "node_load1{instance=\"node-0:9100\"}", 15),
    ("avg_over_time 1h", "avg_over_time(node_load1[1h])", 3600),
];
/// Asked of each peer in turn, a query costs little more in repeats than
/// its slowest peer takes; eleven give a steadier median than five did.
pub const REPEATS: usize = 11;

/// A range answer: each series (its labels as JSON) and its points.
pub type Answer = BTreeMap<String, Vec<(f64, String)>>;

pub struct Timing {
    pub p50_ms: f64,
    pub answer: Answer,
}

/// A loaded peer's query endpoint: its base URL and what each request
/// adds (VictoriaMetrics: `nocache=1`, so that repeats are not served from
/// its result cache).
pub struct Target<'a> {
    pub base: &'a str,
    pub extra: &'a [(&'a str, &'a str)],
}

/// Runs every query `REPEATS` times against every target over `[start,
/// end]` (seconds), interleaved: each repeat asks every target in turn,
/// a different one first each time. Timed one peer after another, a slow
/// spell of this machine (they last seconds to minutes and cost a quarter)
/// fell on whichever peer it was timing; interleaved, it falls on all
/// alike. A target that fails a query is asked nothing more.
pub async fn run(
    client: &reqwest::Client,
    targets: &[Target<'_>],
    (start, end): (i64, i64),
) -> Vec<Result<Vec<Timing>, String>> {
    let n = targets.len();
    let mut times = vec![vec![Vec::with_capacity(REPEATS); QUERIES.len()]; n];
    let mut answers = vec![vec![Answer::new(); QUERIES.len()]; n];
    let mut failed: Vec<Option<String>> = vec![None; n];
    for (q, (_, query, step)) in QUERIES.iter().enumerate() {
        for repeat in 0..REPEATS {
            for i in (0..n).map(|k| (repeat + k) % n) {
                if failed[i].is_some() {
                    continue;
                }
                match ask(client, &targets[i], (query, *step), (start, end)).await {
                    Ok((ms, answer)) => {
                        times[i][q].push(ms);
                        answers[i][q] = answer;
                    }
                    Err(e) => failed[i] = Some(format!("{query}: {e}")),
                }
            }
        }
    }
    let per_target = times.into_iter().zip(answers).zip(failed);
    per_target
        .map(|((times, answers), failed)| match failed {
            Some(e) => Err(e),
            None => Ok(times
                .into_iter()
                .zip(answers)
                .map(|(mut times, answer)| {
                    times.sort_by(f64::total_cmp);
                    Timing {
                        p50_ms: times[REPEATS / 2],
                        answer,
                    }
                })
                .collect()),
        })
        .collect()
}

/// One timed `query_range` request: milliseconds until its JSON is read,
/// and the answer.
async fn ask(
    client: &reqwest::Client,
    target: &Target<'_>,
    (query, step): (&str, i64),
    (start, end): (i64, i64),
) -> Result<(f64, Answer), String> {
    let mut params = vec![
        ("query", query.to_string()),
        ("start", start.to_string()),
        ("end", end.to_string()),
        ("step", step.to_string()),
    ];
    params.extend(target.extra.iter().map(|(k, v)| (*k, v.to_string())));
    let began = Instant::now();
    let r = client
        .get(format!("{}/api/v1/query_range", target.base))
        .query(&params)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let body: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
    let ms = began.elapsed().as_secs_f64() * 1000.0;
    Ok((ms, parse(&body)?))
}

fn parse(body: &serde_json::Value) -> Result<Answer, String> {
    if body["status"] != "success" {
        return Err(body.to_string());
    }
    let result = body["data"]["result"].as_array().ok_or("no result")?;
    let mut answer = Answer::new();
    for series in result {
        let points = series["values"]
            .as_array()
            .ok_or("no values")?
            .iter()
            .map(|p| {
                (
                    p[0].as_f64().unwrap_or(f64::NAN),
                    p[1].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        answer.insert(series["metric"].to_string(), points);
    }
    Ok(answer)
}

/// `None` when `a` matches `b` (same series, times, and values to a
/// relative 1e-6); else what differs first.
pub fn differs(a: &Answer, b: &Answer) -> Option<String> {
    if a.len() != b.len() {
        return Some(format!("{} series vs {}", a.len(), b.len()));
    }
    for ((ka, pa), (kb, pb)) in a.iter().zip(b) {
        if ka != kb {
            return Some(format!("series {ka} vs {kb}"));
        }
        if pa.len() != pb.len() {
            return Some(format!("{ka}: {} points vs {}", pa.len(), pb.len()));
        }
        for ((ta, va), (tb, vb)) in pa.iter().zip(pb) {
            let (x, y) = (
                va.parse::<f64>().unwrap_or(f64::NAN),
                vb.parse::<f64>().unwrap_or(f64::NAN),
            );
            let same = (x.is_nan() && y.is_nan())
                || x == y
                || (x - y).abs() <= 1e-6 * x.abs().max(y.abs());
            if ta != tb || !same {
                return Some(format!("{ka} at {ta}: {va} vs {vb} at {tb}"));
            }
        }
    }
    None
}

/// The table: p50 per peer, TinyObs against VictoriaMetrics, and whether
/// each peer's answer matches Prometheus's.
pub fn render(peers: &[(String, Vec<Timing>)]) -> String {
    let mut out = String::from("| query | step |");
    for (name, _) in peers {
        out += &format!(" {name} p50 ms |");
    }
    out += " TinyObs / VictoriaMetrics | answers vs Prometheus |\n|---|---|";
    out += &"---|".repeat(peers.len() + 2);
    out += "\n";
    let find = |prefix: &str| peers.iter().find(|(n, _)| n.starts_with(prefix));
    for (i, (name, _, step)) in QUERIES.iter().enumerate() {
        out += &format!("| {name} | {step} s |");
        for (_, timings) in peers {
            out += &format!(" {:.1} |", timings[i].p50_ms);
        }
        out += &match (find("TinyObs"), find("VictoriaMetrics")) {
            (Some(t), Some(v)) => format!(" x{:.2} |", t.1[i].p50_ms / v.1[i].p50_ms),
            _ => " n/a |".into(),
        };
        let reference = find("Prometheus");
        let verdicts: Vec<String> = peers
            .iter()
            .filter(|(n, _)| !n.starts_with("Prometheus"))
            .map(|(n, t)| match reference {
                None => format!("{n}: no reference"),
                Some(p) => match differs(&t[i].answer, &p.1[i].answer) {
                    None => format!("{n}: same"),
                    Some(d) => format!("{n}: differs ({})", d.chars().take(80).collect::<String>()),
                },
            })
            .collect();
        out += &format!(" {} |\n", verdicts.join("; "));
    }
    out
}
