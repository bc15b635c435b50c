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
//! `visibility` holds the conditions a store may evaluate itself and `sql` lowers them to
//! SQL for both SQL stores; `conformance` runs the same checks against every backend.

mod memory;
mod postgres;
mod sql;
mod sqlite;
pub(crate) mod visibility;
mod writer_thread;

use std::collections::BTreeMap;

pub(crate) use memory::MemoryStore;
pub(crate) use postgres::{PostgresStore, redact_url};
pub(crate) use sqlite::{DEFAULT_PAGE_CACHE_KIB, SqliteStore};
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
    /// Runs to delete, with their history and visibility record; written after `runs`.
    pub(crate) deleted_runs: Vec<String>,
    /// Namespaces to delete with every run, event and schedule of theirs; written last.
    pub(crate) deleted_namespaces: Vec<String>,
}

impl Batch {
    pub(crate) fn is_empty(&self) -> bool {
        self.namespaces.is_empty()
            && self.runs.is_empty()
            && self.settings.is_empty()
            && self.schedules.is_empty()
            && self.deleted_runs.is_empty()
            && self.deleted_namespaces.is_empty()
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
    /// Up to `limit` closed runs of `namespace` whose close time (ms) is in `closed`, oldest
    /// first: the runs a retention has expired.
    fn expired(
        &self,
        namespace: &str,
        closed: std::ops::Range<i64>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError>;
    /// How many closed runs `query` matches, by status; `None` when this store cannot.
    fn count_closed(
        &self,
        _query: &visibility::ClosedQuery,
    ) -> Result<Option<Vec<(i32, i64)>>, StoreError> {
        Ok(None)
    }
}

#[cfg(test)]
pub(crate) mod conformance;
