//! `tinyobs-example`: a small shop API (users, orders, products) that reports
//! to TinyObs the ways a real app would: the SDK's tower layer for requests,
//! the `metrics` crate (through the SDK's recorder) for its simulated
//! database, a gauge of active users, and process metrics. It drives traffic
//! at itself, so the dashboard has live data within seconds.

mod db;
mod traffic;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use clap::Parser;
use db::Db;
use std::net::SocketAddr;
use std::time::Duration;
use tinyobs_sdk::{Client, HttpMetricsLayer};

#[derive(Parser)]
#[command(version, about = "A demo service that reports to TinyObs")]
struct Cli {
    /// The TinyObs server to report to.
    #[arg(
        long,
        env = "TINYOBS_ENDPOINT",
        default_value = "http://127.0.0.1:8080"
    )]
    endpoint: String,
    /// Where the demo API listens.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Requests per second the built-in traffic generator sends (0: none).
    #[arg(long, default_value_t = 20.0)]
    rps: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Warnings only: the SDK logs why a send failed, the demo itself is quiet.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .init();
    let cli = Cli::parse();
    let client = Client::builder("example", &cli.endpoint)
        .flush_interval(Duration::from_secs(5))
        .process_metrics(Duration::from_secs(15))
        .build();
    tinyobs_sdk::recorder::install(&client)
        .map_err(|_| anyhow::anyhow!("another metrics recorder is installed"))?;

    let app = axum::Router::new()
        .route("/api/users", get(list_users))
        .route("/api/users/{id}", get(get_user))
        .route("/api/orders", get(list_orders).post(create_order))
        .route("/api/products", get(list_products))
        .layer(HttpMetricsLayer::new(&client))
        .with_state(Db::new(10));
    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    let addr = listener.local_addr()?;
    println!(
        "tinyobs-example on http://{addr}, reporting to {}",
        cli.endpoint
    );

    if cli.rps > 0.0 {
        tokio::spawn(traffic::drive(addr, cli.rps));
    }
    tokio::spawn(traffic::active_users(client.clone()));
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    let report = client.shutdown().await;
    println!(
        "stopped: {} samples sent, {} dropped, {} still pending",
        report.sent, report.dropped, report.pending
    );
    Ok(())
}

type Answer = Result<String, StatusCode>;

/// About 2% of requests fail, as real services do.
fn maybe_fail() -> Result<(), StatusCode> {
    match fastrand::f64() < 0.02 {
        true => Err(StatusCode::INTERNAL_SERVER_ERROR),
        false => Ok(()),
    }
}

async fn list_users(State(db): State<Db>) -> Answer {
    traffic::work(0.02).await;
    db.query("select").await?;
    maybe_fail()?;
    Ok("[\"ada\",\"grace\"]".into())
}

async fn get_user(State(db): State<Db>, Path(id): Path<u32>) -> Answer {
    db.query("select").await?;
    maybe_fail()?;
    Ok(format!("{{\"id\":{id}}}"))
}

async fn list_orders(State(db): State<Db>) -> Answer {
    traffic::work(0.04).await;
    db.query("select").await?;
    maybe_fail()?;
    Ok("[]".into())
}

async fn create_order(State(db): State<Db>) -> Answer {
    db.query("insert").await?;
    db.query("update").await?;
    maybe_fail()?;
    Ok("{\"ok\":true}".into())
}

async fn list_products(State(db): State<Db>) -> Answer {
    traffic::work(0.01).await;
    db.query("select").await?;
    maybe_fail()?;
    Ok("[]".into())
}
