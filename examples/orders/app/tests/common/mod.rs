//! Shared helpers of the orders process-level tests: a real Temporal dev server and the orders
//! binaries as real processes. The order fixtures, the HTTP calls, the waits for final states
//! and the ledger checks are `workflow_testkit`'s (shared with the demo's tests and the
//! benchmark).
//!
//! The binaries must be built first: `cargo build -p orders-app -p orders-api -p orders-worker
//! --bins` (the test harness only builds this package's own binary).
// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use workflow_testkit::orders::LedgerReport;
use workflow_testkit::{Process, TemporalServer, TestDir, free_port, get, test_dir};

/// Generous bound for "every order reaches its final state" on a slow, noisy 2-core machine.
pub(crate) const FINAL_TIMEOUT: Duration = Duration::from_secs(120);
/// Bound for a process to report ready on /readyz.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The binaries.
pub(crate) const APP: &str = "orders-app";
pub(crate) const API: &str = "orders-api";
pub(crate) const WORKER: &str = "orders-worker";

/// One test's world: a real Temporal server, a folder for logs and a shared ledger file.
pub(crate) struct Harness {
    pub(crate) server: TemporalServer,
    pub(crate) dir: TestDir,
    pub(crate) ledger: PathBuf,
    pub(crate) http: reqwest::Client,
}

impl Harness {
    /// Starts a Temporal dev server for test `name`.
    pub(crate) fn start(name: &str) -> Self {
        let dir = test_dir!(name);
        let started = Instant::now();
        let server = TemporalServer::start();
        println!(
            "[{name}] Temporal dev server at {} ready in {:.1?}; logs in {}",
            server.address(),
            started.elapsed(),
            dir.path().display()
        );
        let ledger = dir.path().join("ledger.db");
        Self {
            server,
            dir,
            ledger,
            http: workflow_testkit::http(),
        }
    }

    /// Spawns `binary` as `label` against this server and this ledger, with `extra`
    /// environment on top of the defaults (5 s shutdown grace period, no payment failures).
    /// Does not wait for readiness.
    pub(crate) fn spawn(&self, binary: &str, label: &str, extra: &[(&str, &str)]) -> Node {
        let mut env: Vec<(&str, String)> = vec![
            ("TEMPORAL_ADDRESS", self.server.address()),
            ("ORDERS_LEDGER_PATH", self.ledger.display().to_string()),
            ("WORKFLOW_SHUTDOWN_GRACE_PERIOD", "5s".to_owned()),
        ];
        for (key, value) in extra {
            env.push((key, (*value).to_owned()));
        }
        Node::spawn(binary, label, env, self.dir.path())
    }

    /// Like [`Harness::spawn`], then waits until /readyz answers 200.
    pub(crate) async fn spawn_ready(
        &self,
        binary: &str,
        label: &str,
        extra: &[(&str, &str)],
    ) -> Node {
        let mut node = self.spawn(binary, label, extra);
        node.wait_ready(&self.http, READY_TIMEOUT).await;
        node
    }
}

/// One running binary with its HTTP API (if any) and health endpoint.
pub(crate) struct Node {
    pub(crate) label: String,
    pub(crate) process: Process,
    api: Option<String>,
    health: String,
}

impl Node {
    /// Spawns `binary` with `env`, giving it free ports for the API (not for the worker) and the
    /// health endpoint.
    pub(crate) fn spawn(
        binary: &str,
        label: &str,
        mut env: Vec<(&str, String)>,
        dir: &Path,
    ) -> Self {
        let health = format!("127.0.0.1:{}", free_port());
        env.push(("WORKFLOW_HEALTH_LISTEN", health.clone()));
        let api = (binary != WORKER).then(|| format!("127.0.0.1:{}", free_port()));
        if let Some(api) = &api {
            env.push(("ORDERS_LISTEN", api.clone()));
        }
        let process = Process::spawn(binary, &env, dir);
        Self {
            label: label.to_owned(),
            process,
            api: api.map(|a| format!("http://{a}")),
            health: format!("http://{health}"),
        }
    }

    /// The base URL of the orders API (`http://127.0.0.1:PORT`).
    pub(crate) fn api(&self) -> &str {
        self.api
            .as_deref()
            .unwrap_or_else(|| panic!("{} has no HTTP API", self.label))
    }

    /// The base URL of the health endpoint (`/healthz`, `/readyz`, `/metrics`).
    pub(crate) fn health(&self) -> &str {
        &self.health
    }

    /// Polls /readyz until 200; panics with the process output if it exits or times out.
    pub(crate) async fn wait_ready(&mut self, http: &reqwest::Client, timeout: Duration) {
        let url = format!("{}/readyz", self.health);
        let took = self.process.wait_ready(http, &url, timeout).await;
        println!("  {} ready in {took:.1?}", self.label);
    }

    /// SIGKILL.
    pub(crate) fn kill_hard(&mut self) {
        self.process.kill_hard();
        println!("  {} killed (SIGKILL)", self.label);
    }

    /// SIGTERM; returns the exit status and how long the process took to exit. Panics if it
    /// does not exit within `timeout`.
    pub(crate) fn terminate(&mut self, timeout: Duration) -> (std::process::ExitStatus, Duration) {
        let started = Instant::now();
        let status = self
            .process
            .terminate(timeout)
            .unwrap_or_else(|| panic!("{} was not running when SIGTERM was due", self.label));
        let took = started.elapsed();
        println!(
            "  {} stopped by SIGTERM: {status} in {took:.1?}",
            self.label
        );
        (status, took)
    }

    /// How many lines of this process's output contain `needle`.
    pub(crate) fn count_in_output(&self, needle: &str) -> usize {
        self.process
            .output()
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }
}

/// Polls `GET {api}/orders?limit=1000` until every order in `ids` is listed with workflow
/// status `status` (`Running`, `Completed`...); visibility may lag a little behind.
pub(crate) async fn wait_listed(
    http: &reqwest::Client,
    api: &str,
    ids: &[String],
    status: &str,
    timeout: Duration,
) {
    let url = format!("{api}/orders?limit=1000");
    let started = Instant::now();
    loop {
        let (code, list) = get(http, &url).await;
        assert_eq!(code, StatusCode::OK, "GET {url}: {list}");
        let rows = list.as_array().expect("GET /orders answers an array");
        let matching = ids
            .iter()
            .filter(|id| {
                rows.iter()
                    .any(|r| r["order_id"] == json!(id) && r["status"] == json!(status))
            })
            .count();
        if matching == ids.len() {
            return;
        }
        assert!(
            started.elapsed() < timeout,
            "GET /orders lists {matching} of {} orders as {status} after {timeout:?}: {list}",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The ledger by order: action -> executions.
pub(crate) async fn ledger_effects(path: &Path) -> workflow_testkit::orders::Effects {
    let ledger = orders_logic::Ledger::open(path)
        .unwrap_or_else(|e| panic!("cannot open the ledger {}: {e}", path.display()));
    let entries = ledger
        .entries()
        .await
        .unwrap_or_else(|e| panic!("cannot read the ledger {}: {e}", path.display()));
    workflow_testkit::orders::effects(
        entries
            .into_iter()
            .map(|e| (e.order_id, e.action, e.executions)),
    )
}

/// How many of `ids` have a `ship` effect in the ledger.
pub(crate) async fn shipped_count(path: &Path, ids: &[String]) -> usize {
    let effects = ledger_effects(path).await;
    ids.iter()
        .filter(|id| effects.get(*id).is_some_and(|e| e.contains_key("ship")))
        .count()
}

/// Asserts that each order in `ids` has exactly one reserve, charge and ship row and nothing
/// else, and that the ledger at `path` holds no other orders.
pub(crate) async fn assert_exactly_once(path: &Path, ids: &[String]) -> LedgerReport {
    workflow_testkit::orders::assert_exactly_once(&ledger_effects(path).await, ids)
}
