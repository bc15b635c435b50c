//! The SQLite backend: one file in WAL mode, a versioned schema (`PRAGMA user_version`)
//! and one writer thread that owns the connection. Commits queued while a transaction runs
//! are written together in the next one (group commit); each caller is answered only after
//! its transaction is durable (`synchronous = FULL`). Reads of closed runs use a second,
//! read-only connection, which WAL lets run beside the writer. The engine is not clustered:
//! the store holds an exclusive `flock` on the file for its lifetime, so a second engine on
//! the same file refuses to start instead of corrupting the first one's view.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{Mutex, mpsc},
    thread,
};

use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use super::{
    Batch, ClosedInfo, Commit, Load, RunRecord, Snapshot, Store, StoreError, StoredRun,
    writer_thread::{WriterRequest, WriterThread},
};

/// Schema migrations; migration `i` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE namespaces (
        name   TEXT PRIMARY KEY,
        record TEXT NOT NULL
    );
    CREATE TABLE runs (
        run_id      TEXT PRIMARY KEY,
        namespace   TEXT NOT NULL,
        workflow_id TEXT NOT NULL,
        state       TEXT NOT NULL,
        buffered    BLOB NOT NULL
    );
    CREATE TABLE events (
        run_id   TEXT NOT NULL,
        event_id INTEGER NOT NULL,
        data     BLOB NOT NULL,
        PRIMARY KEY (run_id, event_id)
    ) WITHOUT ROWID;
",
    // Closed runs leave memory: record what visibility needs, and find runs by workflow id.
    // Runs closed under version 1 keep a NULL `closed_info` until the engine loads them at
    // start and writes it.
    "
    ALTER TABLE runs ADD COLUMN closed_info BLOB;
    CREATE INDEX runs_by_workflow ON runs (namespace, workflow_id);
    CREATE INDEX runs_open ON runs (run_id) WHERE closed_info IS NULL;
",
    // Server-wide settings: the clock's offset (time skipped so far).
    "
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
",
    // Schedules: one JSON record each (spec, policies, state, what fired last).
    "
    CREATE TABLE schedules (
        namespace   TEXT NOT NULL,
        schedule_id TEXT NOT NULL,
        record      TEXT NOT NULL,
        PRIMARY KEY (namespace, schedule_id)
    ) WITHOUT ROWID;
",
];

/// The most commits written in one transaction.
const MAX_GROUP: usize = 256;

/// A SQLite file with a dedicated writer thread.
#[derive(Debug)]
pub(crate) struct SqliteStore {
    /// First, so that it drops first: the writer finishes before the lock below is released.
    writer: WriterThread,
    path: PathBuf,
    /// Point reads of runs that are no longer in memory.
    reader: Mutex<Connection>,
    /// Held for the store's lifetime (released after the writer has finished).
    _lock: std::fs::File,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let lock = lock(path)?;
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn)?;
        let reader = open_reader(path)?;
        let (tx, rx) = mpsc::channel();
        let writer = thread::Builder::new()
            .name("engine-sqlite-writer".into())
            .spawn(move || writer_loop(conn, &rx))
            .map_err(|_| StoreError::Closed)?;
        Ok(Self {
            writer: WriterThread::new(tx, writer),
            path: path.to_owned(),
            reader: Mutex::new(reader),
            _lock: lock,
        })
    }
}

impl Store for SqliteStore {
    fn load(&self) -> Load {
        self.writer.load()
    }

    fn commit(&self, batch: Batch) -> Commit {
        self.writer.commit(batch)
    }

    fn read_run(&self, run_id: &str) -> Result<Option<StoredRun>, StoreError> {
        let conn = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let mut stmt = conn.prepare_cached(
            "SELECT run_id, namespace, workflow_id, state, buffered, closed_info
             FROM runs WHERE run_id = ?1",
        )?;
        let mut rows = stmt.query_map([run_id], run_record)?;
        let Some(record) = rows.next().transpose()? else {
            return Ok(None);
        };
        let events = read_events(&conn, run_id)?;
        Ok(Some(StoredRun { record, events }))
    }

    fn latest_run(&self, namespace: &str, workflow_id: &str) -> Result<Option<String>, StoreError> {
        let conn = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        // Rows are never deleted, so the largest rowid is the run created last.
        let mut stmt = conn.prepare_cached(
            "SELECT run_id FROM runs WHERE namespace = ?1 AND workflow_id = ?2
             ORDER BY rowid DESC LIMIT 1",
        )?;
        let mut rows = stmt.query_map(params![namespace, workflow_id], |row| row.get(0))?;
        Ok(rows.next().transpose()?)
    }

    fn closed_infos(&self, namespace: &str) -> Result<Vec<ClosedInfo>, StoreError> {
        // A connection of its own, so a long scan does not hold up point reads.
        let conn = open_reader(&self.path)?;
        let mut stmt = conn.prepare(
            "SELECT run_id, closed_info FROM runs
             WHERE namespace = ?1 AND closed_info IS NOT NULL",
        )?;
        let rows = stmt.query_map([namespace], |row| {
            Ok(ClosedInfo {
                run_id: row.get(0)?,
                info: row.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

/// Takes the exclusive lock on the database file (creating it: an empty file is an empty
/// SQLite database). SQLite's own locks are POSIX record locks, which `flock` leaves alone.
fn lock(path: &Path) -> Result<std::fs::File, StoreError> {
    let io = |source| StoreError::LockFile {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::FileInUse {
            path: path.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

fn run_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        run_id: row.get(0)?,
        namespace: row.get(1)?,
        workflow_id: row.get(2)?,
        state: row.get(3)?,
        buffered: row.get(4)?,
        closed_info: row.get(5)?,
    })
}

fn read_events(conn: &Connection, run_id: &str) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT data FROM events WHERE run_id = ?1 ORDER BY event_id")?;
    let events = stmt
        .query_map([run_id], |row| row.get::<_, Vec<u8>>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(events)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let latest = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if version > latest {
        return Err(StoreError::NewerSchema(version));
    }
    for (index, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(version).unwrap_or(0))
    {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    Ok(())
}

fn writer_loop(mut conn: Connection, requests: &mpsc::Receiver<WriterRequest>) {
    while let Ok(first) = requests.recv() {
        let mut group = Vec::new();
        let mut pending = Some(first);
        while let Some(request) = pending.take() {
            match request {
                WriterRequest::Load(reply) => {
                    flush(&mut conn, std::mem::take(&mut group));
                    let _ = reply.send(load(&conn));
                }
                WriterRequest::Commit(batch, reply) => group.push((batch, reply)),
            }
            if group.len() < MAX_GROUP {
                pending = requests.try_recv().ok();
            }
        }
        flush(&mut conn, group);
    }
}

/// Writes a group of batches in one transaction and answers every caller.
fn flush(conn: &mut Connection, group: Vec<(Batch, oneshot::Sender<Result<(), StoreError>>)>) {
    if group.is_empty() {
        return;
    }
    let result = write_all(conn, group.iter().map(|(batch, _)| batch));
    for (_, reply) in group {
        let outcome = match &result {
            Ok(()) => Ok(()),
            Err(e) => Err(StoreError::Failed(e.to_string())),
        };
        let _ = reply.send(outcome);
    }
}

fn write_all<'a>(
    conn: &mut Connection,
    batches: impl Iterator<Item = &'a Batch>,
) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction()?;
    {
        let mut namespace = tx.prepare_cached(
            "INSERT INTO namespaces (name, record) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET record = excluded.record",
        )?;
        let mut run = tx.prepare_cached(
            "INSERT INTO runs (run_id, namespace, workflow_id, state, buffered, closed_info)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (run_id) DO UPDATE SET state = excluded.state,
                                                buffered = excluded.buffered,
                                                closed_info = excluded.closed_info",
        )?;
        let mut event = tx.prepare_cached(
            "INSERT OR REPLACE INTO events (run_id, event_id, data) VALUES (?1, ?2, ?3)",
        )?;
        let mut setting = tx.prepare_cached(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )?;
        let mut schedule = tx.prepare_cached(
            "INSERT INTO schedules (namespace, schedule_id, record) VALUES (?1, ?2, ?3)
             ON CONFLICT (namespace, schedule_id) DO UPDATE SET record = excluded.record",
        )?;
        let mut unschedule =
            tx.prepare_cached("DELETE FROM schedules WHERE namespace = ?1 AND schedule_id = ?2")?;
        for batch in batches {
            for write in &batch.schedules {
                match &write.record {
                    Some(record) => {
                        schedule.execute(params![write.namespace, write.schedule_id, record])?
                    }
                    None => unschedule.execute(params![write.namespace, write.schedule_id])?,
                };
            }
            for (key, value) in &batch.settings {
                setting.execute(params![key, value])?;
            }
            for (name, record) in &batch.namespaces {
                namespace.execute(params![name, record])?;
            }
            for write in &batch.runs {
                let r = &write.record;
                run.execute(params![
                    r.run_id,
                    r.namespace,
                    r.workflow_id,
                    r.state,
                    r.buffered,
                    r.closed_info
                ])?;
                for (id, data) in &write.new_events {
                    event.execute(params![r.run_id, id, data])?;
                }
            }
        }
    }
    tx.commit()
}

fn load(conn: &Connection) -> Result<Snapshot, StoreError> {
    let mut namespaces = BTreeMap::new();
    let mut stmt = conn.prepare("SELECT name, record FROM namespaces")?;
    let rows = stmt.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    for row in rows {
        let (name, record) = row?;
        namespaces.insert(name, record);
    }
    let mut settings = BTreeMap::new();
    let mut stmt = conn.prepare("SELECT key, value FROM settings")?;
    let rows = stmt.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    for row in rows {
        let (key, value) = row?;
        settings.insert(key, value);
    }
    let mut stmt = conn.prepare(
        "SELECT namespace, schedule_id, record FROM schedules ORDER BY namespace, schedule_id",
    )?;
    let schedules = stmt
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut stmt = conn.prepare(
        "SELECT run_id, namespace, workflow_id, state, buffered, closed_info
         FROM runs WHERE closed_info IS NULL ORDER BY rowid",
    )?;
    let records = stmt
        .query_map([], run_record)?
        .collect::<Result<Vec<_>, _>>()?;
    let mut runs = Vec::with_capacity(records.len());
    for record in records {
        let events = read_events(conn, &record.run_id)?;
        runs.push(StoredRun { record, events });
    }
    Ok(Snapshot {
        namespaces,
        settings,
        schedules,
        runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_version_1_database_is_migrated_and_its_runs_load() {
        let path = std::env::temp_dir().join(format!("engine-v1-{}.db", uuid::Uuid::new_v4()));
        {
            let conn = Connection::open(&path).unwrap_or_else(|e| panic!("open: {e}"));
            conn.execute_batch(MIGRATIONS[0])
                .unwrap_or_else(|e| panic!("v1 schema: {e}"));
            conn.pragma_update(None, "user_version", 1)
                .unwrap_or_else(|e| panic!("version: {e}"));
            conn.execute(
                "INSERT INTO runs VALUES ('r1', 'default', 'wf', '{}', x'')",
                [],
            )
            .unwrap_or_else(|e| panic!("insert: {e}"));
        }
        let store = SqliteStore::open(&path).unwrap_or_else(|e| panic!("migrate: {e}"));
        let snapshot = match store.load().await {
            Ok(Ok(snapshot)) => snapshot,
            _ => panic!("load failed"),
        };
        // Version 1 did not mark closed runs: every run comes back for the engine to sort.
        assert_eq!(snapshot.runs.len(), 1);
        assert_eq!(snapshot.runs[0].record.closed_info, None);
        assert_eq!(
            store.latest_run("default", "wf").ok().flatten().as_deref(),
            Some("r1")
        );
        let version: i64 = store
            .reader
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap_or_else(|e| panic!("version: {e}"));
        assert_eq!(version, 4);
        drop(store);
        crate::store::conformance::remove_database(&path);
    }
}
