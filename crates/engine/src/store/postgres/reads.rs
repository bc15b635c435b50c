//! Reads: the queries, and the reader thread that runs point reads of runs no longer in
//! memory on a connection of its own, so they never wait behind a group commit. The sync
//! client cannot be driven from inside the engine's async runtime, hence a thread; callers
//! wait at most [`ANSWER_WITHIN`] and are then told the database is unavailable.

use std::sync::mpsc;

use postgres::{Client, GenericClient};

use super::{Target, connect::is_transient, writer::ANSWER_WITHIN};
use crate::store::{ClosedInfo, RunRecord, StoreError, StoredRun};

/// Work for the reader thread.
pub(super) type Job = Box<dyn FnOnce(&mut Reader) + Send>;

/// The reader thread's connection, made (again) when needed.
pub(super) struct Reader {
    target: Target,
    conn: Option<Client>,
}

impl Reader {
    pub(super) fn new(target: Target) -> Self {
        Self { target, conn: None }
    }

    pub(super) fn run(mut self, jobs: &mpsc::Receiver<Job>) {
        while let Ok(job) = jobs.recv() {
            job(&mut self);
        }
    }

    /// Runs `f`, on a new connection once more if the first one turns out to be gone.
    pub(super) fn with<T>(
        &mut self,
        f: impl Fn(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let mut last = None;
        for _ in 0..2 {
            let client = match self.conn.as_mut().filter(|c| !c.is_closed()) {
                Some(client) => client,
                None => match self.target.connect_once() {
                    Ok(client) => self.conn.insert(client),
                    Err(e) if is_transient(&e) => {
                        last = Some(e);
                        break;
                    }
                    Err(e) => return Err(e.into()),
                },
            };
            match f(client) {
                Ok(value) => return Ok(value),
                Err(e) if is_transient(&e) => {
                    self.conn = None;
                    last = Some(e);
                }
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(e) = last {
            tracing::warn!(database = %self.target.described, "PostgreSQL read failed: {e}");
        }
        Err(StoreError::Unavailable(self.target.described.clone()))
    }
}

/// Sends `f` to the reader thread and waits for its answer, at most [`ANSWER_WITHIN`].
pub(super) fn ask<T: Send + 'static>(
    jobs: &mpsc::Sender<Job>,
    database: &str,
    f: impl Fn(&mut Client) -> Result<T, postgres::Error> + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = mpsc::channel();
    let job: Job = Box::new(move |reader| {
        let _ = tx.send(reader.with(f));
    });
    jobs.send(job).map_err(|_| StoreError::Closed)?;
    match rx.recv_timeout(ANSWER_WITHIN) {
        Ok(answer) => answer,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(StoreError::Unavailable(database.to_owned())),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(StoreError::Closed),
    }
}

const RUN_COLUMNS: &str = "run_id, namespace, workflow_id, state, buffered, closed_info";

fn run_record(row: &postgres::Row) -> RunRecord {
    RunRecord {
        run_id: row.get(0),
        namespace: row.get(1),
        workflow_id: row.get(2),
        state: row.get(3),
        buffered: row.get(4),
        closed_info: row.get(5),
    }
}

/// Open runs, oldest first, without their events.
pub(super) fn open_runs(
    client: &mut impl GenericClient,
) -> Result<Vec<StoredRun>, postgres::Error> {
    let rows = client.query(
        &format!("SELECT {RUN_COLUMNS} FROM runs WHERE closed_info IS NULL ORDER BY seq"),
        &[],
    )?;
    Ok(rows
        .iter()
        .map(|row| StoredRun {
            record: run_record(row),
            events: Vec::new(),
        })
        .collect())
}

/// (run id, event) of every open run, in event id order per run.
pub(super) fn events_of_open_runs(
    client: &mut impl GenericClient,
) -> Result<Vec<(String, Vec<u8>)>, postgres::Error> {
    let rows = client.query(
        "SELECT e.run_id, e.data FROM events e JOIN runs r ON r.run_id = e.run_id
         WHERE r.closed_info IS NULL ORDER BY e.run_id, e.event_id",
        &[],
    )?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

pub(super) fn read_run(
    client: &mut Client,
    run_id: &str,
) -> Result<Option<StoredRun>, postgres::Error> {
    let mut tx = client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let Some(row) = tx.query_opt(
        &format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_id = $1"),
        &[&run_id],
    )?
    else {
        return Ok(None);
    };
    let events = tx
        .query(
            "SELECT data FROM events WHERE run_id = $1 ORDER BY event_id",
            &[&run_id],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect();
    tx.commit()?;
    Ok(Some(StoredRun {
        record: run_record(&row),
        events,
    }))
}

pub(super) fn latest_run(
    client: &mut Client,
    namespace: &str,
    workflow_id: &str,
) -> Result<Option<String>, postgres::Error> {
    Ok(client
        .query_opt(
            "SELECT run_id FROM runs WHERE namespace = $1 AND workflow_id = $2
             ORDER BY seq DESC LIMIT 1",
            &[&namespace, &workflow_id],
        )?
        .map(|row| row.get(0)))
}

pub(super) fn closed_infos(
    client: &mut Client,
    namespace: &str,
) -> Result<Vec<ClosedInfo>, postgres::Error> {
    Ok(client
        .query(
            "SELECT run_id, closed_info FROM runs
             WHERE namespace = $1 AND closed_info IS NOT NULL",
            &[&namespace],
        )?
        .iter()
        .map(|row| ClosedInfo {
            run_id: row.get(0),
            info: row.get(1),
        })
        .collect())
}

/// Closed runs of `namespace` whose close time is in `closed`, oldest first (the
/// `runs_closed_by_close` index).
pub(super) fn expired(
    client: &mut Client,
    namespace: &str,
    closed: &std::ops::Range<i64>,
    limit: i64,
) -> Result<Vec<String>, postgres::Error> {
    let rows = client.query(
        "SELECT run_id FROM runs
         WHERE namespace = $1 AND closed_info IS NOT NULL
           AND close_ms >= $2 AND close_ms < $3
         ORDER BY close_ms LIMIT $4",
        &[&namespace, &closed.start, &closed.end, &limit],
    )?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}
