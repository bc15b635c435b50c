//! The PostgreSQL schema, versioned: `engine_schema` holds the version, and migration `i`
//! brings a database from version `i` to `i + 1`, each in its own transaction (DDL is
//! transactional in PostgreSQL, so a failed migration leaves the previous version).

use postgres::Client;

use crate::store::{StoreError, visibility::Columns};

/// Schema migrations, oldest first.
pub(super) const MIGRATIONS: &[&str] = &[
    // `seq` orders runs by creation (the newest run of a workflow id, open runs oldest
    // first at load); upserts never change it. `settings`: server-wide values such as the
    // clock's offset (time skipped so far).
    "
    CREATE TABLE namespaces (
        name   TEXT PRIMARY KEY,
        record TEXT NOT NULL
    );
    CREATE TABLE runs (
        seq         BIGINT GENERATED ALWAYS AS IDENTITY,
        run_id      TEXT PRIMARY KEY,
        namespace   TEXT NOT NULL,
        workflow_id TEXT NOT NULL,
        state       TEXT NOT NULL,
        buffered    BYTEA NOT NULL,
        closed_info BYTEA
    );
    CREATE INDEX runs_by_workflow ON runs (namespace, workflow_id, seq);
    CREATE INDEX runs_open ON runs (seq) WHERE closed_info IS NULL;
    CREATE TABLE events (
        run_id   TEXT NOT NULL,
        event_id BIGINT NOT NULL,
        data     BYTEA NOT NULL,
        PRIMARY KEY (run_id, event_id)
    );
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    ",
    // Visibility in SQL: a closed run's type, status and times as columns, indexed for the
    // list order (start time, run id) and for the common filters. Rows closed under version
    // 1 are filled in from their `closed_info` right after this migration (see `backfill`).
    "
    ALTER TABLE runs ADD COLUMN workflow_type TEXT,
                     ADD COLUMN status INTEGER,
                     ADD COLUMN start_ms BIGINT,
                     ADD COLUMN close_ms BIGINT;
    CREATE INDEX runs_closed_by_start ON runs (namespace, start_ms, run_id COLLATE \"C\")
        WHERE closed_info IS NOT NULL;
    CREATE INDEX runs_closed_by_type ON runs (namespace, workflow_type, start_ms)
        WHERE closed_info IS NOT NULL;
    CREATE INDEX runs_closed_by_status ON runs (namespace, status, start_ms)
        WHERE closed_info IS NOT NULL;
    CREATE INDEX runs_closed_by_close ON runs (namespace, close_ms)
        WHERE closed_info IS NOT NULL;
    ",
    // Closed runs counted per namespace and status as they close, so an unfiltered count
    // reads a few rows instead of every closed run. Statistics refreshed after 2% of new
    // rows rather than 10%, so the planner keeps choosing the page-sized plans while the
    // table grows fast.
    "
    ALTER TABLE runs SET (autovacuum_analyze_scale_factor = 0.02,
                          autovacuum_analyze_threshold = 500);
    CREATE TABLE closed_counts (
        namespace TEXT NOT NULL,
        status    INTEGER NOT NULL,
        count     BIGINT NOT NULL,
        PRIMARY KEY (namespace, status)
    );
    INSERT INTO closed_counts (namespace, status, count)
        SELECT namespace, status, count(*) FROM runs
        WHERE closed_info IS NOT NULL AND status IS NOT NULL
        GROUP BY namespace, status;
    ",
    // Schedules: one JSON record each (spec, policies, state, what fired last).
    "
    CREATE TABLE schedules (
        namespace   TEXT NOT NULL,
        schedule_id TEXT NOT NULL,
        record      TEXT NOT NULL,
        PRIMARY KEY (namespace, schedule_id)
    );
    ",
];

/// Recounts `closed_counts` from the runs.
const RECOUNT: &str = "
    DELETE FROM closed_counts;
    INSERT INTO closed_counts (namespace, status, count)
        SELECT namespace, status, count(*) FROM runs
        WHERE closed_info IS NOT NULL AND status IS NOT NULL
        GROUP BY namespace, status;
";

/// The version this engine writes.
pub(super) fn latest() -> i64 {
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

/// The database's schema version; 0 for an empty database.
pub(super) fn version(client: &mut Client) -> Result<i64, StoreError> {
    client.batch_execute("CREATE TABLE IF NOT EXISTS engine_schema (version BIGINT NOT NULL)")?;
    let row = client.query_opt("SELECT version FROM engine_schema", &[])?;
    Ok(row.map_or(0, |row| row.get(0)))
}

/// Brings the database to [`latest`]; refuses one written by a newer engine.
pub(super) fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let current = version(client)?;
    if current > latest() {
        return Err(StoreError::NewerSchema(current));
    }
    for (index, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(current).unwrap_or(0))
    {
        let next = i64::try_from(index + 1).unwrap_or(i64::MAX);
        let mut tx = client.transaction()?;
        tx.batch_execute(sql)?;
        tx.execute("DELETE FROM engine_schema", &[])?;
        tx.execute("INSERT INTO engine_schema (version) VALUES ($1)", &[&next])?;
        tx.commit()?;
        tracing::info!(version = next, "migrated the PostgreSQL schema");
    }
    backfill(client)
}

/// Fills the visibility columns of closed runs written before they existed.
fn backfill(client: &mut Client) -> Result<(), StoreError> {
    let rows = client.query(
        "SELECT run_id, closed_info FROM runs
         WHERE closed_info IS NOT NULL AND start_ms IS NULL",
        &[],
    )?;
    if rows.is_empty() {
        return Ok(());
    }
    let mut tx = client.transaction()?;
    let update = tx.prepare(
        "UPDATE runs SET workflow_type = $2, status = $3, start_ms = $4, close_ms = $5
         WHERE run_id = $1",
    )?;
    for row in &rows {
        let run_id: &str = row.get(0);
        let info: &[u8] = row.get(1);
        let Some(c) = Columns::of(info) else {
            tracing::error!(run_id, "unreadable visibility record; left out of lists");
            continue;
        };
        tx.execute(
            &update,
            &[
                &run_id,
                &c.workflow_type,
                &c.status,
                &c.start_ms,
                &c.close_ms,
            ],
        )?;
    }
    tx.batch_execute(RECOUNT)?;
    tx.commit()?;
    tracing::info!(runs = rows.len(), "filled in visibility columns");
    Ok(())
}
