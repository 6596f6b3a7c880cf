//! A tower layer for axum services: `http_requests_total{method,route,status}`
//! and `http_request_duration_seconds{method,route}`. The route is axum's
//! matched route template (`/users/{id}`), never the raw path, so a path
//! parameter cannot explode the number of series; unmatched requests are
//! labelled `route="unmatched"`. Add it with `Router::layer`.

use crate::client::Client;
use axum::extract::MatchedPath;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

#[derive(Clone)]
pub struct HttpMetricsLayer {
    client: Client,
}

impl HttpMetricsLayer {
    pub fn new(client: &Client) -> Self {
        HttpMetricsLayer {
            client: client.clone(),
        }
    }
}

impl<S> tower_layer::Layer<S> for HttpMetricsLayer {
    type Service = HttpMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpMetrics {
            inner,
            client: self.client.clone(),
        }
    }
}

#[derive(Clone)]
pub struct HttpMetrics<S> {
    inner: S,
    client: Client,
}

impl<S, B, R> tower_service::Service<http::Request<B>> for HttpMetrics<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = request.method().as_str().to_string();
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
        let client = self.client.clone();
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let result = response.await;
            let status = match &result {
                Ok(r) => r.status().as_u16().to_string(),
                Err(_) => "error".to_string(),
            };
            let labels = [("method", method.as_str()), ("route", route.as_str())];
            client
                .histogram("http_request_duration_seconds", &labels)
                .observe(started.elapsed().as_secs_f64());
            client
                .counter(
                    "http_requests_total",
                    &[labels[0], labels[1], ("status", status.as_str())],
                )
                .inc();
            result
        })
    }
}
