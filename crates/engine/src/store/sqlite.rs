//! The SQLite backend: one file in WAL mode, a versioned schema (`PRAGMA user_version`)
//! and one writer thread that owns the connection. Commits queued while a transaction runs
//! are written together in the next one (group commit); each caller is answered only after
//! its transaction is durable (`synchronous = FULL`).

use std::{
    collections::BTreeMap,
    path::Path,
    sync::{Mutex, mpsc},
    thread,
};

use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use super::{Batch, Commit, Load, RunRecord, Snapshot, Store, StoreError, StoredRun};

/// Schema migrations; migration `i` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &["
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
"];

/// The most commits written in one transaction.
const MAX_GROUP: usize = 256;

enum Request {
    Commit(Batch, oneshot::Sender<Result<(), StoreError>>),
    Load(oneshot::Sender<Result<Snapshot, StoreError>>),
}

/// A SQLite file with a dedicated writer thread.
#[derive(Debug)]
pub(crate) struct SqliteStore {
    requests: Mutex<Option<mpsc::Sender<Request>>>,
    writer: Mutex<Option<thread::JoinHandle<()>>>,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn)?;
        let (tx, rx) = mpsc::channel();
        let writer = thread::Builder::new()
            .name("engine-sqlite-writer".into())
            .spawn(move || writer_loop(conn, &rx))
            .map_err(|_| StoreError::Closed)?;
        Ok(Self {
            requests: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
        })
    }

    fn send(&self, request: Request) -> Result<(), Request> {
        let guard = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(tx) => tx.send(request).map_err(|e| e.0),
            None => Err(request),
        }
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the channel lets the writer finish queued commits and exit.
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(writer) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = writer.join();
        }
    }
}

impl Store for SqliteStore {
    fn load(&self) -> Load {
        let (tx, rx) = oneshot::channel();
        if let Err(Request::Load(tx)) = self.send(Request::Load(tx)) {
            let _ = tx.send(Err(StoreError::Closed));
        }
        rx
    }

    fn commit(&self, batch: Batch) -> Commit {
        let (tx, rx) = oneshot::channel();
        if let Err(Request::Commit(_, tx)) = self.send(Request::Commit(batch, tx)) {
            let _ = tx.send(Err(StoreError::Closed));
        }
        rx
    }
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

fn writer_loop(mut conn: Connection, requests: &mpsc::Receiver<Request>) {
    while let Ok(first) = requests.recv() {
        let mut group = Vec::new();
        let mut pending = Some(first);
        while let Some(request) = pending.take() {
            match request {
                Request::Load(reply) => {
                    flush(&mut conn, std::mem::take(&mut group));
                    let _ = reply.send(load(&conn));
                }
                Request::Commit(batch, reply) => group.push((batch, reply)),
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
            "INSERT INTO runs (run_id, namespace, workflow_id, state, buffered)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (run_id) DO UPDATE SET state = excluded.state,
                                                buffered = excluded.buffered",
        )?;
        let mut event = tx.prepare_cached(
            "INSERT OR REPLACE INTO events (run_id, event_id, data) VALUES (?1, ?2, ?3)",
        )?;
        for batch in batches {
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
                    r.buffered
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
    let mut runs = Vec::new();
    let mut stmt =
        conn.prepare("SELECT run_id, namespace, workflow_id, state, buffered FROM runs")?;
    let records = stmt.query_map([], |row| {
        Ok(RunRecord {
            run_id: row.get(0)?,
            namespace: row.get(1)?,
            workflow_id: row.get(2)?,
            state: row.get(3)?,
            buffered: row.get(4)?,
        })
    })?;
    let mut events = conn.prepare("SELECT data FROM events WHERE run_id = ?1 ORDER BY event_id")?;
    for record in records {
        let record = record?;
        let data = events
            .query_map([&record.run_id], |row| row.get::<_, Vec<u8>>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        runs.push(StoredRun {
            record,
            events: data,
        });
    }
    Ok(Snapshot { namespaces, runs })
}
