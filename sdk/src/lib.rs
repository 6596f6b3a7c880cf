//! The TinyObs SDK: instrument a Rust app and ship its metrics to a TinyObs
//! server. This file is the map:
//!
//! - [`Client`] ([`client`]): counters, gauges and histograms with typed
//!   labels, batched and pushed to `/v1/ingest` in the background.
//! - [`transport`]: the bounded buffer and the HTTP sender, with retries.
//! - [`recorder`]: a `metrics::Recorder`, for apps that use `metrics::counter!`.
//! - [`layer`]: a tower layer recording requests by matched route.
//! - [`process`]: resident memory, CPU time, threads and open files (Linux).
//!
//! ```no_run
//! # async fn demo() {
//! let client = tinyobs_sdk::Client::builder("checkout", "http://127.0.0.1:8080").build();
//! let orders = client.counter("orders_total", &[("region", "eu")]);
//! orders.inc();
//! client.shutdown().await; // sends what is pending
//! # }
//! ```

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "axum")]
pub mod layer;
pub mod process;
#[cfg(feature = "metrics")]
pub mod recorder;
#[cfg(feature = "client")]
mod registry;
#[cfg(feature = "client")]
pub mod transport;

#[cfg(feature = "client")]
pub use client::{Client, ClientBuilder, Counter, Gauge, Histogram, Report};
#[cfg(feature = "axum")]
pub use layer::HttpMetricsLayer;
#[cfg(feature = "metrics")]
pub use recorder::TinyObsRecorder;

/// Histogram buckets when none are given: Prometheus's defaults, in seconds,
/// fit for request latencies.
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
