//! Retention and deletion on SQLite and PostgreSQL: closed runs are deleted once the
//! retention in force when they closed (seconds here, the minimum lowered as on the real
//! server) has passed, open ones stay, and the sweep carries on after a restart; the
//! standalone engine SIGKILLed in the middle of a sweep or of a namespace delete leaves
//! nothing dangling (no history without its run, no run without its history), and the sweep
//! finishes after the restart.

use std::{
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use workflow_testkit::free_port;

use futures::{StreamExt, stream};
use temporalio_client::{Client, Connection};
use temporalio_common::protos::temporal::api::{
    common::v1::{WorkflowExecution, WorkflowType},
    namespace::v1::NamespaceConfig,
    operatorservice::v1::DeleteNamespaceRequest,
    taskqueue::v1::TaskQueue,
    workflowservice::v1::{
        DescribeWorkflowExecutionRequest, GetWorkflowExecutionHistoryRequest,
        RegisterNamespaceRequest, StartWorkflowExecutionRequest, TerminateWorkflowExecutionRequest,
        UpdateNamespaceRequest,
    },
};
use tonic::Code;

use crate::harness::{self, TestDb};

const MIN_RETENTION: &str = "system.namespaceMinRetentionLocal=\"1s\"";

fn seconds(seconds: i64) -> Option<prost_wkt_types::Duration> {
    Some(prost_wkt_types::Duration { seconds, nanos: 0 })
}

async fn register(connection: &Connection, namespace: &str, retention_s: i64) {
    connection
        .workflow_service()
        .register_namespace(tonic::Request::new(RegisterNamespaceRequest {
            namespace: namespace.into(),
            workflow_execution_retention_period: seconds(retention_s),
            ..Default::default()
        }))
        .await
        .unwrap_or_else(|e| panic!("register {namespace}: {e}"));
}

async fn set_retention(connection: &Connection, namespace: &str, retention_s: i64) {
    connection
        .workflow_service()
        .update_namespace(tonic::Request::new(UpdateNamespaceRequest {
            namespace: namespace.into(),
            config: Some(NamespaceConfig {
                workflow_execution_retention_ttl: seconds(retention_s),
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap_or_else(|e| panic!("update {namespace}: {e}"));
}

/// Starts a workflow no worker polls for; closes it at once when `close`.
async fn start(connection: &Connection, namespace: &str, id: &str, close: bool) {
    let mut service = connection.workflow_service();
    service
        .start_workflow_execution(tonic::Request::new(StartWorkflowExecutionRequest {
            namespace: namespace.into(),
            workflow_id: id.into(),
            workflow_type: Some(WorkflowType {
                name: "Idle".into(),
            }),
            task_queue: Some(TaskQueue {
                name: "retention-idle".into(),
                ..Default::default()
            }),
            request_id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        }))
        .await
        .unwrap_or_else(|e| panic!("start {id}: {e}"));
    if close {
        service
            .terminate_workflow_execution(tonic::Request::new(TerminateWorkflowExecutionRequest {
                namespace: namespace.into(),
                workflow_execution: Some(WorkflowExecution {
                    workflow_id: id.into(),
                    run_id: String::new(),
                }),
                reason: "closed for the test".into(),
                ..Default::default()
            }))
            .await
            .unwrap_or_else(|e| panic!("terminate {id}: {e}"));
    }
}

/// Starts `count` runs named `prefix-i`, every one closed when `close`, 16 at a time.
async fn start_many(
    connection: &Connection,
    namespace: &str,
    prefix: &str,
    count: usize,
    close: bool,
) {
    stream::iter(0..count)
        .for_each_concurrent(16, |i| async move {
            start(connection, namespace, &format!("{prefix}-{i}"), close).await;
        })
        .await;
}

/// Whether describe and history still find the run (both or neither).
async fn exists(connection: &Connection, namespace: &str, id: &str) -> bool {
    let execution = Some(WorkflowExecution {
        workflow_id: id.into(),
        run_id: String::new(),
    });
    let mut service = connection.workflow_service();
    let described = service
        .describe_workflow_execution(tonic::Request::new(DescribeWorkflowExecutionRequest {
            namespace: namespace.into(),
            execution: execution.clone(),
        }))
        .await;
    let read = service
        .get_workflow_execution_history(tonic::Request::new(GetWorkflowExecutionHistoryRequest {
            namespace: namespace.into(),
            execution,
            ..Default::default()
        }))
        .await;
    match (described, read) {
        (Ok(_), Ok(_)) => true,
        (Err(a), Err(b)) if a.code() == Code::NotFound && b.code() == Code::NotFound => false,
        other => panic!("{id}: describe and history disagree: {other:?}"),
    }
}

async fn eventually_gone(connection: &Connection, namespace: &str, ids: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for id in ids {
        while exists(connection, namespace, id).await {
            assert!(Instant::now() < deadline, "{id} outlived its retention");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_runs_expire_open_ones_stay_across_a_restart() {
    expire_across_a_restart(TestDb::sqlite("retention")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_runs_expire_open_ones_stay_across_a_restart_on_postgres() {
    expire_across_a_restart(TestDb::postgres()).await;
}

async fn expire_across_a_restart(db: TestDb) {
    let options = || {
        let mut options = db.apply(harness::options());
        options.min_retention = Duration::from_secs(1);
        options
    };
    let engine = harness::start(options()).await;
    let client: Client = harness::connect(engine.address()).await;
    let connection = client.connection();
    register(connection, "short", 2).await;
    register(connection, "long", 3600).await;
    start(connection, "short", "closed-1", true).await;
    start(connection, "short", "closed-2", true).await;
    start(connection, "short", "open", false).await;
    start(connection, "long", "kept", true).await;
    // A run keeps the retention it closed under (as the real server fixes its deletion
    // time at close): shortened now, "kept" stays for its hour, "brief" goes in a second.
    set_retention(connection, "long", 1).await;
    start(connection, "long", "brief", true).await;
    // Stopped before the retention passes: what is due is read from the store after the
    // restart, not remembered.
    engine
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("shutdown: {e}"));

    let engine = harness::start(options()).await;
    let client = harness::connect(engine.address()).await;
    let connection = client.connection();
    eventually_gone(connection, "short", &["closed-1".into(), "closed-2".into()]).await;
    eventually_gone(connection, "long", &["brief".into()]).await;
    assert!(
        exists(connection, "short", "open").await,
        "an open run was deleted"
    );
    assert!(
        exists(connection, "long", "kept").await,
        "deleted before the retention it closed under"
    );
    // The id is free again.
    start(connection, "short", "closed-1", false).await;
    assert!(exists(connection, "short", "closed-1").await);
    engine
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("shutdown: {e}"));
}

/// Where a standalone engine keeps its state, and how to look at it from outside.
enum Store {
    Sqlite(tempfile::TempDir),
    Postgres(workflow_testkit::PostgresServer, String),
}

impl Store {
    fn path(dir: &tempfile::TempDir) -> PathBuf {
        dir.path().join("engine.db")
    }

    /// One number the SQL answers.
    fn count(&self, sql: &str) -> i64 {
        match self {
            Self::Sqlite(dir) => {
                let conn = rusqlite::Connection::open_with_flags(
                    Self::path(dir),
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )
                .unwrap_or_else(|e| panic!("open the database: {e}"));
                conn.busy_timeout(Duration::from_secs(5))
                    .unwrap_or_else(|e| panic!("busy timeout: {e}"));
                conn.query_row(sql, [], |row| row.get(0))
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
            }
            Self::Postgres(server, _) => server
                .psql("engine", sql)
                .parse()
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
        }
    }

    /// Runs `sql`, which answers nothing, with the engine stopped.
    fn execute(&self, sql: &str) {
        match self {
            Self::Sqlite(dir) => {
                let conn = rusqlite::Connection::open(Self::path(dir))
                    .unwrap_or_else(|e| panic!("open the database: {e}"));
                conn.execute(sql, [])
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
            Self::Postgres(server, _) => {
                server.psql("engine", sql);
            }
        }
    }

    fn runs_in(&self, namespace: &str) -> i64 {
        self.count(&format!(
            "SELECT count(*) FROM runs WHERE namespace = '{namespace}'"
        ))
    }

    /// Fails if a history has no run or a run has no history.
    fn assert_nothing_dangles(&self) {
        let orphans = self.count(
            "SELECT count(*) FROM events e WHERE NOT EXISTS
                 (SELECT 1 FROM runs r WHERE r.run_id = e.run_id)",
        );
        assert_eq!(orphans, 0, "events of deleted runs are left");
        let hollow = self.count(
            "SELECT count(*) FROM runs r WHERE NOT EXISTS
                 (SELECT 1 FROM events e WHERE e.run_id = r.run_id)",
        );
        assert_eq!(hollow, 0, "runs without their history are left");
        let homeless = self.count(
            "SELECT count(*) FROM runs r WHERE NOT EXISTS
                 (SELECT 1 FROM namespaces n WHERE n.name = r.namespace)",
        );
        assert_eq!(homeless, 0, "runs of a deleted namespace are left");
    }

    /// Runs the standalone engine on this store.
    fn spawn(&self, port: u16) -> Child {
        let mut command = Command::new(env!("CARGO_BIN_EXE_workflow-engine"));
        command
            .args(["--ip", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--log-level",
                "warn",
                "--dynamic-config-value",
                MIN_RETENTION,
            ])
            .env_remove("WORKFLOW_ENGINE_DB_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        match self {
            Self::Sqlite(dir) => {
                command.arg("--db-filename").arg(Self::path(dir));
            }
            Self::Postgres(_, url) => {
                command.env("WORKFLOW_ENGINE_DB_URL", url);
            }
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start workflow-engine: {e}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("workflow-engine exited: {status}");
            }
            assert!(Instant::now() < deadline, "workflow-engine did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    }
}

async fn connect(port: u16) -> Client {
    harness::connect(([127, 0, 0, 1], port).into()).await
}

/// SIGKILL.
fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_sweep_and_mid_namespace_delete_leaves_nothing_dangling() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    sigkill_leaves_nothing_dangling(Store::Sqlite(dir)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_sweep_and_mid_namespace_delete_leaves_nothing_dangling_on_postgres() {
    let server = workflow_testkit::PostgresServer::start();
    let url = server.create_database("engine");
    sigkill_leaves_nothing_dangling(Store::Postgres(server, url)).await;
}

async fn sigkill_leaves_nothing_dangling(store: Store) {
    const RUNS: usize = 1500;
    let port = free_port();
    let mut engine = store.spawn(port);
    let client = connect(port).await;
    let connection = client.connection();
    register(connection, "sweep", 3600).await;
    register(connection, "doomed", 30 * 86_400).await;
    start_many(connection, "sweep", "closed", RUNS, true).await;
    start(connection, "sweep", "open", false).await;
    start_many(connection, "doomed", "d", 50, true).await;
    start(connection, "doomed", "d-open", false).await;

    // Two hours pass while the engine is down (its clock, stored as an offset, moved on):
    // at the restart every closed run of "sweep" is past its hour, and the sweep deletes
    // them in batches; kill it once it began.
    kill(&mut engine);
    store.execute(
        "INSERT INTO settings (key, value) VALUES ('clock_offset_ms', '7200000')
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    );
    let mut engine = store.spawn(free_port());
    let deadline = Instant::now() + Duration::from_secs(30);
    let total = i64::try_from(RUNS + 1).unwrap_or(i64::MAX);
    while store.runs_in("sweep") == total {
        assert!(Instant::now() < deadline, "the sweep did not begin");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    kill(&mut engine);
    let left = store.runs_in("sweep");
    println!("  SIGKILL mid-sweep: {left} of {total} runs left");
    assert!(
        left > 1,
        "the sweep had finished before the kill: make it longer"
    );
    store.assert_nothing_dangles();

    // Restarted, the sweep carries on; then a namespace delete is killed as it runs.
    let port = free_port();
    let mut engine = store.spawn(port);
    let client = connect(port).await;
    let connection = client.connection().clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.runs_in("sweep") > 1 {
        assert!(Instant::now() < deadline, "the sweep did not carry on");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        exists(&connection, "sweep", "open").await,
        "the open run was deleted"
    );
    store.assert_nothing_dangles();

    let doomed = tokio::spawn(async move {
        connection
            .operator_service()
            .delete_namespace(tonic::Request::new(DeleteNamespaceRequest {
                namespace: "doomed".into(),
                ..Default::default()
            }))
            .await
    });
    tokio::time::sleep(Duration::from_millis(3)).await;
    kill(&mut engine);
    let _ = doomed.await;
    let left = store.runs_in("doomed");
    println!("  SIGKILL during a namespace delete: {left} of 51 runs left");
    assert!(
        left == 0 || left == 51,
        "a namespace half deleted: {left} runs left"
    );
    store.assert_nothing_dangles();

    // After a restart the engine agrees with what is stored.
    let port = free_port();
    let mut engine = store.spawn(port);
    let client = connect(port).await;
    let connection = client.connection();
    assert_eq!(
        exists(connection, "doomed", "d-open").await,
        left == 51,
        "the engine and the store disagree about the deleted namespace"
    );
    kill(&mut engine);
    if let Store::Sqlite(dir) = &store {
        check_integrity(&Store::path(dir));
    }
}

fn check_integrity(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap_or_else(|e| panic!("open: {e}"));
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap_or_else(|e| panic!("integrity check: {e}"));
    assert_eq!(verdict, "ok");
}
