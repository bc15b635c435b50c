//! Crash recovery of the demo mode: `orders-demo` (API, worker and embedded engine in one
//! process) is killed with SIGKILL while orders are in flight, started again on the same
//! data folder, and every order still reaches its final state exactly once. Once with the
//! engine's state in SQLite (the data folder), once in PostgreSQL (a server the test starts).
//!
//! Cargo builds `orders-demo` for this test; nothing else needs to run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use workflow_testkit::{PostgresServer, Process, free_port};

/// Orders at or above this amount wait for an approval.
const THRESHOLD_CENTS: u64 = 100_000;
const ORDERS: usize = 20;
/// Every fourth order needs an approval.
const APPROVAL_EVERY: usize = 4;
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const FINAL_TIMEOUT: Duration = Duration::from_secs(120);

/// The test's folder under `target/tmp`; kept (and printed) when the test fails.
struct TestDir(PathBuf);

impl TestDir {
    fn new(test: &str) -> Self {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("orders-demo-tests")
            .join(format!("{test}-{stamp}-{}", std::process::id()));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Self(path)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test failed: logs and data kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// One `orders-demo` process on fresh ports over the data folder `data`.
struct Demo {
    process: Process,
    api: String,
    health: String,
}

impl Demo {
    async fn start(
        data: &Path,
        logs: &Path,
        http: &reqwest::Client,
        database_url: Option<&str>,
    ) -> Self {
        let api = format!("127.0.0.1:{}", free_port());
        let health = format!("127.0.0.1:{}", free_port());
        let mut env = vec![
            ("ORDERS_LISTEN", api.clone()),
            ("WORKFLOW_HEALTH_LISTEN", health.clone()),
            ("ORDERS_DEMO_DATA", data.display().to_string()),
            (
                "ORDERS_APPROVAL_THRESHOLD_CENTS",
                THRESHOLD_CENTS.to_string(),
            ),
            // Transient payment failures keep orders in flight (server-side retries) when
            // the process dies.
            ("ORDERS_PAYMENT_FAILURE_RATE", "0.3".to_owned()),
            ("WORKFLOW_SHUTDOWN_GRACE_PERIOD", "5s".to_owned()),
            // Demo mode serves the console on 127.0.0.1:8233; tests run side by side.
            ("WORKFLOW_CONSOLE_LISTEN", "off".to_owned()),
        ];
        if let Some(url) = database_url {
            env.push(("ORDERS_DATABASE_URL", url.to_owned()));
        }
        let mut demo = Self {
            process: Process::spawn("orders-demo", &env, logs),
            api: format!("http://{api}"),
            health: format!("http://{health}"),
        };
        demo.wait_ready(http).await;
        demo
    }

    async fn wait_ready(&mut self, http: &reqwest::Client) {
        let started = Instant::now();
        let url = format!("{}/readyz", self.health);
        loop {
            if let Ok(response) = http.get(&url).send().await
                && response.status() == StatusCode::OK
            {
                println!("orders-demo ready in {:.1?}", started.elapsed());
                return;
            }
            if let Some(status) = self.process.wait_exit(Duration::ZERO) {
                panic!(
                    "orders-demo exited ({status}) before it was ready:\n{}",
                    self.process.output()
                );
            }
            assert!(
                started.elapsed() < READY_TIMEOUT,
                "orders-demo not ready after {READY_TIMEOUT:?}:\n{}",
                self.process.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn order(order_id: &str, amount_cents: u64) -> Value {
    json!({
        "order_id": order_id,
        "customer": "crash-test",
        "items": [{"sku": "SKU-1", "quantity": 2}],
        "amount_cents": amount_cents,
        "shipping_address": {
            "line1": "1 Main Street", "city": "Amsterdam", "postal_code": "1011AB", "country": "NL"
        }
    })
}

async fn call(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            (
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Value::String(e.to_string()),
        ),
    }
}

/// Polls the live status of `order_id` until it is `state`.
async fn wait_state(http: &reqwest::Client, api: &str, order_id: &str, state: &str) {
    let url = format!("{api}/orders/{order_id}");
    let started = Instant::now();
    loop {
        let (code, body) = call(http.get(&url)).await;
        if code == StatusCode::OK && body["state"] == json!(state) {
            return;
        }
        assert!(
            started.elapsed() < FINAL_TIMEOUT,
            "order {order_id} not {state} after {FINAL_TIMEOUT:?}: {code} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until `order_id` is done and returns its result body.
async fn wait_done(http: &reqwest::Client, api: &str, order_id: &str) -> Value {
    let url = format!("{api}/orders/{order_id}/result?wait=5s");
    let started = Instant::now();
    loop {
        let (code, body) = call(http.get(&url)).await;
        match code {
            StatusCode::OK if body["done"] == json!(true) => return body,
            StatusCode::OK | StatusCode::ACCEPTED | StatusCode::SERVICE_UNAVAILABLE => {}
            other => panic!("order {order_id}: unexpected {other}: {body}"),
        }
        assert!(
            started.elapsed() < FINAL_TIMEOUT,
            "order {order_id} not done after {FINAL_TIMEOUT:?}: {code} {body}"
        );
    }
}

fn integrity(engine_db: &Path) -> String {
    let connection = rusqlite::Connection::open(engine_db)
        .unwrap_or_else(|e| panic!("open {}: {e}", engine_db.display()));
    connection
        .query_row("PRAGMA integrity_check", [], |row| row.get::<_, String>(0))
        .unwrap_or_else(|e| panic!("integrity_check: {e}"))
}

/// Where the engine keeps its state.
enum EngineStore {
    /// `engine.db` in the data folder.
    Sqlite,
    /// A database on a PostgreSQL server of the test's own.
    Postgres(PostgresServer, String),
}

impl EngineStore {
    fn url(&self) -> Option<&str> {
        match self {
            Self::Sqlite => None,
            Self::Postgres(_, url) => Some(url),
        }
    }

    /// The store's own consistency check.
    fn check(&self, data: &Path, when: &str) {
        match self {
            Self::Sqlite => assert_eq!(integrity(&data.join("engine.db")), "ok", "{when}"),
            Self::Postgres(server, _) => {
                // Every run's events are numbered 1..n without gaps.
                let gaps = server.psql(
                    "engine",
                    "SELECT count(*) FROM (SELECT run_id FROM events GROUP BY run_id
                     HAVING max(event_id) <> count(*)) g",
                );
                assert_eq!(gaps, "0", "runs with gaps in their history {when}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_flight_loses_nothing() {
    sigkill_mid_flight_loses_nothing_on(EngineStore::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_flight_loses_nothing_on_postgres() {
    let server = PostgresServer::start();
    let url = server.create_database("engine");
    sigkill_mid_flight_loses_nothing_on(EngineStore::Postgres(server, url)).await;
}

async fn sigkill_mid_flight_loses_nothing_on(store: EngineStore) {
    let dir = TestDir::new("sigkill");
    let data = dir.0.join("data");
    let http = workflow_testkit::http();
    let ids: Vec<String> = (0..ORDERS).map(|i| format!("crash-{i:03}")).collect();
    let needs_approval = |i: usize| i.is_multiple_of(APPROVAL_EVERY);

    let mut first = Demo::start(&data, &dir.0, &http, store.url()).await;
    for (i, id) in ids.iter().enumerate() {
        let amount = if needs_approval(i) { 250_000 } else { 2_500 };
        let (code, body) = call(
            http.post(format!("{}/orders", first.api))
                .json(&order(id, amount)),
        )
        .await;
        assert_eq!(code, StatusCode::CREATED, "POST order {id}: {body}");
    }
    let (_, listed) = call(http.get(format!("{}/orders?limit=100", first.api))).await;
    let running = listed.as_array().map_or(0, |rows| {
        rows.iter()
            .filter(|r| r["status"] == json!("Running"))
            .count()
    });
    first.process.kill_hard();
    println!("orders-demo killed with {running} of {ORDERS} orders in flight");
    assert!(running > 0, "the crash should hit orders in flight");
    store.check(&data, "after SIGKILL");

    let mut second = Demo::start(&data, &dir.0, &http, store.url()).await;
    for (i, id) in ids.iter().enumerate() {
        let (code, body) = call(http.get(format!("{}/orders/{id}", second.api))).await;
        assert_eq!(code, StatusCode::OK, "order {id} lost by the crash: {body}");
        if needs_approval(i) {
            wait_state(&http, &second.api, id, "awaiting_approval").await;
            let url = format!("{}/orders/{id}/approve", second.api);
            let (code, body) = call(http.post(&url).json(&json!({"by": "test"}))).await;
            assert_eq!(code, StatusCode::ACCEPTED, "approve {id}: {body}");
        }
    }
    let mut waits = Vec::new();
    for id in &ids {
        let (http, api, id) = (http.clone(), second.api.clone(), id.clone());
        waits.push(tokio::spawn(
            async move { wait_done(&http, &api, &id).await },
        ));
    }
    for (id, wait) in ids.iter().zip(waits) {
        let result = wait
            .await
            .unwrap_or_else(|e| panic!("waiting for {id}: {e}"));
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
    }

    let ledger = orders_logic::Ledger::open(data.join("orders-ledger.db"))
        .unwrap_or_else(|e| panic!("open the ledger: {e}"));
    let mut effects: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for entry in ledger
        .entries()
        .await
        .unwrap_or_else(|e| panic!("read the ledger: {e}"))
    {
        effects
            .entry(entry.order_id)
            .or_default()
            .insert(entry.action, entry.executions);
    }
    let expected: BTreeSet<&str> = ["charge", "reserve", "ship"].into();
    let mut re_executed = Vec::new();
    for id in &ids {
        let actions = effects
            .get(id)
            .unwrap_or_else(|| panic!("order {id} has no ledger rows"));
        let found: BTreeSet<&str> = actions.keys().map(String::as_str).collect();
        assert_eq!(found, expected, "order {id}: one reserve, charge and ship");
        re_executed.extend(
            actions
                .iter()
                .filter(|(_, n)| **n > 1)
                .map(|(action, n)| format!("{id}/{action} x{n}")),
        );
    }
    assert_eq!(effects.len(), ORDERS, "no ledger rows for unknown orders");
    println!("activities re-run after the crash (at-least-once): {re_executed:?}");

    let exited = second.process.terminate(Duration::from_secs(30));
    assert!(
        exited.is_some_and(|s| s.success()),
        "clean exit on SIGTERM: {exited:?}"
    );
    store.check(&data, "after the restart");
}
