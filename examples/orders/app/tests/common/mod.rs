//! Shared helpers of the orders process-level tests: a real Temporal dev server, the orders
//! binaries as real processes, HTTP calls, waiting for final states, and ledger checks.
//!
//! The binaries must be built first: `cargo build -p orders-app -p orders-api -p orders-worker
//! --bins` (the test harness only builds this package's own binary).
// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use workflow_testkit::{Process, TemporalServer, free_port};

/// Generous bound for "every order reaches its final state" on a slow, noisy 2-core machine.
pub(crate) const FINAL_TIMEOUT: Duration = Duration::from_secs(120);
/// Bound for a process to report ready on /readyz.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The binaries.
pub(crate) const APP: &str = "orders-app";
pub(crate) const API: &str = "orders-api";
pub(crate) const WORKER: &str = "orders-worker";

/// A per-test folder for process logs and the ledger, under `target/tmp/orders-app-tests`.
/// Removed when the test passes; kept (and its path printed) when it fails, so the logs can
/// be read.
pub(crate) struct TestDir {
    path: PathBuf,
}

impl TestDir {
    /// Creates the folder for test `test`.
    pub(crate) fn new(test: &str) -> Self {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("orders-app-tests")
            .join(format!("{test}-{stamp}-{}", std::process::id()));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create test folder {}: {e}", path.display()));
        Self { path }
    }

    /// The folder.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test failed: logs kept in {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

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
        let dir = TestDir::new(name);
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
        let started = Instant::now();
        let url = format!("{}/readyz", self.health);
        loop {
            if let Ok(response) = http.get(&url).send().await
                && response.status() == StatusCode::OK
            {
                println!("  {} ready in {:.1?}", self.label, started.elapsed());
                return;
            }
            if let Some(status) = self.process.wait_exit(Duration::ZERO) {
                panic!(
                    "{} exited ({status}) before it was ready; output:\n{}",
                    self.label,
                    self.process.output()
                );
            }
            if started.elapsed() > timeout {
                panic!(
                    "{} not ready on {url} after {timeout:?}; output:\n{}",
                    self.label,
                    self.process.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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

/// The body of `POST /orders`.
pub(crate) fn order(order_id: &str, customer: &str, amount_cents: u64) -> Value {
    json!({
        "order_id": order_id,
        "customer": customer,
        "items": [{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-2", "quantity": 1}],
        "amount_cents": amount_cents,
        "shipping_address": {
            "line1": "1 Main Street",
            "city": "Amsterdam",
            "postal_code": "1011AB",
            "country": "NL"
        }
    })
}

/// An HTTP answer: status and body (JSON, or the raw text as a JSON string).
pub(crate) async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// For an "unavailable" answer of the orders API: whether the Temporal server it names still
/// accepts connections. A dead dev server is a failure of the test infrastructure, not of
/// the code under test; this says which one it is.
pub(crate) fn diagnose(body: &Value) -> String {
    let message = body["message"].as_str().unwrap_or_default();
    let Some(address) = message
        .split("Temporal at ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
    else {
        return String::new();
    };
    let Ok(socket) = address.parse::<std::net::SocketAddr>() else {
        return String::new();
    };
    match std::net::TcpStream::connect_timeout(&socket, Duration::from_secs(2)) {
        Ok(_) => format!(" [the Temporal server at {address} still accepts connections]"),
        Err(e) => format!(
            " [the Temporal dev server at {address} refuses connections ({e}): it died during the test, which points at the test infrastructure rather than the orders code]"
        ),
    }
}

/// `POST url` with a JSON body.
pub(crate) async fn post(http: &reqwest::Client, url: &str, body: &Value) -> (StatusCode, Value) {
    let response = http
        .post(url)
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    answer(response).await
}

/// `POST url` with no body.
pub(crate) async fn post_empty(http: &reqwest::Client, url: &str) -> (StatusCode, Value) {
    let response = http
        .post(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    answer(response).await
}

/// `GET url`.
pub(crate) async fn get(http: &reqwest::Client, url: &str) -> (StatusCode, Value) {
    let response = http
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    answer(response).await
}

/// Places an order through `api` and asserts 201 created.
pub(crate) async fn place(http: &reqwest::Client, api: &str, body: &Value) {
    let (status, answer) = post(http, &format!("{api}/orders"), body).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "POST {api}/orders {body}: {answer}{}",
        diagnose(&answer)
    );
    assert_eq!(answer["created"], json!(true), "{answer}");
    assert_eq!(answer["order_id"], body["order_id"], "{answer}");
}

/// Sends an approval through `api` and asserts 202.
pub(crate) async fn approve(http: &reqwest::Client, api: &str, order_id: &str) {
    let url = format!("{api}/orders/{order_id}/approve");
    let body = json!({"by": "test", "reason": "looks fine"});
    let (status, answer) = post(http, &url, &body).await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "POST {url}: {answer}{}",
        diagnose(&answer)
    );
}

/// Polls `GET {api}/orders/{id}` until the order's live state is `state`.
pub(crate) async fn wait_state(
    http: &reqwest::Client,
    api: &str,
    order_id: &str,
    state: &str,
    timeout: Duration,
) {
    let url = format!("{api}/orders/{order_id}");
    let started = Instant::now();
    let mut last = Value::Null;
    while started.elapsed() < timeout {
        if let Ok(response) = http.get(&url).send().await {
            let (code, body) = answer(response).await;
            if code == StatusCode::OK && body["state"] == json!(state) {
                return;
            }
            last = json!({"status": code.as_u16(), "body": body});
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("order {order_id} not in state {state} after {timeout:?}; last answer: {last}");
}

/// Waits (in parallel, through `api`) until every order in `ids` is done, and returns each
/// result body (`{order_id, done:true, outcome, order}`). Unavailable answers and transport
/// errors are retried until `timeout`; any other answer fails the test.
pub(crate) async fn wait_all_done(
    http: &reqwest::Client,
    api: &str,
    ids: &[String],
    timeout: Duration,
) -> HashMap<String, Value> {
    let deadline = Instant::now() + timeout;
    let mut tasks = Vec::new();
    for id in ids {
        let http = http.clone();
        let url = format!("{api}/orders/{id}/result?wait=5s");
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            let mut last = String::from("no answer yet");
            while Instant::now() < deadline {
                match http.get(&url).send().await {
                    Ok(response) => {
                        let (code, body) = answer(response).await;
                        match code {
                            StatusCode::OK if body["done"] == json!(true) => {
                                return Ok((id, body));
                            }
                            StatusCode::ACCEPTED | StatusCode::SERVICE_UNAVAILABLE => {
                                last = format!("{code}: {body}{}", diagnose(&body));
                            }
                            other => return Err(format!("order {id}: {other}: {body}")),
                        }
                    }
                    Err(e) => {
                        last = format!("transport error: {e}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
            Err(format!(
                "order {id} not done after {timeout:?}; last: {last}"
            ))
        }));
    }
    let mut done = HashMap::new();
    let mut problems = Vec::new();
    for task in tasks {
        match task.await.expect("result poller task") {
            Ok((id, body)) => {
                done.insert(id, body);
            }
            Err(problem) => problems.push(problem),
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} orders did not finish properly:\n{}",
        problems.len(),
        ids.len(),
        problems.join("\n")
    );
    done
}

/// Asserts that every result says the order completed (shipped, with a tracking number).
pub(crate) fn assert_all_completed(results: &HashMap<String, Value>, ids: &[String]) {
    for id in ids {
        let result = results
            .get(id)
            .unwrap_or_else(|| panic!("no result for order {id}"));
        assert_eq!(
            result["outcome"],
            json!("completed"),
            "order {id}: {result}"
        );
        assert_eq!(
            result["order"]["state"],
            json!("completed"),
            "order {id}: {result}"
        );
        assert!(
            result["order"]["tracking_number"].is_string(),
            "order {id} has no tracking number: {result}"
        );
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
pub(crate) async fn ledger_effects(path: &Path) -> BTreeMap<String, BTreeMap<String, i64>> {
    let ledger = orders_logic::Ledger::open(path)
        .unwrap_or_else(|e| panic!("cannot open the ledger {}: {e}", path.display()));
    let entries = ledger
        .entries()
        .await
        .unwrap_or_else(|e| panic!("cannot read the ledger {}: {e}", path.display()));
    let mut effects: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for entry in entries {
        effects
            .entry(entry.order_id)
            .or_default()
            .insert(entry.action, entry.executions);
    }
    effects
}

/// How many of `ids` have a `ship` effect in the ledger.
pub(crate) async fn shipped_count(path: &Path, ids: &[String]) -> usize {
    let effects = ledger_effects(path).await;
    ids.iter()
        .filter(|id| effects.get(*id).is_some_and(|e| e.contains_key("ship")))
        .count()
}

/// What the ledger says about a set of completed orders.
#[derive(Debug, Default)]
pub(crate) struct LedgerReport {
    /// Effects whose activity ran more than once (`executions > 1`), as `order/action xN`.
    pub(crate) re_executed: Vec<String>,
    /// Sum over effects of `executions - 1`.
    pub(crate) extra_executions: i64,
}

/// Asserts that each order in `ids` has exactly one reserve, charge and ship row and nothing
/// else (no refund, no release), and that the ledger holds no other orders than `ids`.
pub(crate) async fn assert_exactly_once(path: &Path, ids: &[String]) -> LedgerReport {
    let effects = ledger_effects(path).await;
    let expected: BTreeSet<&str> = ["charge", "reserve", "ship"].into();
    let mut report = LedgerReport::default();
    let mut problems = Vec::new();
    for id in ids {
        let Some(actions) = effects.get(id) else {
            problems.push(format!("order {id}: no ledger rows"));
            continue;
        };
        let found: BTreeSet<&str> = actions.keys().map(String::as_str).collect();
        if found != expected {
            problems.push(format!(
                "order {id}: ledger actions {found:?}, expected {expected:?}"
            ));
        }
        for (action, executions) in actions {
            if *executions > 1 {
                report
                    .re_executed
                    .push(format!("{id}/{action} x{executions}"));
                report.extra_executions += executions - 1;
            }
        }
    }
    let known: BTreeSet<&String> = ids.iter().collect();
    for id in effects.keys() {
        if !known.contains(id) {
            problems.push(format!("ledger has rows for unexpected order {id}"));
        }
    }
    assert!(
        problems.is_empty(),
        "ledger {} is wrong:\n{}",
        path.display(),
        problems.join("\n")
    );
    report
}

/// Order ids `{prefix}-000` .. for `n` orders.
pub(crate) fn order_ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:03}")).collect()
}
