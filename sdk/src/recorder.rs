//! A `metrics::Recorder` backed by a [`Client`], so an app that already uses
//! `metrics::counter!`, `gauge!` and `histogram!` reports to TinyObs with one
//! line: `tinyobs_sdk::recorder::install(&client)`. Names and label names are
//! made Prometheus-valid (`http.requests` becomes `http_requests`).

use crate::client::{Client, Counter, Gauge, Histogram};
use crate::registry::sanitize_name;
use metrics::{Key, KeyName, Metadata, SharedString, Unit};
use std::sync::Arc;

pub struct TinyObsRecorder {
    client: Client,
}

impl TinyObsRecorder {
    pub fn new(client: &Client) -> Self {
        TinyObsRecorder {
            client: client.clone(),
        }
    }

    fn labels(key: &Key) -> Vec<(String, String)> {
        key.labels()
            .map(|l| (sanitize_name(l.key()), l.value().to_string()))
            .collect()
    }
}

/// Installs the recorder for the whole process; an error if another
/// recorder is already installed.
pub fn install(client: &Client) -> Result<(), metrics::SetRecorderError<TinyObsRecorder>> {
    metrics::set_global_recorder(TinyObsRecorder::new(client))
}

fn pairs(labels: &[(String, String)]) -> Vec<(&str, &str)> {
    labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

impl metrics::Recorder for TinyObsRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> metrics::Counter {
        let labels = Self::labels(key);
        let counter = self
            .client
            .counter(&sanitize_name(key.name()), &pairs(&labels));
        metrics::Counter::from_arc(Arc::new(counter))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> metrics::Gauge {
        let labels = Self::labels(key);
        let gauge = self
            .client
            .gauge(&sanitize_name(key.name()), &pairs(&labels));
        metrics::Gauge::from_arc(Arc::new(gauge))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> metrics::Histogram {
        let labels = Self::labels(key);
        let histogram = self
            .client
            .histogram(&sanitize_name(key.name()), &pairs(&labels));
        metrics::Histogram::from_arc(Arc::new(histogram))
    }
}

impl metrics::CounterFn for Counter {
    fn increment(&self, value: u64) {
        self.inc_by(value as f64);
    }

    fn absolute(&self, value: u64) {
        self.set_total(value as f64);
    }
}

impl metrics::GaugeFn for Gauge {
    fn increment(&self, value: f64) {
        self.add(value);
    }

    fn decrement(&self, value: f64) {
        self.add(-value);
    }

    fn set(&self, value: f64) {
        Gauge::set(self, value);
    }
}

impl metrics::HistogramFn for Histogram {
    fn record(&self, value: f64) {
        self.observe(value);
    }
}
