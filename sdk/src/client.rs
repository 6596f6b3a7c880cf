//! The client: where an app gets metric handles, and the background task that
//! snapshots them every flush interval and hands the samples to the transport.

use crate::registry::{AtomicF64, HistogramState, Labels, Registry, State};
use crate::registry::{is_valid_label_name, is_valid_metric_name};
use crate::transport::{Transport, TransportConfig};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// How long `shutdown` keeps retrying before it gives up on pending samples.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

/// Builds a [`Client`]: a service name and the server's address are required,
/// the rest has defaults.
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    service: String,
    flush_interval: Duration,
    process_interval: Option<Duration>,
    transport: TransportConfig,
}

impl ClientBuilder {
    /// Sent with every request, as `Authorization: Bearer <key>`.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.transport.api_key = Some(key.into());
        self
    }

    /// How often metrics are sampled and sent (default 5 s).
    pub fn flush_interval(mut self, every: Duration) -> Self {
        self.flush_interval = every.max(Duration::from_millis(10));
        self
    }

    /// Samples per request (default 1,000).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.transport.batch_size = n.max(1);
        self
    }

    /// Samples kept while the server is unreachable (default 100,000); the
    /// oldest are dropped beyond it, and counted in [`Report::dropped`].
    pub fn max_buffer(mut self, n: usize) -> Self {
        self.transport.max_buffer = n.max(1);
        self
    }

    /// Time allowed for one request (default 10 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.transport.request_timeout = timeout;
        self
    }

    /// First retry delay (default 200 ms); it doubles per attempt, with jitter.
    pub fn initial_backoff(mut self, delay: Duration) -> Self {
        self.transport.initial_backoff = delay;
        self
    }

    /// Also report process metrics (memory, CPU, threads, open files) and
    /// tokio runtime figures, every `every` (15 s is usual).
    pub fn process_metrics(mut self, every: Duration) -> Self {
        self.process_interval = Some(every);
        self
    }

    /// Starts the client's background task; call inside a tokio runtime.
    pub fn build(self) -> Client {
        let inner = Arc::new(Inner {
            service: self.service,
            registry: Registry::default(),
            transport: Transport::new(self.transport),
            stop: Notify::new(),
            invalid: Default::default(),
            tasks: Mutex::new(Vec::new()),
        });
        let flusher = tokio::spawn(run_flusher(inner.clone(), self.flush_interval));
        let mut tasks = vec![flusher];
        if let Some(every) = self.process_interval {
            tasks.push(tokio::spawn(run_process_metrics(
                Client {
                    inner: inner.clone(),
                },
                every,
            )));
        }
        *inner.tasks.lock().unwrap_or_else(|p| p.into_inner()) = tasks;
        Client { inner }
    }
}

struct Inner {
    service: String,
    registry: Registry,
    transport: Transport,
    stop: Notify,
    /// Metrics refused at registration (bad name or label); their handles do nothing.
    invalid: std::sync::atomic::AtomicU64,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// A TinyObs client. Cheap to clone; all clones share the metrics and the
/// background task.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// What happened to the samples of a client so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub sent: u64,
    /// Lost to a full buffer or refused by the server as invalid.
    pub dropped: u64,
    /// Still buffered (the server was unreachable until the deadline).
    pub pending: u64,
    pub retries: u64,
    /// Metrics refused at registration for a bad name or label.
    pub invalid_metrics: u64,
}

impl Client {
    /// A client for `service` (added to every series as the `service` label)
    /// sending to `endpoint`, e.g. `http://127.0.0.1:8080`.
    pub fn builder(service: impl Into<String>, endpoint: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            service: service.into(),
            flush_interval: Duration::from_secs(5),
            process_interval: None,
            transport: TransportConfig {
                endpoint: endpoint.into(),
                api_key: None,
                batch_size: 1000,
                max_buffer: 100_000,
                request_timeout: Duration::from_secs(10),
                initial_backoff: Duration::from_millis(200),
                max_backoff: Duration::from_secs(30),
            },
        }
    }

    /// A counter: it only goes up (cumulative, as Prometheus expects).
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> Counter {
        let state = self.register(name, labels, || State::Counter(Arc::default()));
        Counter(state.and_then(|s| match s {
            State::Counter(v) => Some(v),
            _ => None,
        }))
    }

    /// A gauge: a value that goes up and down.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Gauge {
        let state = self.register(name, labels, || State::Gauge(Arc::default()));
        Gauge(state.and_then(|s| match s {
            State::Gauge(v) => Some(v),
            _ => None,
        }))
    }

    /// A histogram with the default buckets ([`crate::DEFAULT_BUCKETS`]).
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Histogram {
        self.histogram_with_buckets(name, labels, &crate::DEFAULT_BUCKETS)
    }

    /// A histogram with these bucket upper bounds; `+Inf` is always added.
    /// A series keeps the buckets it was first registered with.
    pub fn histogram_with_buckets(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        buckets: &[f64],
    ) -> Histogram {
        let state = self.register(name, labels, || {
            State::Histogram(Arc::new(HistogramState::new(buckets)))
        });
        Histogram(state.and_then(|s| match s {
            State::Histogram(h) => Some(h),
            _ => None,
        }))
    }

    /// Validates and registers; a bad name or label gives `None` (a handle
    /// that does nothing) and a warning, never a panic in the host app.
    fn register(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        make: impl FnOnce() -> State,
    ) -> Option<State> {
        let bad_label = labels.iter().find(|(k, _)| !is_valid_label_name(k));
        if !is_valid_metric_name(name) || bad_label.is_some() {
            tracing::warn!("TinyObs: metric {name:?} ignored: invalid name or label {bad_label:?}");
            self.inner.invalid.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let mut set: Labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        set.entry("service".into())
            .or_insert_with(|| self.inner.service.clone());
        let state = self.inner.registry.get_or_insert(name, set, make);
        if state.is_none() {
            tracing::warn!("TinyObs: metric {name:?} already has another type; ignored");
            self.inner.invalid.fetch_add(1, Ordering::Relaxed);
        }
        state
    }

    /// Samples every metric now and sends all that is pending, retrying for
    /// up to `deadline`.
    pub async fn flush(&self, deadline: Duration) -> Report {
        self.inner.sample_now();
        let _ = self
            .inner
            .transport
            .flush(tokio::time::Instant::now() + deadline)
            .await;
        self.report()
    }

    /// Stops the background tasks, takes a last sample of every metric and
    /// sends everything pending (retrying for up to 10 s). What could not be
    /// sent is in [`Report::pending`].
    pub async fn shutdown(&self) -> Report {
        self.inner.stop.notify_waiters();
        let tasks =
            std::mem::take(&mut *self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
        self.flush(SHUTDOWN_DEADLINE).await
    }

    pub fn report(&self) -> Report {
        let counts = &self.inner.transport.counts;
        Report {
            sent: counts.sent.load(Ordering::Relaxed),
            dropped: counts.dropped.load(Ordering::Relaxed),
            pending: self.inner.transport.pending() as u64,
            retries: counts.retries.load(Ordering::Relaxed),
            invalid_metrics: self.inner.invalid.load(Ordering::Relaxed),
        }
    }
}

impl Inner {
    fn sample_now(&self) {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        self.transport.enqueue(self.registry.snapshot(now_ms));
    }
}

/// Every `every`: sample the metrics, send. A failed send keeps its samples
/// for the next round (the buffer is bounded).
async fn run_flusher(inner: Arc<Inner>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = inner.stop.notified() => return,
        }
        inner.sample_now();
        if let Err(e) = inner
            .transport
            .flush(tokio::time::Instant::now() + every)
            .await
        {
            tracing::debug!("TinyObs: {e}; will retry on the next flush");
        }
    }
}

/// Process and tokio runtime figures, as gauges (and one counter) updated
/// every `every`.
async fn run_process_metrics(client: Client, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    loop {
        ticker.tick().await;
        for (name, value, counter) in crate::process::read().named() {
            match counter {
                true => client.counter(name, &[]).set_total(value),
                false => client.gauge(name, &[]).set(value),
            }
        }
        let runtime = tokio::runtime::Handle::current().metrics();
        client
            .gauge("tokio_workers", &[])
            .set(runtime.num_workers() as f64);
        client
            .gauge("tokio_alive_tasks", &[])
            .set(runtime.num_alive_tasks() as f64);
        client
            .gauge("tokio_global_queue_depth", &[])
            .set(runtime.global_queue_depth() as f64);
    }
}

/// A counter handle. Cheap to clone; updates are atomic.
#[derive(Clone, Debug, Default)]
pub struct Counter(Option<Arc<AtomicF64>>);

impl Counter {
    pub fn inc(&self) {
        self.inc_by(1.0);
    }

    /// Adds `v`; a negative or NaN `v` is ignored (counters only go up).
    pub fn inc_by(&self, v: f64) {
        if let Some(c) = &self.0
            && v >= 0.0
        {
            c.add(v);
        }
    }

    /// Sets the running total, for counts kept elsewhere (CPU seconds).
    pub fn set_total(&self, total: f64) {
        if let Some(c) = &self.0 {
            c.set(total);
        }
    }

    pub fn get(&self) -> f64 {
        self.0.as_ref().map_or(0.0, |c| c.get())
    }
}

/// A gauge handle. Cheap to clone; updates are atomic.
#[derive(Clone, Debug, Default)]
pub struct Gauge(Option<Arc<AtomicF64>>);

impl Gauge {
    pub fn set(&self, v: f64) {
        if let Some(g) = &self.0 {
            g.set(v);
        }
    }

    pub fn add(&self, delta: f64) {
        if let Some(g) = &self.0 {
            g.add(delta);
        }
    }

    pub fn get(&self) -> f64 {
        self.0.as_ref().map_or(0.0, |g| g.get())
    }
}

/// A histogram handle. Cheap to clone; updates are atomic.
#[derive(Clone, Debug, Default)]
pub struct Histogram(Option<Arc<HistogramState>>);

impl Histogram {
    /// Counts `v` in its bucket (`+Inf` above the last bound) and adds it to the sum.
    pub fn observe(&self, v: f64) {
        if let Some(h) = &self.0 {
            h.observe(v);
        }
    }
}
