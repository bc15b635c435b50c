//! Crash recovery of the demo mode: `orders-demo` (API, worker and embedded engine in one
//! process) is killed with SIGKILL while orders are in flight, started again on the same
//! data folder, and every order still reaches its final state exactly once. Once with the
//! engine's state in SQLite (the data folder), once in PostgreSQL (a server the test starts).
//!
//! Cargo builds `orders-demo` for this test; nothing else needs to run.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use workflow_testkit::orders::{
    assert_all_completed, assert_exactly_once, effects, order, order_ids, wait_all_done, wait_state,
};
use workflow_testkit::{PostgresServer, Process, call, free_port, test_dir};

/// Orders at or above this amount wait for an approval.
const THRESHOLD_CENTS: u64 = 100_000;
const ORDERS: usize = 20;
/// Every fourth order needs an approval.
const APPROVAL_EVERY: usize = 4;
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const FINAL_TIMEOUT: Duration = Duration::from_secs(120);

/// One `orders-demo` process on fresh ports over the data folder `data`.
struct Demo {
    process: Process,
    api: String,
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
        let mut process = Process::spawn("orders-demo", &env, logs);
        let took = process
            .wait_ready(http, &format!("http://{health}/readyz"), READY_TIMEOUT)
            .await;
        println!("orders-demo ready in {took:.1?}");
        Self {
            process,
            api: format!("http://{api}"),
        }
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
    let dir = test_dir!("sigkill");
    let data = dir.path().join("data");
    let http = workflow_testkit::http();
    let ids = order_ids("crash", ORDERS);
    let needs_approval = |i: usize| i.is_multiple_of(APPROVAL_EVERY);

    let mut first = Demo::start(&data, dir.path(), &http, store.url()).await;
    for (i, id) in ids.iter().enumerate() {
        let amount = if needs_approval(i) { 250_000 } else { 2_500 };
        let (code, body) = call(http.post(format!("{}/orders", first.api)).json(&order(
            id,
            "crash-test",
            amount,
        )))
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

    let mut second = Demo::start(&data, dir.path(), &http, store.url()).await;
    for (i, id) in ids.iter().enumerate() {
        let (code, body) = call(http.get(format!("{}/orders/{id}", second.api))).await;
        assert_eq!(code, StatusCode::OK, "order {id} lost by the crash: {body}");
        if needs_approval(i) {
            wait_state(&http, &second.api, id, "awaiting_approval", FINAL_TIMEOUT).await;
            let url = format!("{}/orders/{id}/approve", second.api);
            let (code, body) = call(http.post(&url).json(&json!({"by": "test"}))).await;
            assert_eq!(code, StatusCode::ACCEPTED, "approve {id}: {body}");
        }
    }
    let results = wait_all_done(&http, &second.api, &ids, FINAL_TIMEOUT).await;
    assert_all_completed(&results, &ids);

    let ledger = orders_logic::Ledger::open(data.join("orders-ledger.db"))
        .unwrap_or_else(|e| panic!("open the ledger: {e}"));
    let rows = ledger
        .entries()
        .await
        .unwrap_or_else(|e| panic!("read the ledger: {e}"));
    let effects = effects(
        rows.into_iter()
            .map(|e| (e.order_id, e.action, e.executions)),
    );
    let report = assert_exactly_once(&effects, &ids);
    println!("activities re-run after the crash (at-least-once): {report}");

    let exited = second.process.terminate(Duration::from_secs(30));
    assert!(
        exited.is_some_and(|s| s.success()),
        "clean exit on SIGTERM: {exited:?}"
    );
    store.check(&data, "after the restart");
}
