//! Load the demo puts on itself: requests at about `rps` per second to its
//! own endpoints, delays shaped like real latencies, and a wandering number
//! of active users.

use std::net::SocketAddr;
use std::time::Duration;
use tinyobs_sdk::Client;

/// Sleeps for a log-normally distributed time around `typical` seconds, the
/// long-tailed shape of real latencies.
pub async fn work(typical: f64) {
    // Box-Muller: a standard normal from two uniforms.
    let (u1, u2) = (fastrand::f64().max(1e-12), fastrand::f64());
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    let seconds = (typical * (0.6 * z).exp()).min(5.0);
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
}

/// Sends requests to the demo's own API, each in its own task.
pub async fn drive(addr: SocketAddr, rps: f64) {
    let http = reqwest::Client::new();
    let base = format!("http://{addr}");
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rps));
    loop {
        ticker.tick().await;
        let (method, path) = match fastrand::u32(0..100) {
            0..35 => ("GET", "/api/users".to_string()),
            35..55 => ("GET", format!("/api/users/{}", fastrand::u32(1..500))),
            55..75 => ("GET", "/api/products".to_string()),
            75..90 => ("GET", "/api/orders".to_string()),
            _ => ("POST", "/api/orders".to_string()),
        };
        let request = match method {
            "POST" => http.post(format!("{base}{path}")),
            _ => http.get(format!("{base}{path}")),
        };
        tokio::spawn(async move {
            let _ = request.timeout(Duration::from_secs(10)).send().await;
        });
    }
}

/// A random walk of signed-in users, every second.
pub async fn active_users(client: Client) {
    let users = client.gauge("active_users", &[]);
    let mut value: f64 = 120.0;
    loop {
        value = (value + fastrand::f64() * 10.0 - 5.0).clamp(20.0, 400.0);
        users.set(value.round());
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
