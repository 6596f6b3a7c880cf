//! Prometheus remote_write 1.0: a snappy-compressed (block format) protobuf
//! `WriteRequest`. The message types are declared here with `prost` derives,
//! which needs no `protoc` at build time and keeps only the fields we read.

use crate::ingest::{IngestError, IngestLimits, check_labels, check_time};
use crate::storage::{Append, KeyedAppend, Labels, Sample};
use app::model::MetricType;
use bytes::Bytes;
use std::ops::Range;

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

/// Name and value are protobuf strings, held as bytes so that tests can send
/// labels that are not UTF-8 (`decode` refuses them).
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

/// A decoded request: its series, still keyed by their labels' bytes (see
/// [`Decoded::keyed`]), their samples, and metric types to record.
pub struct Decoded {
    /// The decompressed request, which `series` point into.
    body: Vec<u8>,
    series: Vec<WireSeries>,
    /// Every series' samples, in request order.
    samples: Vec<Sample>,
    pub types: Vec<(String, MetricType)>,
}

/// One `TimeSeries` message: where it and its label fields are in the body,
/// and which of the request's samples are its.
struct WireSeries {
    message: Range<usize>,
    /// The label fields as one run of bytes, when they are one (every sender
    /// writes labels before samples): the series' key for `append_keyed`.
    key: Option<Range<usize>>,
    samples: Range<usize>,
}

impl Decoded {
    /// Every series for `Storage::append_keyed`, by its label bytes.
    pub fn keyed(&self) -> Vec<KeyedAppend<'_>> {
        self.series
            .iter()
            .map(|s| KeyedAppend {
                key: s.key.clone().map(|key| &self.body[key]),
                samples: &self.samples[s.samples.clone()],
            })
            .collect()
    }

    /// The labels of series `index`, decoded and validated. `decode` left
    /// them as bytes: most requests name series the storage knows by them.
    pub fn labels(&self, index: usize, limits: &IngestLimits) -> Result<Labels, RemoteWriteError> {
        let message = &self.body[self.series[index].message.clone()];
        decode_labels(index, message, limits)
    }

    /// Every series with its labels decoded, for `Storage::append`.
    pub fn appends(&self, limits: &IngestLimits) -> Result<Vec<Append>, RemoteWriteError> {
        (0..self.series.len())
            .map(|i| {
                Ok(Append {
                    labels: self.labels(i, limits)?,
                    samples: self.samples[self.series[i].samples.clone()].to_vec(),
                })
            })
            .collect()
    }

    /// The series of the request's `sample`th sample (counted across series).
    pub fn series_of_sample(&self, sample: usize) -> Option<usize> {
        self.series.iter().position(|s| s.samples.contains(&sample))
    }

    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }
}

/// Decompresses and decodes a request body, checking samples' times. The
/// labels stay undecoded (see [`Decoded::labels`]): the storage decodes
/// those of series it does not know, and any invalid one fails the whole
/// request before anything is stored.
///
/// The protobuf is read in place by [`Wire`] rather than by the `prost`
/// types above: those give every label two reference-counted `Bytes` and
/// every series its own vectors, which made decoding a third of the server's
/// CPU under remote_write load. The types are kept to encode (tests,
/// benchmark) and to check this reader against.
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

    let mut series = Vec::new();
    let mut samples = Vec::new();
    let mut types = Vec::new();
    let mut request = Wire(&raw);
    while let Some((tag, field)) = request.field()? {
        match (tag, field) {
            (1, Field::Bytes(message)) => {
                let index = series.len();
                let first = samples.len();
                let key = decode_samples(index, message, &mut samples, now_ms, limits)?;
                let at = offset_in(&raw, message);
                series.push(WireSeries {
                    message: at..at + message.len(),
                    key: key.map(|key| at + key.start..at + key.end),
                    samples: first..samples.len(),
                });
                if samples.len() > limits.max_metrics_per_request * 4 {
                    return Err(RemoteWriteError::Invalid {
                        index,
                        message: format!(
                            "more than {} samples in one request",
                            limits.max_metrics_per_request * 4
                        ),
                    });
                }
            }
            (3, Field::Bytes(metadata)) => {
                let m = <MetricMetadata as prost::Message>::decode(metadata)
                    .map_err(|e| RemoteWriteError::Protobuf(e.to_string()))?;
                let kind = match m.kind {
                    1 => MetricType::Counter,
                    2 => MetricType::Gauge,
                    3 => MetricType::Histogram,
                    _ => continue,
                };
                types.push((m.metric_family_name, kind));
            }
            (1 | 3, _) => return Err(wire_error("WriteRequest field of the wrong wire type")),
            _ => {}
        }
    }
    Ok(Decoded {
        body: raw,
        series,
        samples,
        types,
    })
}

/// Where `inner`, a slice of `outer`, starts in it.
fn offset_in(outer: &[u8], inner: &[u8]) -> usize {
    inner.as_ptr() as usize - outer.as_ptr() as usize
}

/// Reads one `TimeSeries` message's samples into `samples`, checking their
/// times, and returns where its label fields are, if they are one run.
fn decode_samples(
    index: usize,
    message: &[u8],
    samples: &mut Vec<Sample>,
    now_ms: i64,
    limits: &IngestLimits,
) -> Result<Option<Range<usize>>, RemoteWriteError> {
    let mut run: Option<Range<usize>> = None;
    let mut split = false;
    let mut fields = Wire(message);
    loop {
        let start = message.len() - fields.0.len();
        let Some((tag, field)) = fields.field()? else {
            break;
        };
        let end = message.len() - fields.0.len();
        match (tag, field) {
            (1, Field::Bytes(_)) => match &mut run {
                None => run = Some(start..end),
                Some(run) if run.end == start => run.end = end,
                Some(_) => split = true,
            },
            (2, Field::Bytes(sample)) => {
                let mut s = Sample { t: 0, v: 0.0 };
                let mut sample = Wire(sample);
                while let Some((tag, field)) = sample.field()? {
                    match (tag, field) {
                        (1, Field::Fixed64(bits)) => s.v = f64::from_bits(bits),
                        // int64 is the two's complement in a varint.
                        (2, Field::Varint(t)) => s.t = t as i64,
                        (1 | 2, _) => {
                            return Err(wire_error("Sample field of the wrong wire type"));
                        }
                        _ => {}
                    }
                }
                check_time(index, s.t, now_ms, limits)?;
                samples.push(s);
            }
            (4, _) => {
                return Err(RemoteWriteError::Invalid {
                    index,
                    message: "native histograms are not supported; send classic _bucket series"
                        .into(),
                });
            }
            (1 | 2, _) => return Err(wire_error("TimeSeries field of the wrong wire type")),
            _ => {}
        }
    }
    Ok(run.filter(|_| !split))
}

/// One `TimeSeries` message's labels, validated.
fn decode_labels(
    index: usize,
    message: &[u8],
    limits: &IngestLimits,
) -> Result<Labels, RemoteWriteError> {
    let invalid = |message: &str| RemoteWriteError::Invalid {
        index,
        message: message.into(),
    };
    let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(8);
    let mut fields = Wire(message);
    while let Some((tag, field)) = fields.field()? {
        let (1, Field::Bytes(label)) = (tag, field) else {
            continue;
        };
        let (mut name, mut value): (&[u8], &[u8]) = (b"", b"");
        let mut label = Wire(label);
        while let Some((tag, field)) = label.field()? {
            match (tag, field) {
                (1, Field::Bytes(bytes)) => name = bytes,
                (2, Field::Bytes(bytes)) => value = bytes,
                (1 | 2, _) => return Err(wire_error("Label field of the wrong wire type")),
                _ => {}
            }
        }
        match (std::str::from_utf8(name), std::str::from_utf8(value)) {
            (Ok(name), Ok(value)) => pairs.push((name, value)),
            _ => return Err(invalid("label name or value is not UTF-8")),
        }
    }
    let with_value = pairs.iter().filter(|(_, v)| !v.is_empty()).count();
    let labels = Labels::new(pairs);
    if labels.len() != with_value {
        return Err(invalid("duplicate label name"));
    }
    check_labels(index, &labels, limits)?;
    Ok(labels)
}

fn wire_error(message: &str) -> RemoteWriteError {
    RemoteWriteError::Protobuf(message.into())
}

/// A protobuf field's value, by wire type.
enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32,
}

/// Reads the fields of one protobuf message in place. Only the wire format
/// (keys, varints, fixed and length-delimited values) is known here; what
/// each field means is up to the caller, which skips fields it does not know.
struct Wire<'a>(&'a [u8]);

impl<'a> Wire<'a> {
    /// The next field number and value, `None` at the end of the message.
    fn field(&mut self) -> Result<Option<(u64, Field<'a>)>, RemoteWriteError> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let tag = key >> 3;
        if tag == 0 {
            return Err(wire_error("field number 0"));
        }
        let field = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 => Field::Fixed64(u64::from_le_bytes(self.take::<8>()?)),
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len)
                    .ok()
                    .filter(|&len| len <= self.0.len())
                    .ok_or_else(|| wire_error("a length runs past the end of the message"))?;
                let (bytes, rest) = self.0.split_at(len);
                self.0 = rest;
                Field::Bytes(bytes)
            }
            5 => {
                self.take::<4>()?;
                Field::Fixed32
            }
            _ => return Err(wire_error("unknown or group wire type")),
        };
        Ok(Some((tag, field)))
    }

    fn varint(&mut self) -> Result<u64, RemoteWriteError> {
        let mut value = 0u64;
        for (i, &byte) in self.0.iter().enumerate().take(10) {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.0 = &self.0[i + 1..];
                return Ok(value);
            }
        }
        Err(wire_error("a varint is truncated or longer than 10 bytes"))
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], RemoteWriteError> {
        let (bytes, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or_else(|| wire_error("a fixed-size value runs past the end of the message"))?;
        self.0 = rest;
        Ok(*bytes)
    }
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
        let limits = IngestLimits::default();
        let appends = decode(&body, 10_000, &limits)
            .and_then(|d| d.appends(&limits))
            .unwrap();
        assert_eq!(appends[0].samples.len(), 2);
        assert_eq!(appends[0].labels, labels);
        assert_eq!(appends[0].samples[1].v.to_bits(), samples[1].v.to_bits());
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
            decode(&bad, 10, &limits).and_then(|d| d.appends(&limits)),
            Err(RemoteWriteError::Invalid { index: 0, .. })
        ));
    }

    fn compress(raw: &[u8]) -> Vec<u8> {
        snap::raw::Encoder::new().compress_vec(raw).unwrap()
    }

    #[test]
    fn unknown_fields_are_skipped_and_bad_wire_data_refused() {
        let limits = IngestLimits::default();
        let body = snap::raw::Decoder::new()
            .decompress_vec(&encode(&[(
                Labels::new([(METRIC_NAME, "up")]),
                vec![Sample { t: 5, v: 2.5 }],
            )]))
            .unwrap();
        // Field 9 as a varint, field 10 as fixed32, field 11 as fixed64, at
        // the top level: a newer sender's fields.
        let mut extended = body.clone();
        extended.extend_from_slice(&[9 << 3, 0x96, 0x01, (10 << 3) | 5, 1, 2, 3, 4]);
        extended.extend_from_slice(&[(11 << 3) | 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        let appends = decode(&compress(&extended), 10, &limits)
            .and_then(|d| d.appends(&limits))
            .unwrap();
        assert_eq!(appends.len(), 1);
        assert_eq!(appends[0].samples, vec![Sample { t: 5, v: 2.5 }]);
        for broken in [
            &body[..body.len() - 1],             // a length past the end
            &[0x0a, 0xff, 0xff][..],             // a truncated varint
            &[0x0b][..],                         // a group (wire type 3)
            &[0x00, 0x00][..],                   // field number 0
            &[0x09, 0, 0, 0, 0, 0, 0, 0, 0][..], // timeseries as fixed64
        ] {
            assert!(
                matches!(
                    decode(&compress(broken), 10, &limits),
                    Err(RemoteWriteError::Protobuf(_))
                ),
                "{broken:?}"
            );
        }
    }

    proptest::proptest! {
        /// The in-place reader agrees with prost, which encoded the request.
        #[test]
        fn reads_what_prost_writes(
            series in proptest::collection::vec(
                (
                    proptest::collection::btree_map("[a-z][a-z0-9_]{0,8}", "\\PC{0,12}", 0..5),
                    proptest::collection::vec((proptest::num::i64::ANY, proptest::num::u64::ANY), 0..5),
                ),
                0..6,
            )
        ) {
            let series: Vec<(Labels, Vec<Sample>)> = series
                .into_iter()
                .map(|(labels, samples)| {
                    let labels = Labels::new(labels.into_iter().chain([(METRIC_NAME.to_string(), "m".to_string())]));
                    let samples = samples.into_iter().map(|(t, bits)| Sample { t, v: f64::from_bits(bits) }).collect();
                    (labels, samples)
                })
                .collect();
            let limits = IngestLimits {
                max_future_ms: i64::MAX,
                ..IngestLimits::default()
            };
            let appends = decode(&encode(&series), 0, &limits).and_then(|d| d.appends(&limits)).unwrap();
            proptest::prop_assert_eq!(appends.len(), series.len());
            for (append, (labels, samples)) in appends.iter().zip(&series) {
                proptest::prop_assert_eq!(&append.labels, labels);
                let bits = |s: &[Sample]| s.iter().map(|s| (s.t, s.v.to_bits())).collect::<Vec<_>>();
                proptest::prop_assert_eq!(bits(&append.samples), bits(samples));
            }
        }

        /// Whatever the bytes, an answer and never a panic.
        #[test]
        fn any_body_is_decoded_or_refused(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let limits = IngestLimits::default();
            let _ = decode(&compress(&raw), 0, &limits).and_then(|d| d.appends(&limits));
        }
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
        let limits = IngestLimits::default();
        match decode(&body, 10, &limits).and_then(|d| d.appends(&limits)) {
            Err(RemoteWriteError::Invalid { index: 1, message }) => {
                assert!(message.contains("UTF-8"), "{message}")
            }
            other => panic!("expected series 1 to be refused, got {:?}", other.err()),
        }
    }

    /// A series' key is its label fields as sent: the same labels sent alike
    /// give the same key, and labels split by a sample give none.
    #[test]
    fn a_series_is_keyed_by_its_label_fields_when_they_are_one_run() {
        let limits = IngestLimits::default();
        let up = |job: &str| Labels::new([(METRIC_NAME, "up"), ("job", job)]);
        let one = vec![Sample { t: 5, v: 1.0 }];
        let body = encode(&[
            (up("a"), one.clone()),
            (up("b"), one.clone()),
            (up("a"), vec![Sample { t: 6, v: 2.0 }]),
        ]);
        let decoded = decode(&body, 10, &limits).unwrap();
        let keyed = decoded.keyed();
        let keys: Vec<&[u8]> = keyed.iter().map(|k| k.key.unwrap()).collect();
        assert_eq!(keys[0], keys[2]);
        assert_ne!(keys[0], keys[1]);
        assert!(keys[1].ends_with(b"b"), "{:?}", keys[1]);
        assert_eq!(keyed[2].samples, [Sample { t: 6, v: 2.0 }]);
        assert_eq!(decoded.labels(1, &limits).unwrap(), up("b"));

        // A sample between the two label fields: still decoded, not keyed.
        let raw = prost::Message::encode_to_vec(&TimeSeries {
            labels: Vec::new(),
            samples: vec![PbSample {
                value: 1.0,
                timestamp: 5,
            }],
            histograms: Vec::new(),
        });
        let label = |name: &'static [u8], value: &'static [u8]| {
            prost::Message::encode_length_delimited_to_vec(&Label {
                name: Bytes::from_static(name),
                value: Bytes::from_static(value),
            })
        };
        let mut series = vec![0x0a];
        series.extend(label(b"__name__", b"up"));
        series.extend(&raw);
        series.push(0x0a);
        series.extend(label(b"job", b"c"));
        let mut request = vec![0x0a, series.len() as u8];
        request.extend(&series);
        let decoded = decode(&compress(&request), 10, &limits).unwrap();
        assert_eq!(decoded.keyed()[0].key, None);
        assert_eq!(decoded.labels(0, &limits).unwrap(), up("c"));
    }
}
