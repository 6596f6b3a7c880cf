//! A pretend database: a pool of connections (a semaphore) and queries that
//! take a while and sometimes fail, reported through the `metrics` crate as
//! the Database template expects: `db_query_duration_seconds{operation}`,
//! `db_queries_total`, `db_errors_total` and `db_pool_connections{state}`.

use axum::http::StatusCode;
use std::sync::Arc;
use tokio::sync::Semaphore;

#[derive(Clone)]
pub struct Db {
    pool: Arc<Semaphore>,
    size: usize,
}

impl Db {
    pub fn new(size: usize) -> Self {
        Db {
            pool: Arc::new(Semaphore::new(size)),
            size,
        }
    }

    fn report_pool(&self) {
        let idle = self.pool.available_permits();
        metrics::gauge!("db_pool_connections", "state" => "idle").set(idle as f64);
        metrics::gauge!("db_pool_connections", "state" => "in_use").set((self.size - idle) as f64);
    }

    /// Runs one query of `operation`; about 1% fail.
    pub async fn query(&self, operation: &'static str) -> Result<(), StatusCode> {
        let started = std::time::Instant::now();
        let _connection = self
            .pool
            .acquire()
            .await
            .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
        self.report_pool();
        let typical = match operation {
            "select" => 0.004,
            "insert" => 0.012,
            _ => 0.008,
        };
        crate::traffic::work(typical).await;
        metrics::histogram!("db_query_duration_seconds", "operation" => operation)
            .record(started.elapsed().as_secs_f64());
        metrics::counter!("db_queries_total", "operation" => operation).increment(1);
        drop(_connection);
        self.report_pool();
        if fastrand::f64() < 0.01 {
            metrics::counter!("db_errors_total", "operation" => operation).increment(1);
            return Err(StatusCode::INTERNAL_SERVER_ERROR);
        }
        Ok(())
    }
}
