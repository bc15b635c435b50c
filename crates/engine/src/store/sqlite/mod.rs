//! The SQLite backend: one file in WAL mode, a versioned schema (`PRAGMA user_version`)
//! and one writer thread that owns the connection. Commits queued while a transaction runs
//! are written together in the next one (group commit); each caller is answered only after
//! its transaction is durable (`synchronous = FULL`). Reads of closed runs use a second,
//! read-only connection, which WAL lets run beside the writer. The engine is not clustered:
//! the store holds an exclusive `flock` on the file for its lifetime, so a second engine on
//! the same file refuses to start instead of corrupting the first one's view.
//!
//! A file that is not an engine database (another program's tables, another application id)
//! or not SQLite at all stops the engine at start, naming the file, and is never written.
//! When the disk fills up the writer keeps the group it could not write and tries it again
//! until there is room: nothing is lost or acknowledged early, and [`Store::stalled`] lets
//! the engine tell callers that the disk is full.
//!
//! Visibility is answered in SQL (`visibility.rs`): closed runs' type, status and times are
//! indexed columns, pages are keyset ranges and unfiltered counts read per-status counters
//! that triggers keep; the schema and its migrations are in `schema.rs`.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread,
    time::Duration,
};

use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use schema::{APPLICATION_ID, check_ours, migrate};

mod schema;
mod visibility;

use super::{
    Batch, ClosedInfo, Commit, Load, RunRecord, Snapshot, Store, StoreError, StoredRun,
    visibility::{ClosedQuery, Columns},
    writer_thread::{WriterRequest, WriterThread},
};

/// The most commits written in one transaction.
const MAX_GROUP: usize = 256;

/// Free pages above which the writer gives space back to the file system after a delete:
/// below it, freed pages are simply reused by the next writes.
const RECLAIM_ABOVE_PAGES: i64 = 1024;

/// The most free pages given back after one group, so a large delete does not hold the
/// writer for long.
const RECLAIM_STEP_PAGES: i64 = 2048;

/// Between two tries of a write that found the disk full.
const FULL_DISK_RETRY: Duration = Duration::from_millis(200);

/// What the writer thread tells the store's other side.
#[derive(Debug, Default)]
struct WriterState {
    /// The last write found the disk full; the group waits to be written again.
    disk_full: AtomicBool,
    /// The store is closing: stop retrying and answer what is left.
    closing: AtomicBool,
}

/// A SQLite file with a dedicated writer thread.
#[derive(Debug)]
pub(crate) struct SqliteStore {
    /// First, so that it drops first: the writer finishes before the lock below is released.
    writer: WriterThread,
    path: PathBuf,
    /// Point reads of runs that are no longer in memory, and visibility pages and counts.
    reader: Mutex<Connection>,
    /// The page cache of each connection, in KiB.
    cache_kib: usize,
    state: Arc<WriterState>,
    /// Held for the store's lifetime (released after the writer has finished).
    _lock: std::fs::File,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Runs before the fields drop: a writer waiting for disk space gives up, so that
        // joining it cannot hang.
        self.state.closing.store(true, Ordering::Release);
    }
}

/// SQLite's page cache per connection by default, in KiB (SQLite's own default).
pub(crate) const DEFAULT_PAGE_CACHE_KIB: usize = 2048;

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `path`, with SQLite's
    /// default page cache.
    #[cfg(test)]
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(path, DEFAULT_PAGE_CACHE_KIB)
    }

    /// Opens (creating if needed) and migrates the database at `path`, with a page cache of
    /// at most `cache_kib` KiB for each of the store's connections (the writer, the point reader, a scan while it runs).
    pub(crate) fn open_with_cache(path: &Path, cache_kib: usize) -> Result<Self, StoreError> {
        let lock = lock(path)?;
        let unreadable = |source| StoreError::Unreadable {
            path: path.to_owned(),
            source,
        };
        let mut conn = Connection::open(path).map_err(unreadable)?;
        // Before anything writes: is this file SQLite, and ours?
        check_ours(&conn, path)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(unreadable)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Only a file without tables can take it; older files keep reusing freed pages
        // without giving them back.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        set_cache(&conn, cache_kib)?;
        migrate(&mut conn)
            .and_then(|()| schema::backfill(&mut conn))
            .map_err(|e| match e {
                StoreError::Sqlite(source) => unreadable(source),
                other => other,
            })?;
        conn.pragma_update(None, "application_id", APPLICATION_ID)?;
        let reader = open_reader(path, cache_kib)?;
        let (tx, rx) = mpsc::channel();
        let state = Arc::new(WriterState::default());
        let writer = Writer {
            conn,
            path: path.to_owned(),
            state: Arc::clone(&state),
        };
        let writer = thread::Builder::new()
            .name("engine-sqlite-writer".into())
            .spawn(move || writer.run(&rx))
            .map_err(|_| StoreError::Closed)?;
        Ok(Self {
            writer: WriterThread::new(tx, writer),
            path: path.to_owned(),
            reader: Mutex::new(reader),
            cache_kib,
            state,
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

    fn stalled(&self) -> Option<StoreError> {
        self.state
            .disk_full
            .load(Ordering::Acquire)
            .then(|| StoreError::DiskFull {
                path: self.path.clone(),
            })
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
        // Rowids grow with every insert (a deleted largest rowid may be given again, but
        // only above every row left), so the largest is the run created last.
        let mut stmt = conn.prepare_cached(
            "SELECT run_id FROM runs WHERE namespace = ?1 AND workflow_id = ?2
             ORDER BY rowid DESC LIMIT 1",
        )?;
        let mut rows = stmt.query_map(params![namespace, workflow_id], |row| row.get(0))?;
        Ok(rows.next().transpose()?)
    }

    fn expired(
        &self,
        namespace: &str,
        closed: std::ops::Range<i64>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let conn = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let mut stmt = conn.prepare_cached(
            "SELECT run_id FROM runs
             WHERE namespace = ?1 AND closed_info IS NOT NULL
               AND close_ms >= ?2 AND close_ms < ?3
             ORDER BY close_ms LIMIT ?4",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![namespace, closed.start, closed.end, limit], |row| {
            row.get(0)
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn closed_infos(&self, namespace: &str) -> Result<Vec<ClosedInfo>, StoreError> {
        // A connection of its own, so a long scan does not hold up point reads.
        let conn = open_reader(&self.path, self.cache_kib)?;
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

    fn query_closed(&self, query: &ClosedQuery) -> Result<Option<Vec<ClosedInfo>>, StoreError> {
        let conn = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        visibility::query_closed(&conn, query).map(Some)
    }

    fn count_closed(&self, query: &ClosedQuery) -> Result<Option<Vec<(i32, i64)>>, StoreError> {
        let conn = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        visibility::count_closed(&conn, query).map(Some)
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

fn open_reader(path: &Path, cache_kib: usize) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    set_cache(&conn, cache_kib)?;
    Ok(conn)
}

/// Bounds a connection's page cache (a negative `cache_size` is in KiB).
fn set_cache(conn: &Connection, cache_kib: usize) -> Result<(), StoreError> {
    let kib = i64::try_from(cache_kib).unwrap_or(i64::MAX);
    conn.pragma_update(None, "cache_size", -kib)?;
    Ok(())
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

/// The writer thread: it owns the connection.
struct Writer {
    conn: Connection,
    path: PathBuf,
    state: Arc<WriterState>,
}

type Reply = oneshot::Sender<Result<(), StoreError>>;

impl Writer {
    fn run(mut self, requests: &mpsc::Receiver<WriterRequest>) {
        while let Ok(first) = requests.recv() {
            let mut group = Vec::new();
            let mut pending = Some(first);
            while let Some(request) = pending.take() {
                match request {
                    WriterRequest::Load(reply) => {
                        self.flush(std::mem::take(&mut group));
                        let loaded = load(&self.conn).map_err(|e| match e {
                            StoreError::Sqlite(source) => StoreError::Unreadable {
                                path: self.path.clone(),
                                source,
                            },
                            other => other,
                        });
                        let _ = reply.send(loaded);
                    }
                    WriterRequest::Commit(batch, reply) => group.push((*batch, reply)),
                }
                if group.len() < MAX_GROUP {
                    pending = requests.try_recv().ok();
                }
            }
            self.flush(group);
        }
    }

    /// Writes a group of batches in one transaction and answers every caller; while the
    /// disk is full, tries again until there is room (or the store closes).
    fn flush(&mut self, group: Vec<(Batch, Reply)>) {
        if group.is_empty() {
            return;
        }
        let result = loop {
            match write_all(&mut self.conn, group.iter().map(|(batch, _)| batch)) {
                Err(e) if disk_full(&e) && !self.state.closing.load(Ordering::Acquire) => {
                    if !self.state.disk_full.swap(true, Ordering::AcqRel) {
                        tracing::error!(
                            database = %self.path.display(),
                            queued = group.len(),
                            "the disk holding the database is full; keeping the changes and trying again until there is room"
                        );
                    }
                    thread::sleep(FULL_DISK_RETRY);
                }
                other => break other,
            }
        };
        if result.is_ok()
            && group
                .iter()
                .any(|(b, _)| !b.deleted_runs.is_empty() || !b.deleted_namespaces.is_empty())
            && let Err(e) = reclaim(&self.conn, &self.path)
        {
            tracing::warn!(database = %self.path.display(), "could not give free pages back: {e}");
        }
        if result.is_ok() && self.state.disk_full.swap(false, Ordering::AcqRel) {
            tracing::info!(database = %self.path.display(), "there is room on the disk again; writes carry on");
        }
        for (_, reply) in group {
            let outcome = match &result {
                Ok(()) => Ok(()),
                Err(e) if disk_full(e) => Err(StoreError::DiskFull {
                    path: self.path.clone(),
                }),
                Err(e) => Err(StoreError::Failed(e.to_string())),
            };
            let _ = reply.send(outcome);
        }
    }
}

fn disk_full(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
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
        // A closed run's visibility columns; the triggers count it once it closes.
        let mut run = tx.prepare_cached(
            "INSERT INTO runs (run_id, namespace, workflow_id, state, buffered, closed_info,
                              workflow_type, status, start_ms, close_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (run_id) DO UPDATE SET state = excluded.state,
                                                buffered = excluded.buffered,
                                                closed_info = excluded.closed_info,
                                                workflow_type = excluded.workflow_type,
                                                status = excluded.status,
                                                start_ms = excluded.start_ms,
                                                close_ms = excluded.close_ms",
        )?;
        let mut forget_events = tx.prepare_cached("DELETE FROM events WHERE run_id = ?1")?;
        let mut forget_run = tx.prepare_cached("DELETE FROM runs WHERE run_id = ?1")?;
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
                let c = r.closed_info.as_deref().and_then(Columns::of);
                run.execute(params![
                    r.run_id,
                    r.namespace,
                    r.workflow_id,
                    r.state,
                    r.buffered,
                    r.closed_info,
                    c.as_ref().map(|c| c.workflow_type.as_str()),
                    c.as_ref().map(|c| c.status),
                    c.as_ref().map(|c| c.start_ms),
                    c.as_ref().and_then(|c| c.close_ms),
                ])?;
                for (id, data) in &write.new_events {
                    event.execute(params![r.run_id, id, data])?;
                }
            }
            for run_id in &batch.deleted_runs {
                forget_events.execute([run_id])?;
                forget_run.execute([run_id])?;
            }
            for name in &batch.deleted_namespaces {
                tx.execute(
                    "DELETE FROM events WHERE run_id IN
                         (SELECT run_id FROM runs WHERE namespace = ?1)",
                    [name],
                )?;
                tx.execute("DELETE FROM runs WHERE namespace = ?1", [name])?;
                tx.execute("DELETE FROM schedules WHERE namespace = ?1", [name])?;
                tx.execute("DELETE FROM namespaces WHERE name = ?1", [name])?;
            }
        }
    }
    tx.commit()
}

/// After deletions: gives free pages back to the file system in bounded steps once there
/// are many (a file created before incremental vacuum only reuses them).
fn reclaim(conn: &Connection, path: &Path) -> Result<(), rusqlite::Error> {
    let free: i64 = conn.pragma_query_value(None, "freelist_count", |row| row.get(0))?;
    if free <= RECLAIM_ABOVE_PAGES {
        return Ok(());
    }
    let mode: i64 = conn.pragma_query_value(None, "auto_vacuum", |row| row.get(0))?;
    // 2: incremental.
    if mode != 2 {
        return Ok(());
    }
    let step = free.min(RECLAIM_STEP_PAGES);
    conn.execute_batch(&format!("PRAGMA incremental_vacuum({step})"))?;
    tracing::debug!(database = %path.display(), free, step, "gave free pages back");
    Ok(())
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
            conn.execute_batch(schema::MIGRATIONS[0])
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
        assert_eq!(version, 5);
        drop(store);
        crate::store::conformance::remove_database(&path);
    }
}
