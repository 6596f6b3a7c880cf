//! Prometheus remote_write 1.0: a snappy-compressed (block format) protobuf
//! `WriteRequest`. The message types are declared here with `prost` derives,
//! which needs no `protoc` at build time and keeps only the fields we read.

use crate::ingest::{IngestError, IngestLimits, check_labels, check_time};
use crate::storage::{Append, Labels, Sample};
use app::model::MetricType;
use bytes::Bytes;

#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<PbSample>,
    /// Native histograms, which TinyObs does not store: their presence is an error.
    #[prost(bytes = "vec", repeated, tag = "4")]
    pub histograms: Vec<Vec<u8>>,
}

/// Name and value are protobuf strings, decoded as `Bytes`: slices of the
/// request buffer rather than two allocations per label (which were most of
/// the decoding time). `decode` checks that they are UTF-8.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    #[prost(bytes = "bytes", tag = "1")]
    pub name: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub value: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PbSample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadata {
    /// 1 counter, 2 gauge, 3 histogram, others unknown to TinyObs.
    #[prost(int32, tag = "1")]
    pub kind: i32,
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RemoteWriteError {
    #[error("body is not snappy block-compressed: {0}")]
    Snappy(String),
    #[error("decompressed body of {0} bytes exceeds the limit of {1}")]
    TooLarge(usize, usize),
    #[error("body is not a protobuf WriteRequest: {0}")]
    Protobuf(String),
    #[error("timeseries {index}: {message}")]
    Invalid { index: usize, message: String },
    #[error("timeseries {index}: {message}")]
    Limit { index: usize, message: String },
}

impl From<IngestError> for RemoteWriteError {
    fn from(e: IngestError) -> Self {
        let (index, message) = (e.index, e.message);
        match e.over_limit {
            true => RemoteWriteError::Limit { index, message },
            false => RemoteWriteError::Invalid { index, message },
        }
    }
}

/// A decoded request: samples to append and metric types to record.
pub struct Decoded {
    pub appends: Vec<Append>,
    pub types: Vec<(String, MetricType)>,
}

/// Decompresses, decodes and validates a request body. Any invalid series
/// fails the whole request, before anything is stored.
pub fn decode(
    body: &[u8],
    now_ms: i64,
    limits: &IngestLimits,
) -> Result<Decoded, RemoteWriteError> {
    let max = limits.max_body_bytes * 8;
    let len =
        snap::raw::decompress_len(body).map_err(|e| RemoteWriteError::Snappy(e.to_string()))?;
    if len > max {
        return Err(RemoteWriteError::TooLarge(len, max));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| RemoteWriteError::Snappy(e.to_string()))?;
    let request = <WriteRequest as prost::Message>::decode(Bytes::from(raw))
        .map_err(|e| RemoteWriteError::Protobuf(e.to_string()))?;

    let mut appends = Vec::with_capacity(request.timeseries.len());
    let mut total = 0;
    for (index, series) in request.timeseries.iter().enumerate() {
        if !series.histograms.is_empty() {
            return Err(RemoteWriteError::Invalid {
                index,
                message: "native histograms are not supported; send classic _bucket series".into(),
            });
        }
        let mut pairs = Vec::with_capacity(series.labels.len());
        for label in &series.labels {
            match (
                std::str::from_utf8(&label.name),
                std::str::from_utf8(&label.value),
            ) {
                (Ok(name), Ok(value)) => pairs.push((name, value)),
                _ => {
                    return Err(RemoteWriteError::Invalid {
                        index,
                        message: "label name or value is not UTF-8".into(),
                    });
                }
            }
        }
        let labels = Labels::new(pairs.iter().copied());
        if labels.len() != series.labels.iter().filter(|l| !l.value.is_empty()).count() {
            return Err(RemoteWriteError::Invalid {
                index,
                message: "duplicate label name".into(),
            });
        }
        check_labels(index, &labels, limits)?;
        let mut samples = Vec::with_capacity(series.samples.len());
        for s in &series.samples {
            check_time(index, s.timestamp, now_ms, limits)?;
            samples.push(Sample {
                t: s.timestamp,
                v: s.value,
            });
        }
        total += samples.len();
        appends.push(Append { labels, samples });
        if total > limits.max_metrics_per_request * 4 {
            return Err(RemoteWriteError::Invalid {
                index,
                message: format!(
                    "more than {} samples in one request",
                    limits.max_metrics_per_request * 4
                ),
            });
        }
    }
    let types = request
        .metadata
        .iter()
        .filter_map(|m| {
            let kind = match m.kind {
                1 => MetricType::Counter,
                2 => MetricType::Gauge,
                3 => MetricType::Histogram,
                _ => return None,
            };
            Some((m.metric_family_name.clone(), kind))
        })
        .collect();
    Ok(Decoded { appends, types })
}

/// Builds a request body the way Prometheus sends it. Used by tests and the
/// benchmark to talk to TinyObs and its peers alike.
pub fn encode(series: &[(Labels, Vec<Sample>)]) -> Vec<u8> {
    let request = WriteRequest {
        timeseries: series
            .iter()
            .map(|(labels, samples)| TimeSeries {
                labels: labels
                    .iter()
                    .map(|(n, v)| Label {
                        name: Bytes::copy_from_slice(n.as_bytes()),
                        value: Bytes::copy_from_slice(v.as_bytes()),
                    })
                    .collect(),
                samples: samples
                    .iter()
                    .map(|s| PbSample {
                        value: s.v,
                        timestamp: s.t,
                    })
                    .collect(),
                histograms: Vec::new(),
            })
            .collect(),
        metadata: Vec::new(),
    };
    let raw = prost::Message::encode_to_vec(&request);
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("snappy compresses any input")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::METRIC_NAME;

    #[test]
    fn round_trips_through_snappy_and_protobuf() {
        let labels = Labels::new([(METRIC_NAME, "up"), ("job", "node")]);
        let samples = vec![
            Sample { t: 1000, v: 1.0 },
            Sample {
                t: 2000,
                v: f64::from_bits(0x7ff0_0000_0000_0002),
            },
        ];
        let body = encode(&[(labels.clone(), samples.clone())]);
        let decoded = decode(&body, 10_000, &IngestLimits::default()).unwrap();
        assert_eq!(decoded.appends[0].samples.len(), 2);
        assert_eq!(decoded.appends[0].labels, labels);
        assert_eq!(
            decoded.appends[0].samples[1].v.to_bits(),
            samples[1].v.to_bits()
        );
    }

    #[test]
    fn rejects_garbage_and_invalid_series() {
        let limits = IngestLimits::default();
        assert!(matches!(
            decode(b"not snappy", 0, &limits),
            Err(RemoteWriteError::Snappy(_))
        ));
        let not_proto = snap::raw::Encoder::new().compress_vec(&[0xff; 16]).unwrap();
        assert!(matches!(
            decode(&not_proto, 0, &limits),
            Err(RemoteWriteError::Protobuf(_))
        ));
        let bad = encode(&[(
            Labels::new([(METRIC_NAME, "bad-name")]),
            vec![Sample { t: 1, v: 1.0 }],
        )]);
        assert!(matches!(
            decode(&bad, 10, &limits),
            Err(RemoteWriteError::Invalid { index: 0, .. })
        ));
    }

    #[test]
    fn a_label_that_is_not_utf8_names_its_series() {
        let series = |value: &'static [u8]| TimeSeries {
            labels: vec![
                Label {
                    name: Bytes::from_static(b"__name__"),
                    value: Bytes::from_static(b"up"),
                },
                Label {
                    name: Bytes::from_static(b"job"),
                    value: Bytes::from_static(value),
                },
            ],
            samples: vec![PbSample {
                value: 1.0,
                timestamp: 1,
            }],
            histograms: Vec::new(),
        };
        let request = WriteRequest {
            timeseries: vec![series(b"node"), series(b"n\xffde")],
            metadata: Vec::new(),
        };
        let body = snap::raw::Encoder::new()
            .compress_vec(&prost::Message::encode_to_vec(&request))
            .unwrap();
        match decode(&body, 10, &IngestLimits::default()) {
            Err(RemoteWriteError::Invalid { index: 1, message }) => {
                assert!(message.contains("UTF-8"), "{message}")
            }
            other => panic!("expected series 1 to be refused, got {:?}", other.err()),
        }
    }
}
