//! The PostgreSQL store against a real server the tests start themselves.

use std::time::{Duration, Instant};

use workflow_testkit::PostgresServer;

use super::*;
use crate::store::{RunRecord, RunWrite, conformance::visibility::closed_info};

const WITHIN: Duration = Duration::from_secs(10);

fn write(run_id: &str, state: &str, events: &[(i64, &[u8])]) -> Batch {
    Batch {
        namespaces: vec![],
        settings: vec![],
        schedules: vec![],
        runs: vec![RunWrite {
            record: RunRecord {
                run_id: run_id.into(),
                namespace: "default".into(),
                workflow_id: format!("wf-{run_id}"),
                state: state.into(),
                buffered: vec![],
                closed_info: None,
            },
            new_events: events.iter().map(|(id, b)| (*id, b.to_vec())).collect(),
        }],
        ..Batch::default()
    }
}

fn open(url: &str) -> PostgresStore {
    PostgresStore::open(url, WITHIN).unwrap_or_else(|e| panic!("open {url}: {e}"))
}

#[test]
fn the_schema_is_versioned_and_a_newer_one_is_refused() {
    let server = PostgresServer::start();
    let url = server.create_database("schema");
    drop(open(&url));
    assert_eq!(
        server.psql("schema", "SELECT version FROM engine_schema"),
        schema::latest().to_string()
    );
    // Opening again migrates nothing and keeps the version.
    drop(open(&url));
    assert_eq!(
        server.psql("schema", "SELECT count(*) FROM engine_schema"),
        "1"
    );
    server.psql("schema", "UPDATE engine_schema SET version = 99");
    match PostgresStore::open(&url, WITHIN) {
        Err(StoreError::NewerSchema(99)) => {}
        other => panic!("expected NewerSchema(99), got {other:?}"),
    }
}

#[tokio::test]
async fn commits_queued_together_are_written_together_and_in_order() {
    let server = PostgresServer::start();
    let url = server.create_database("group");
    let store = open(&url);
    // The same run in many batches of one group: the last state wins, every event lands.
    let commits: Vec<Commit> = (1..=300)
        .map(|i| {
            let data = format!("e{i}");
            store.commit(write("a", &format!("s{i}"), &[(i, data.as_bytes())]))
        })
        .collect();
    for commit in commits {
        assert!(matches!(commit.await, Ok(Ok(()))), "a commit failed");
    }
    let run = store
        .read_run("a")
        .unwrap_or_else(|e| panic!("read: {e}"))
        .unwrap_or_else(|| panic!("run a missing"));
    assert_eq!(run.record.state, "s300");
    assert_eq!(run.events.len(), 300);
    assert_eq!(run.events[299], b"e300".to_vec());
}

#[test]
fn a_second_store_on_the_same_database_is_refused_naming_it() {
    let server = PostgresServer::start();
    let url = server.create_database("shared");
    let first = open(&url);
    let second = PostgresStore::open(&url, WITHIN);
    let Err(e @ StoreError::InUse { .. }) = second else {
        panic!("a second store opened the same database: {second:?}");
    };
    let message = e.to_string();
    assert!(message.contains("/shared"), "{message}");
    assert!(!message.contains(PostgresServer::PASSWORD), "{message}");
    // Another database on the same server is fine.
    let other = server.create_database("other");
    drop(open(&other));
    drop(first);
    drop(open(&url));
}

#[test]
fn wrong_password_missing_database_and_unreachable_host_say_which() {
    let server = PostgresServer::start();
    let wrong = format!(
        "postgres://postgres:not-the-password@127.0.0.1:{}/postgres",
        server.port()
    );
    match PostgresStore::open(&wrong, WITHIN) {
        Err(e @ StoreError::Authentication { .. }) => {
            let message = e.to_string();
            assert!(message.contains("\"postgres\""), "{message}");
            assert!(!message.contains("not-the-password"), "{message}");
        }
        other => panic!("expected Authentication, got {other:?}"),
    }
    match PostgresStore::open(&server.url_for("nope"), WITHIN) {
        Err(e @ StoreError::MissingDatabase { .. }) => {
            assert!(e.to_string().contains("\"nope\""), "{e}");
        }
        other => panic!("expected MissingDatabase, got {other:?}"),
    }
    let port = workflow_testkit::free_port();
    let started = Instant::now();
    let unreachable = format!("postgres://app:hunter2@127.0.0.1:{port}/engine");
    match PostgresStore::open(&unreachable, Duration::from_secs(1)) {
        Err(e @ StoreError::Unreachable { .. }) => {
            let message = e.to_string();
            assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn while_the_server_is_down_callers_hear_unavailable_and_nothing_is_lost() {
    let mut server = PostgresServer::start();
    let url = server.create_database("faults");
    let store = open(&url);
    assert!(matches!(
        store.commit(write("a", "s1", &[(1, b"e1")])).await,
        Ok(Ok(()))
    ));
    server.stop_immediate();
    // A commit is answered only once durable: not while the server is down.
    let mut during = store.commit(write("a", "s2", &[(2, b"e2")]));
    assert!(
        tokio::time::timeout(Duration::from_secs(1), &mut during)
            .await
            .is_err(),
        "a commit was answered while the server was down"
    );
    let started = Instant::now();
    assert!(matches!(
        store.read_run("a"),
        Err(StoreError::Unavailable(_))
    ));
    let waited = started.elapsed();
    assert!(
        waited < writer::ANSWER_WITHIN + Duration::from_secs(3),
        "{waited:?}"
    );
    let after = store.commit(write("a", "s3", &[(3, b"e3")]));
    server.start_again();
    assert!(matches!(during.await, Ok(Ok(()))), "the queued commit");
    assert!(
        matches!(after.await, Ok(Ok(()))),
        "the one queued behind it"
    );
    let run = store
        .read_run("a")
        .unwrap_or_else(|e| panic!("read: {e}"))
        .unwrap_or_else(|| panic!("run a missing"));
    assert_eq!(run.record.state, "s3");
    assert_eq!(
        run.events,
        vec![b"e1".to_vec(), b"e2".to_vec(), b"e3".to_vec()]
    );
    // The lock was taken again on the new connection.
    assert!(matches!(
        PostgresStore::open(&url, WITHIN),
        Err(StoreError::InUse { .. })
    ));
}

/// A closed run with a real visibility record.
fn closed(run_id: &str, workflow_type: &str, start_ms: i64, status: i32) -> RunWrite {
    let mut write = write(run_id, "{}", &[]).runs.remove(0);
    write.record.closed_info = Some(closed_info(run_id, workflow_type, start_ms, 5, status));
    write
}

#[test]
fn a_version_1_database_is_migrated_and_its_closed_runs_get_visibility_columns() {
    let server = PostgresServer::start();
    let url = server.create_database("v1");
    server.psql("v1", schema::MIGRATIONS[0]);
    server.psql(
        "v1",
        "CREATE TABLE engine_schema (version BIGINT NOT NULL);
         INSERT INTO engine_schema VALUES (1)",
    );
    let info = closed("old", "Legacy", 4242, 2)
        .record
        .closed_info
        .unwrap_or_default();
    let hex: String = info.iter().map(|b| format!("{b:02x}")).collect();
    server.psql(
        "v1",
        &format!(
            "INSERT INTO runs (run_id, namespace, workflow_id, state, buffered, closed_info)
             VALUES ('old', 'default', 'wf-old', '{{}}', ''::bytea, '\\x{hex}'::bytea)"
        ),
    );
    drop(open(&url));
    assert_eq!(
        server.psql("v1", "SELECT version FROM engine_schema"),
        schema::latest().to_string()
    );
    assert_eq!(
        server.psql(
            "v1",
            "SELECT workflow_type || ',' || status || ',' || start_ms FROM runs WHERE run_id = 'old'"
        ),
        "Legacy,2,4242"
    );
}
