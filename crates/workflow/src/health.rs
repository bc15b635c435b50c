//! Liveness, readiness and metrics over HTTP: `/healthz`, `/readyz`, `/metrics`.
//!
//! Liveness answers 200 while the process serves HTTP at all. Readiness answers 200 only
//! when the client is connected, the worker is polling (for roles that run one) and the
//! process is not shutting down; otherwise 503 with the checks that failed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::metrics::Metrics;

/// What readiness depends on. Cheap to clone; shared by the runtime's parts.
#[derive(Clone)]
pub struct Readiness {
    inner: Arc<ReadinessInner>,
}

struct ReadinessInner {
    needs_worker: bool,
    connected: AtomicBool,
    worker_polling: AtomicBool,
    shutting_down: AtomicBool,
    metrics: Metrics,
}

#[derive(Serialize)]
struct ReadinessReport {
    ready: bool,
    connected: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    worker_polling: Option<bool>,
    shutting_down: bool,
}

impl Readiness {
    pub(crate) fn new(needs_worker: bool, metrics: Metrics) -> Self {
        Self {
            inner: Arc::new(ReadinessInner {
                needs_worker,
                connected: AtomicBool::new(false),
                worker_polling: AtomicBool::new(false),
                shutting_down: AtomicBool::new(false),
                metrics,
            }),
        }
    }

    pub(crate) fn set_connected(&self, value: bool) {
        self.inner.connected.store(value, Ordering::SeqCst);
        self.publish();
    }

    pub(crate) fn set_worker_polling(&self, value: bool) {
        self.inner.worker_polling.store(value, Ordering::SeqCst);
        self.publish();
    }

    pub(crate) fn set_shutting_down(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        self.publish();
    }

    /// Whether the process is ready to take traffic.
    pub fn is_ready(&self) -> bool {
        self.report().ready
    }

    fn publish(&self) {
        self.inner.metrics.set_ready(self.is_ready());
    }

    fn report(&self) -> ReadinessReport {
        let i = &self.inner;
        let connected = i.connected.load(Ordering::SeqCst);
        let worker_polling = i
            .needs_worker
            .then(|| i.worker_polling.load(Ordering::SeqCst));
        let shutting_down = i.shutting_down.load(Ordering::SeqCst);
        ReadinessReport {
            ready: connected && worker_polling.unwrap_or(true) && !shutting_down,
            connected,
            worker_polling,
            shutting_down,
        }
    }
}

#[derive(Clone)]
struct HealthState {
    readiness: Readiness,
    metrics: Metrics,
}

/// The health and metrics routes, to serve on their own port or merge into an API router.
pub fn router(readiness: Readiness, metrics: Metrics) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(HealthState { readiness, metrics })
}

async fn readyz(State(state): State<HealthState>) -> impl IntoResponse {
    let report = state.readiness.report();
    let code = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(report))
}

async fn metrics_text(State(state): State<HealthState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// Probes `http://127.0.0.1:<port><path>` once and says whether it answered 200. Container
/// health checks use it so that images need no curl.
pub async fn probe(port: u16, path: &str) -> bool {
    let attempt = async {
        let mut stream =
            tokio::net::TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).await?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await?;
        Ok::<bool, std::io::Error>(
            head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200"),
        )
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(3), attempt).await,
        Ok(Ok(true))
    )
}

/// The `probe` subcommand of a binary: probes this process's own `/healthz` on the port of
/// `health.listen` and maps the answer to an exit code.
pub fn probe_command(config: &crate::Config) -> std::process::ExitCode {
    let port = config.health.listen.port();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(_) => return std::process::ExitCode::FAILURE,
    };
    if runtime.block_on(probe(port, "/healthz")) {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn get(router: &Router, path: &str) -> (StatusCode, String) {
        let response = router
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn readiness_follows_connection_worker_and_shutdown() {
        let metrics = Metrics::new();
        let readiness = Readiness::new(true, metrics.clone());
        let router = router(readiness.clone(), metrics);

        assert_eq!(get(&router, "/healthz").await.0, StatusCode::OK);
        let (status, body) = get(&router, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("\"connected\":false"), "{body}");

        readiness.set_connected(true);
        assert_eq!(
            get(&router, "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE,
            "worker not polling yet"
        );
        readiness.set_worker_polling(true);
        assert_eq!(get(&router, "/readyz").await.0, StatusCode::OK);
        let (_, metrics_text) = get(&router, "/metrics").await;
        assert!(metrics_text.contains("workflow_ready 1"), "{metrics_text}");

        readiness.set_shutting_down();
        let (status, body) = get(&router, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("\"shutting_down\":true"), "{body}");
    }

    #[tokio::test]
    async fn an_api_only_role_is_ready_without_a_worker() {
        let metrics = Metrics::new();
        let readiness = Readiness::new(false, metrics.clone());
        readiness.set_connected(true);
        let router = router(readiness, metrics.clone());
        let (status, body) = get(&router, "/readyz").await;
        assert_eq!(status, StatusCode::OK);
        assert!(!body.contains("worker_polling"), "{body}");

        metrics.record_client_call("start", "ok", Duration::from_millis(3));
        let (_, text) = get(&router, "/metrics").await;
        assert!(
            text.contains("workflow_client_requests_total{operation=\"start\",outcome=\"ok\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("workflow_client_request_duration_seconds_count{operation=\"start\"} 1"),
            "{text}"
        );
    }
}
