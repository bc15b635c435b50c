//! Persistence behind one small trait, with an in-memory, a SQLite and a PostgreSQL
//! backend.
//!
//! The engine keeps open runs in memory and writes each change through: after every
//! operation it commits one [`Batch`] (the changed runs' state records and their new history
//! events) and acknowledges the request only once the batch is durable. On start it loads a
//! [`Snapshot`] of the open runs and rebuilds them. Closed runs leave memory once they are
//! durable; the store reads them back on demand ([`Store::read_run`], [`Store::latest_run`],
//! [`Store::closed_infos`]). The store knows nothing of workflows: it keeps opaque JSON
//! records and prost-encoded events.
//!
//! Backends: `memory`, `sqlite` and `postgres`, the last two on a `writer_thread`;
//! `visibility` holds the conditions a store may evaluate itself.

mod memory;
mod postgres;
mod sqlite;
pub(crate) mod visibility;
mod writer_thread;

use std::collections::BTreeMap;

pub(crate) use memory::MemoryStore;
pub(crate) use postgres::{PostgresStore, redact_url};
pub(crate) use sqlite::SqliteStore;
use tokio::sync::oneshot;

/// A run's record: its serialized state and its buffered (not yet numbered) events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunRecord {
    pub(crate) run_id: String,
    pub(crate) namespace: String,
    pub(crate) workflow_id: String,
    /// JSON of the run's mutable state.
    pub(crate) state: String,
    /// Prost-encoded `History` of the buffered events.
    pub(crate) buffered: Vec<u8>,
    /// Once the run has closed: its prost-encoded `WorkflowExecutionInfo`, what visibility
    /// lists. `None` while it is open.
    pub(crate) closed_info: Option<Vec<u8>>,
}

/// One run's changes in a batch.
#[derive(Debug, Clone)]
pub(crate) struct RunWrite {
    pub(crate) record: RunRecord,
    /// New history events as (event id, prost-encoded `HistoryEvent`).
    pub(crate) new_events: Vec<(i64, Vec<u8>)>,
}

/// Everything one operation changed; committed atomically.
#[derive(Debug, Clone, Default)]
pub(crate) struct Batch {
    /// (name, JSON record) of namespaces to upsert.
    pub(crate) namespaces: Vec<(String, String)>,
    pub(crate) runs: Vec<RunWrite>,
    /// (key, value) of server-wide settings to upsert (the clock's offset).
    pub(crate) settings: Vec<(String, String)>,
    /// Schedules to upsert or delete.
    pub(crate) schedules: Vec<ScheduleWrite>,
}

impl Batch {
    pub(crate) fn is_empty(&self) -> bool {
        self.namespaces.is_empty()
            && self.runs.is_empty()
            && self.settings.is_empty()
            && self.schedules.is_empty()
    }
}

/// One schedule's change in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScheduleWrite {
    pub(crate) namespace: String,
    pub(crate) schedule_id: String,
    /// The JSON record to keep; `None` deletes the schedule.
    pub(crate) record: Option<String>,
}

/// A stored schedule: (namespace, schedule id, JSON record).
pub(crate) type StoredSchedule = (String, String, String);

/// A stored run with its history in event id order.
#[derive(Debug, Clone)]
pub(crate) struct StoredRun {
    pub(crate) record: RunRecord,
    pub(crate) events: Vec<Vec<u8>>,
}

/// What the engine needs at start: every namespace and every open run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    pub(crate) namespaces: BTreeMap<String, String>,
    /// Server-wide settings by key.
    pub(crate) settings: BTreeMap<String, String>,
    /// Every schedule.
    pub(crate) schedules: Vec<StoredSchedule>,
    /// Open runs (and, from databases written before closed runs were recorded as such,
    /// closed ones too), oldest first.
    pub(crate) runs: Vec<StoredRun>,
}

/// A closed run as visibility sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClosedInfo {
    pub(crate) run_id: String,
    /// Prost-encoded `WorkflowExecutionInfo`.
    pub(crate) info: Vec<u8>,
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("postgres: {0}")]
    Postgres(#[from] ::postgres::Error),
    #[error("write failed: {0}")]
    Failed(String),
    #[error("the store's writer has stopped")]
    Closed,
    #[error("the database was written by a newer engine (schema {0})")]
    NewerSchema(i64),
    /// The database cannot be reached right now; the change stays queued and the request
    /// may be retried.
    #[error("the database {0} is unavailable; retry later")]
    Unavailable(String),
    #[error("invalid database URL {url}: {source}")]
    InvalidUrl {
        /// The URL with its password replaced.
        url: String,
        #[source]
        source: ::postgres::Error,
    },
    #[error("cannot reach the database {database} (tried for {waited:?}): {source}")]
    Unreachable {
        database: String,
        waited: std::time::Duration,
        #[source]
        source: ::postgres::Error,
    },
    #[error(
        "the database {database} refused user {user:?}: wrong password or user; fix the credentials in the URL"
    )]
    Authentication { database: String, user: String },
    #[error(
        "the database {name:?} does not exist on {database}: create it (CREATE DATABASE \"{name}\") or fix the URL"
    )]
    MissingDatabase { database: String, name: String },
    #[error(
        "the database {database} is in use by another engine; this engine is not clustered: stop the other engine or give each its own database"
    )]
    InUse { database: String },
    #[error(
        "the database file {} is in use by another engine; this engine is not clustered: stop the other engine or give each its own file", path.display()
    )]
    FileInUse { path: std::path::PathBuf },
    #[error("cannot lock the database file {}: {source}", path.display())]
    LockFile {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS setup: {0}")]
    Tls(#[source] rustls::Error),
    #[error(
        "the database file {} is not an engine database (it holds other tables: {tables}); it was left as it is: give the engine a file of its own", path.display()
    )]
    NotOurs {
        path: std::path::PathBuf,
        tables: String,
    },
    #[error(
        "the database file {} is not a SQLite database or is damaged ({source}); it was left as it is: restore it from a backup, or move it away to start with an empty one", path.display()
    )]
    Unreadable {
        path: std::path::PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the disk holding the database {} is full: free space there; the change is kept and written once there is room", path.display()
    )]
    DiskFull { path: std::path::PathBuf },
}

/// Resolves when a committed batch is durable.
pub(crate) type Commit = oneshot::Receiver<Result<(), StoreError>>;

/// Resolves to everything stored, once earlier commits are durable.
pub(crate) type Load = oneshot::Receiver<Result<Snapshot, StoreError>>;

/// A persistence backend.
///
/// The read methods see only durable commits; the engine asks them only for runs whose last
/// change is durable.
pub(crate) trait Store: Send + Sync + 'static {
    /// Namespaces and open runs, once earlier commits are durable.
    fn load(&self) -> Load;
    /// Queues `batch`; batches become durable in the order they were committed.
    fn commit(&self, batch: Batch) -> Commit;
    /// One run with its history, if stored.
    fn read_run(&self, run_id: &str) -> Result<Option<StoredRun>, StoreError>;
    /// The id of the newest run of a workflow id, if any.
    fn latest_run(&self, namespace: &str, workflow_id: &str) -> Result<Option<String>, StoreError>;
    /// Every closed run of a namespace.
    fn closed_infos(&self, namespace: &str) -> Result<Vec<ClosedInfo>, StoreError>;
    /// A page of the closed runs `query` asks for, in its order; `None` when this store
    /// cannot filter (the caller filters [`Store::closed_infos`]).
    fn query_closed(
        &self,
        _query: &visibility::ClosedQuery,
    ) -> Result<Option<Vec<ClosedInfo>>, StoreError> {
        Ok(None)
    }
    /// Why commits are held up right now (the disk is full), if they are: the change stays
    /// queued and is written once the cause is gone.
    fn stalled(&self) -> Option<StoreError> {
        None
    }
    /// How many closed runs `query` matches, by status; `None` when this store cannot.
    fn count_closed(
        &self,
        _query: &visibility::ClosedQuery,
    ) -> Result<Option<Vec<(i32, i64)>>, StoreError> {
        Ok(None)
    }
}

#[cfg(test)]
pub(crate) mod conformance {
    //! The same checks against every backend.

    use super::*;

    /// Deletes a test database with its WAL and shared-memory files.
    pub(crate) fn remove_database(path: &std::path::Path) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    fn run_write(run_id: &str, state: &str, events: &[(i64, &[u8])]) -> RunWrite {
        RunWrite {
            record: RunRecord {
                run_id: run_id.into(),
                namespace: "default".into(),
                workflow_id: format!("wf-{run_id}"),
                state: state.into(),
                buffered: vec![7],
                closed_info: None,
            },
            new_events: events.iter().map(|(id, b)| (*id, b.to_vec())).collect(),
        }
    }

    fn schedule_write(id: &str, record: Option<&str>) -> ScheduleWrite {
        ScheduleWrite {
            namespace: "default".into(),
            schedule_id: id.into(),
            record: record.map(str::to_owned),
        }
    }

    async fn load(store: &dyn Store) -> Snapshot {
        match store.load().await {
            Ok(Ok(snapshot)) => snapshot,
            _ => panic!("load failed"),
        }
    }

    async fn check(store: &dyn Store) {
        let batch = Batch {
            namespaces: vec![("default".into(), "{}".into())],
            runs: vec![run_write("a", "s1", &[(1, b"e1"), (2, b"e2")])],
            settings: vec![("k".into(), "1".into())],
            schedules: vec![
                schedule_write("s1", Some("one")),
                schedule_write("s2", Some("two")),
            ],
        };
        store
            .commit(batch)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("commit"));
        let second = Batch {
            namespaces: vec![],
            runs: vec![
                run_write("a", "s2", &[(3, b"e3")]),
                run_write("b", "t1", &[(1, b"f1")]),
            ],
            settings: vec![("k".into(), "2".into())],
            schedules: vec![
                schedule_write("s1", Some("uno")),
                schedule_write("s2", None),
            ],
        };
        store
            .commit(second)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("commit"));
        let snapshot = load(store).await;
        assert_eq!(
            snapshot.namespaces.get("default").map(String::as_str),
            Some("{}")
        );
        assert_eq!(snapshot.settings.get("k").map(String::as_str), Some("2"));
        assert_eq!(
            snapshot.schedules,
            vec![("default".into(), "s1".into(), "uno".into())],
            "s1 replaced, s2 deleted"
        );
        let mut runs = snapshot.runs;
        runs.sort_by(|x, y| x.record.run_id.cmp(&y.record.run_id));
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].record.state, "s2");
        assert_eq!(runs[0].record.buffered, vec![7]);
        assert_eq!(
            runs[0].events,
            vec![b"e1".to_vec(), b"e2".to_vec(), b"e3".to_vec()]
        );
        assert_eq!(runs[1].events, vec![b"f1".to_vec()]);

        // Closing "a" and starting its successor under the same workflow id: "a" leaves the
        // snapshot but stays readable, and the newest run of the id is the successor.
        let mut closed = run_write("a", "s3", &[(4, b"e4")]);
        closed.record.closed_info = Some(b"info-a".to_vec());
        let mut successor = run_write("c", "u1", &[(1, b"g1")]);
        successor.record.workflow_id = "wf-a".into();
        let third = Batch {
            namespaces: vec![],
            runs: vec![closed, successor],
            ..Batch::default()
        };
        store
            .commit(third)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("commit"));
        let open: Vec<String> = load(store)
            .await
            .runs
            .into_iter()
            .map(|r| r.record.run_id)
            .collect();
        assert!(
            !open.contains(&"a".to_owned()),
            "closed run loaded: {open:?}"
        );
        let a = store
            .read_run("a")
            .unwrap_or_else(|e| panic!("read: {e}"))
            .unwrap_or_else(|| panic!("closed run a not readable"));
        assert_eq!(a.record.state, "s3");
        assert_eq!(a.events.len(), 4);
        assert_eq!(
            store
                .latest_run("default", "wf-a")
                .ok()
                .flatten()
                .as_deref(),
            Some("c")
        );
        assert_eq!(store.latest_run("default", "nope").ok().flatten(), None);
        assert_eq!(
            store.read_run("nope").ok().flatten().map(|r| r.events),
            None
        );
        let infos = store
            .closed_infos("default")
            .unwrap_or_else(|e| panic!("closed infos: {e}"));
        assert_eq!(
            infos,
            vec![ClosedInfo {
                run_id: "a".into(),
                info: b"info-a".to_vec()
            }]
        );
        assert!(store.closed_infos("other").is_ok_and(|v| v.is_empty()));
    }

    #[tokio::test]
    async fn memory_store() {
        check(&MemoryStore::default()).await;
    }

    #[tokio::test]
    async fn postgres_store_survives_reopen() {
        let server = workflow_testkit::PostgresServer::start();
        let url = server.create_database("conformance");
        {
            let store = PostgresStore::open(&url, std::time::Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("open: {e}"));
            check(&store).await;
        }
        let reopened = PostgresStore::open(&url, std::time::Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("reopen: {e}"));
        let snapshot = load(&reopened).await;
        assert_eq!(snapshot.runs.len(), 2, "b and c are open");
        assert_eq!(snapshot.settings.get("k").map(String::as_str), Some("2"));
        assert!(reopened.read_run("a").is_ok_and(|r| r.is_some()));
    }

    #[tokio::test]
    async fn sqlite_store_survives_reopen() {
        let path = std::env::temp_dir().join(format!("engine-store-{}.db", uuid::Uuid::new_v4()));
        {
            let store = SqliteStore::open(&path).unwrap_or_else(|e| panic!("open: {e}"));
            check(&store).await;
        }
        let reopened = SqliteStore::open(&path).unwrap_or_else(|e| panic!("reopen: {e}"));
        match SqliteStore::open(&path) {
            Err(e @ StoreError::FileInUse { .. }) => {
                assert!(e.to_string().contains(&path.display().to_string()), "{e}");
            }
            other => panic!("a second store opened the same file: {other:?}"),
        }
        let snapshot = load(&reopened).await;
        assert_eq!(snapshot.runs.len(), 2, "b and c are open");
        assert_eq!(snapshot.settings.get("k").map(String::as_str), Some("2"));
        assert!(reopened.read_run("a").is_ok_and(|r| r.is_some()));
        drop(reopened);
        remove_database(&path);
    }
}
