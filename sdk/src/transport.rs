//! Getting samples to the server: a bounded buffer (the oldest samples go
//! first when it is full, and are counted), batches POSTed to `/v1/ingest`,
//! and retries with exponential backoff and jitter on network errors, 429 and
//! 5xx. A batch leaves the buffer only once the server has it.

use crate::registry::Sample;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Settings of the transport, from the client builder.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// `http://host:port`, without a path.
    pub endpoint: String,
    /// Sent as `Authorization: Bearer <key>` when set.
    pub api_key: Option<String>,
    /// Samples per request.
    pub batch_size: usize,
    /// Samples held while the server is unreachable; beyond, the oldest go.
    pub max_buffer: usize,
    /// Time allowed for one request.
    pub request_timeout: Duration,
    /// First retry delay; doubled per attempt up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

/// Why a flush stopped before the buffer was empty.
#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    #[error("the server kept failing until the deadline: {0}")]
    Deadline(String),
}

/// Counters of what happened to samples, for the app to export or log.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) sent: AtomicU64,
    /// Dropped because the buffer was full or the server refused them as invalid.
    pub(crate) dropped: AtomicU64,
    pub(crate) retries: AtomicU64,
}

pub(crate) struct Transport {
    http: reqwest::Client,
    config: TransportConfig,
    buffer: Mutex<VecDeque<Sample>>,
    pub(crate) counts: Counts,
}

/// What one attempt to send a batch came to.
enum Outcome {
    Delivered,
    /// The server refused the batch as invalid (4xx): retrying cannot help.
    Refused(String),
    Retry(String, Option<Duration>),
}

impl Transport {
    pub(crate) fn new(config: TransportConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .build()
            .unwrap_or_default();
        Transport {
            http,
            config,
            buffer: Mutex::new(VecDeque::new()),
            counts: Counts::default(),
        }
    }

    pub(crate) fn pending(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Sample>> {
        self.buffer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues samples, dropping the oldest beyond `max_buffer`.
    pub(crate) fn enqueue(&self, samples: Vec<Sample>) {
        let mut buffer = self.lock();
        buffer.extend(samples);
        let excess = buffer.len().saturating_sub(self.config.max_buffer);
        if excess > 0 {
            buffer.drain(..excess);
            self.counts
                .dropped
                .fetch_add(excess as u64, Ordering::Relaxed);
        }
    }

    /// Sends everything buffered, batch by batch, retrying until `deadline`.
    /// Only one flush runs at a time (the client's flusher task).
    pub(crate) async fn flush(&self, deadline: Instant) -> Result<(), FlushError> {
        loop {
            let batch: Vec<Sample> = {
                let buffer = self.lock();
                buffer
                    .iter()
                    .take(self.config.batch_size)
                    .cloned()
                    .collect()
            };
            if batch.is_empty() {
                return Ok(());
            }
            let body = ingest_body(&batch);
            let mut attempt = 0u32;
            loop {
                match self.send(&body).await {
                    Outcome::Delivered => {
                        self.counts
                            .sent
                            .fetch_add(batch.len() as u64, Ordering::Relaxed);
                        break;
                    }
                    Outcome::Refused(why) => {
                        tracing::warn!("TinyObs refused {} samples: {why}", batch.len());
                        self.counts
                            .dropped
                            .fetch_add(batch.len() as u64, Ordering::Relaxed);
                        break;
                    }
                    Outcome::Retry(why, hint) => {
                        let wait = hint.unwrap_or_else(|| self.backoff(attempt));
                        if Instant::now() + wait > deadline {
                            return Err(FlushError::Deadline(why));
                        }
                        tracing::debug!("TinyObs send failed ({why}); retrying in {wait:?}");
                        self.counts.retries.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                    }
                }
            }
            // The batch is the front of the buffer: nothing else removes from it
            // while a flush runs, though `enqueue` may have dropped some of it.
            let mut buffer = self.lock();
            let sent = batch.len().min(buffer.len());
            buffer.drain(..sent);
        }
    }

    /// Full jitter: a random delay up to `initial * 2^attempt`, capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .config
            .initial_backoff
            .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
            .min(self.config.max_backoff);
        ceiling.mul_f64(fastrand::f64())
    }

    async fn send(&self, body: &Value) -> Outcome {
        let url = format!("{}/v1/ingest", self.config.endpoint.trim_end_matches('/'));
        let mut request = self.http.post(&url).json(body);
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Outcome::Retry(e.to_string(), None),
        };
        let status = response.status();
        // 409: some samples were refused (out of order) and the rest stored;
        // sending them again would change nothing.
        if status.is_success() || status.as_u16() == 409 {
            return Outcome::Delivered;
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().await.unwrap_or_default();
        if status.as_u16() == 429 || status.is_server_error() {
            Outcome::Retry(format!("HTTP {status}: {text}"), retry_after)
        } else {
            Outcome::Refused(format!("HTTP {status}: {text}"))
        }
    }
}

/// The `/v1/ingest` body for samples. Values that JSON cannot hold as
/// numbers (NaN, ±Inf) are sent as the text the server accepts.
pub(crate) fn ingest_body(samples: &[Sample]) -> Value {
    let metrics: Vec<Value> = samples
        .iter()
        .map(|s| {
            let value = if s.value.is_finite() {
                json!(s.value)
            } else if s.value.is_nan() {
                json!("NaN")
            } else if s.value > 0.0 {
                json!("+Inf")
            } else {
                json!("-Inf")
            };
            json!({
                "name": s.name,
                "type": s.kind,
                "value": value,
                "timestamp": s.timestamp_ms as f64 / 1000.0,
                "labels": s.labels,
            })
        })
        .collect();
    json!({ "metrics": metrics })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(value: f64) -> Sample {
        Sample {
            name: "x".into(),
            kind: "gauge",
            value,
            timestamp_ms: 1_500,
            labels: Default::default(),
        }
    }

    fn transport(max_buffer: usize) -> Transport {
        Transport::new(TransportConfig {
            endpoint: "http://127.0.0.1:9".into(),
            api_key: None,
            batch_size: 10,
            max_buffer,
            request_timeout: Duration::from_millis(100),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
        })
    }

    #[test]
    fn bodies_carry_non_finite_values_as_text() {
        let body = ingest_body(&[sample(1.5), sample(f64::NAN), sample(f64::NEG_INFINITY)]);
        let values: Vec<&Value> = body["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| &m["value"])
            .collect();
        assert_eq!(values, [&json!(1.5), &json!("NaN"), &json!("-Inf")]);
        assert_eq!(body["metrics"][0]["timestamp"], json!(1.5));
    }

    #[test]
    fn a_full_buffer_drops_the_oldest_and_counts_them() {
        let t = transport(3);
        t.enqueue((0..5).map(|i| sample(i as f64)).collect());
        assert_eq!(t.pending(), 3);
        assert_eq!(t.counts.dropped.load(Ordering::Relaxed), 2);
        assert_eq!(t.lock().front().unwrap().value, 2.0);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let t = transport(3);
        for attempt in 0..40 {
            let ceiling =
                Duration::from_millis(100 * (1u64 << attempt.min(16))).min(Duration::from_secs(10));
            assert!(t.backoff(attempt) <= ceiling);
        }
    }

    #[tokio::test]
    async fn an_unreachable_server_keeps_the_samples() {
        let t = transport(100);
        t.enqueue(vec![sample(1.0)]);
        let deadline = Instant::now() + Duration::from_millis(300);
        assert!(t.flush(deadline).await.is_err());
        assert_eq!(t.pending(), 1, "nothing is lost while the server is away");
    }
}
