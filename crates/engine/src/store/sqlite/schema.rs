//! The SQLite schema, versioned with `PRAGMA user_version`: migration `i` brings a file from
//! version `i` to `i + 1`, each in its own transaction. Also the check that a file is ours
//! before anything writes to it, and the filling in of visibility columns for closed runs
//! written before those columns existed.

use std::path::Path;

use rusqlite::{Connection, params};

use crate::store::{StoreError, visibility::Columns};

/// Schema migrations; migration `i` brings the schema from version `i` to `i + 1`.
pub(super) const MIGRATIONS: &[&str] = &[
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
    // Visibility in SQL: a closed run's type, status and times as columns, indexed for the
    // list order (start time, run id) and the common filters; closed runs counted per
    // namespace and status by triggers, so an unfiltered count reads a few rows. Rows closed
    // before this version are filled in right after the migrations (see `backfill`).
    "
    ALTER TABLE runs ADD COLUMN workflow_type TEXT;
    ALTER TABLE runs ADD COLUMN status INTEGER;
    ALTER TABLE runs ADD COLUMN start_ms INTEGER;
    ALTER TABLE runs ADD COLUMN close_ms INTEGER;
    CREATE INDEX runs_closed_by_start ON runs (namespace, start_ms, run_id)
        WHERE closed_info IS NOT NULL;
    CREATE INDEX runs_closed_by_type ON runs (namespace, workflow_type, start_ms, run_id)
        WHERE closed_info IS NOT NULL;
    CREATE INDEX runs_closed_by_status ON runs (namespace, status, start_ms, run_id)
        WHERE closed_info IS NOT NULL;
    CREATE INDEX runs_closed_by_close ON runs (namespace, close_ms)
        WHERE closed_info IS NOT NULL;
    CREATE TABLE closed_counts (
        namespace TEXT NOT NULL,
        status    INTEGER NOT NULL,
        count     INTEGER NOT NULL,
        PRIMARY KEY (namespace, status)
    ) WITHOUT ROWID;
    CREATE TRIGGER runs_count_insert AFTER INSERT ON runs
        WHEN NEW.closed_info IS NOT NULL AND NEW.status IS NOT NULL
    BEGIN
        INSERT INTO closed_counts (namespace, status, count) VALUES (NEW.namespace, NEW.status, 1)
            ON CONFLICT (namespace, status) DO UPDATE SET count = count + 1;
    END;
    CREATE TRIGGER runs_count_enter AFTER UPDATE OF closed_info, status, namespace ON runs
        WHEN NEW.closed_info IS NOT NULL AND NEW.status IS NOT NULL
         AND NOT (OLD.closed_info IS NOT NULL AND OLD.status IS NOT NULL
                  AND OLD.status = NEW.status AND OLD.namespace = NEW.namespace)
    BEGIN
        INSERT INTO closed_counts (namespace, status, count) VALUES (NEW.namespace, NEW.status, 1)
            ON CONFLICT (namespace, status) DO UPDATE SET count = count + 1;
    END;
    CREATE TRIGGER runs_count_leave AFTER UPDATE OF closed_info, status, namespace ON runs
        WHEN OLD.closed_info IS NOT NULL AND OLD.status IS NOT NULL
         AND NOT (NEW.closed_info IS NOT NULL AND NEW.status IS NOT NULL
                  AND OLD.status = NEW.status AND OLD.namespace = NEW.namespace)
    BEGIN
        UPDATE closed_counts SET count = count - 1
            WHERE namespace = OLD.namespace AND status = OLD.status;
    END;
    CREATE TRIGGER runs_count_delete AFTER DELETE ON runs
        WHEN OLD.closed_info IS NOT NULL AND OLD.status IS NOT NULL
    BEGIN
        UPDATE closed_counts SET count = count - 1
            WHERE namespace = OLD.namespace AND status = OLD.status;
    END;
",
];

/// `PRAGMA application_id` of an engine database ("WFEN"), so another program's SQLite file
/// is told apart from ours.
pub(super) const APPLICATION_ID: i32 = 0x5746_454E;

/// The tables every engine database has.
const OUR_TABLES: &[&str] = &["namespaces", "runs", "events"];

pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
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

/// Refuses a file that is not SQLite, or is another program's database, before anything
/// is written to it.
pub(super) fn check_ours(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let unreadable = |source| StoreError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .map_err(unreadable)?;
    let tables = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(unreadable)?;
    let application: i32 = conn
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(unreadable)?;
    let has_ours = OUR_TABLES.iter().all(|t| tables.iter().any(|n| n == t));
    let foreign_id = application != 0 && application != APPLICATION_ID;
    if foreign_id || (!tables.is_empty() && !has_ours) {
        let mut listed = tables
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if foreign_id {
            listed = format!("{listed} (application id {application:#x})");
        }
        return Err(StoreError::NotOurs {
            path: path.to_owned(),
            tables: listed,
        });
    }
    Ok(())
}

/// Fills the visibility columns of closed runs written before they existed; the counting
/// triggers count each as it is filled in.
pub(super) fn backfill(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    let mut filled = 0_usize;
    {
        let mut select = tx.prepare(
            "SELECT run_id, closed_info FROM runs
             WHERE closed_info IS NOT NULL AND start_ms IS NULL",
        )?;
        let rows = select
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut update = tx.prepare(
            "UPDATE runs SET workflow_type = ?2, status = ?3, start_ms = ?4, close_ms = ?5
             WHERE run_id = ?1",
        )?;
        for (run_id, info) in rows {
            let Some(c) = Columns::of(&info) else {
                tracing::error!(run_id, "unreadable visibility record; left out of lists");
                continue;
            };
            update.execute(params![
                run_id,
                c.workflow_type,
                c.status,
                c.start_ms,
                c.close_ms
            ])?;
            filled += 1;
        }
    }
    tx.commit()?;
    if filled > 0 {
        tracing::info!(runs = filled, "filled in visibility columns");
    }
    Ok(())
}
