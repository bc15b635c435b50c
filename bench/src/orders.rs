//! Workload 5: the orders integration through its HTTP API, as a client would use it. On
//! `embedded` the target is the `orders-demo` binary (API, worker and engine in one
//! process); on the other targets the `orders-app` binary (API and worker) against a fresh
//! server. Every second order is above the approval threshold and is approved right after
//! it is placed; each order is timed from `POST /orders` until
//! `GET /orders/{id}/result` says it completed.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::args::Plan;
use crate::child::{Child, free_port, http_client, sibling_binary};
use crate::driver;
use crate::proc_stats::rss_mib;
use crate::table::Measurement;
use crate::targets::{self, Target, TargetKind};
use crate::workloads::Workload;

/// Orders of this amount or more wait for approval.
const APPROVAL_THRESHOLD_CENTS: u64 = 50_000;
/// An order that needs no approval, and one that does.
const SMALL_ORDER_CENTS: u64 = 1_000;
const LARGE_ORDER_CENTS: u64 = 100_000;
/// How long one `GET /orders/{id}/result` waits before it answers "not done yet".
const RESULT_WAIT: &str = "30s";
/// How long one order may take from placing to completion before the run fails.
const ORDER_DEADLINE: Duration = Duration::from_secs(180);
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Measures the orders flow on a fresh `kind` deployment.
pub(crate) async fn measure(kind: TargetKind, plan: Plan) -> anyhow::Result<Measurement> {
    let http = http_client()?;
    let mut deployment = Deployment::start(kind, &http).await?;
    let server = deployment.server_pid();
    let app = deployment.app.pid();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (idle_rss, _) = rss_mib(server);

    let api = deployment.api.clone();
    let run = |i| place_and_complete(&http, &api, i);
    let measured = driver::measured_batch(plan, run, &[&[server], &[app]], || {
        deployment.database_bytes()
    })
    .await;
    let batch = match measured {
        Ok(batch) => batch,
        Err(e) => {
            deployment.check_running()?;
            return Err(e);
        }
    };
    let (after_rss, peak_rss) = rss_mib(server);
    let m = Measurement::new(kind, Workload::Orders, plan, &batch.latencies, batch.wall)
        .cpu(batch.cpu[0], batch.cpu[1])
        .memory(
            deployment.ready.as_secs_f64() * 1000.0,
            idle_rss,
            peak_rss,
            after_rss,
        )
        .database(batch.db_growth);
    deployment.stop().await;
    Ok(m)
}

/// The orders binary and, unless it embeds its engine, the server it talks to.
struct Deployment {
    target: Option<Target>,
    app: Child,
    /// `http://127.0.0.1:PORT` of the orders API.
    api: String,
    /// The embedded engine's database, when the app embeds it.
    database: Option<PathBuf>,
    /// The server's ready time; for `orders-demo`, spawn until its `/readyz` answered.
    ready: Duration,
    _dir: tempfile::TempDir,
}

impl Deployment {
    async fn start(kind: TargetKind, http: &reqwest::Client) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let api_listen = format!("127.0.0.1:{}", free_port()?);
        let health_listen = format!("127.0.0.1:{}", free_port()?);
        let started = Instant::now();
        let (target, mut command, database) = match kind {
            TargetKind::Embedded | TargetKind::EmbeddedInProcess => {
                // The demo's own client reaches its engine in process either way; the
                // in-process target also turns the engine's listener off.
                let listen = match kind {
                    TargetKind::EmbeddedInProcess => "off",
                    _ => "127.0.0.1:0",
                };
                let mut command = Command::new(sibling_binary("orders-demo")?);
                command
                    .arg("--data-dir")
                    .arg(dir.path())
                    .env("WORKFLOW_CONSOLE_LISTEN", "off")
                    .env("WORKFLOW_ENGINE_LISTEN", listen);
                (None, command, Some(dir.path().join("engine.db")))
            }
            _ => {
                let target = Target::start(kind).await?;
                let mut command = Command::new(sibling_binary("orders-app")?);
                command
                    .env("TEMPORAL_ADDRESS", &target.address)
                    .env("ORDERS_LEDGER_PATH", dir.path().join("ledger.db"));
                (Some(target), command, None)
            }
        };
        command
            .env_remove("WORKFLOW_CONFIG")
            .env("RUST_LOG", "warn")
            .env("ORDERS_LISTEN", &api_listen)
            .env("WORKFLOW_HEALTH_LISTEN", &health_listen)
            .env(
                "ORDERS_APPROVAL_THRESHOLD_CENTS",
                APPROVAL_THRESHOLD_CENTS.to_string(),
            )
            .env("ORDERS_PAYMENT_FAILURE_RATE", "0")
            .env("WORKFLOW_MAX_CONCURRENT_WORKFLOW_TASKS", "100")
            .env("WORKFLOW_MAX_CONCURRENT_ACTIVITIES", "200")
            .env("WORKFLOW_REQUEST_TIMEOUT", "60s")
            .env("WORKFLOW_SHUTDOWN_GRACE_PERIOD", "5s");
        let name = if target.is_some() {
            "orders-app"
        } else {
            "orders-demo"
        };
        let mut app = Child::spawn(name, command, dir.path())?;
        app.wait_ready(
            http,
            &format!("http://{health_listen}/readyz"),
            READY_TIMEOUT,
        )
        .await?;
        let ready = match &target {
            Some(target) => target.ready,
            None => started.elapsed(),
        };
        Ok(Self {
            target,
            app,
            api: format!("http://{api_listen}"),
            database,
            ready,
            _dir: dir,
        })
    }

    /// The process that runs the engine: the server, or the demo binary.
    fn server_pid(&self) -> u32 {
        match &self.target {
            Some(target) => target.pid(),
            None => self.app.pid(),
        }
    }

    fn database_bytes(&self) -> u64 {
        match (&self.target, &self.database) {
            (Some(target), _) => target.database_bytes(),
            (None, Some(db)) => targets::database_bytes(db),
            (None, None) => 0,
        }
    }

    /// An error with the last output of whichever process has exited.
    fn check_running(&mut self) -> anyhow::Result<()> {
        self.app.check_running()?;
        match &mut self.target {
            Some(target) => target.check_running(),
            None => Ok(()),
        }
    }

    async fn stop(self) {
        drop(self.app);
        if let Some(target) = self.target {
            target.stop().await;
        }
    }
}

/// Places order number `i`, approves it if it needs approval, and waits until it completed.
async fn place_and_complete(http: &reqwest::Client, api: &str, i: u64) -> anyhow::Result<()> {
    let order_id = format!("b{}", uuid::Uuid::new_v4().simple());
    let amount_cents = if i % 2 == 1 {
        LARGE_ORDER_CENTS
    } else {
        SMALL_ORDER_CENTS
    };
    let order = workflow_testkit::orders::order(&order_id, "bench", amount_cents);
    let url = format!("{api}/orders");
    expect(
        http.post(&url).json(&order),
        "POST",
        &url,
        StatusCode::CREATED,
    )
    .await?;
    if amount_cents >= APPROVAL_THRESHOLD_CENTS {
        let url = format!("{api}/orders/{order_id}/approve");
        let decision = json!({"by": "bench"});
        expect(
            http.post(&url).json(&decision),
            "POST",
            &url,
            StatusCode::ACCEPTED,
        )
        .await?;
    }
    let url = format!("{api}/orders/{order_id}/result?wait={RESULT_WAIT}");
    let started = Instant::now();
    while started.elapsed() < ORDER_DEADLINE {
        let (status, body) = send(http.get(&url), "GET", &url).await?;
        match status {
            StatusCode::OK if body["done"] == json!(true) => {
                anyhow::ensure!(
                    body["outcome"] == json!("completed"),
                    "order {order_id} did not complete: {body}"
                );
                return Ok(());
            }
            StatusCode::ACCEPTED => {}
            other => anyhow::bail!("GET {url}: {other}: {body}"),
        }
    }
    anyhow::bail!("order {order_id} not completed after {ORDER_DEADLINE:?}")
}

/// Sends `request`; an error unless it answers `want`.
async fn expect(
    request: reqwest::RequestBuilder,
    method: &str,
    url: &str,
    want: StatusCode,
) -> anyhow::Result<Value> {
    let (status, body) = send(request, method, url).await?;
    anyhow::ensure!(status == want, "{method} {url}: {status}: {body}");
    Ok(body)
}

async fn send(
    request: reqwest::RequestBuilder,
    method: &str,
    url: &str,
) -> anyhow::Result<(StatusCode, Value)> {
    let response = request
        .send()
        .await
        .with_context(|| format!("{method} {url}"))?;
    Ok(workflow_testkit::answer(response).await)
}
