//! The writer thread: owns the connection that holds the engine's advisory lock, writes
//! queued commits together in one transaction (group commit) and answers each caller after
//! its COMMIT. When the connection drops, the queue is kept in order and written again on a
//! new connection (every write is an upsert, so a transaction whose COMMIT outcome was lost
//! can be replayed). A commit is answered only once it is durable: the engine bounds how long
//! a request waits for it (and answers `Unavailable`), while the change stays queued here. A
//! load waits at most [`ANSWER_WITHIN`].

use std::{
    collections::{HashMap, VecDeque},
    sync::mpsc,
    time::{Duration, Instant},
};

use postgres::{Client, Statement};
use tokio::sync::oneshot;

use super::{
    Target,
    connect::is_transient,
    reads::{events_of_open_runs, open_runs},
};
use crate::store::{
    Batch, RunRecord, ScheduleWrite, Snapshot, StoreError, visibility::Columns,
    writer_thread::WriterRequest,
};

/// A load or a read waits at most this long before it is told the database is unavailable.
pub(super) const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// The most commits written in one transaction.
const MAX_GROUP: usize = 256;

/// After the store is dropped, how long queued commits may wait for the database.
const FLUSH_ON_CLOSE: Duration = Duration::from_secs(10);

/// A request waiting its turn.
struct Queued {
    since: Instant,
    kind: Kind,
}

enum Kind {
    Commit(Batch, oneshot::Sender<Result<(), StoreError>>),
    Load(oneshot::Sender<Result<Snapshot, StoreError>>),
}

/// The statements the writer runs, prepared once per connection.
struct Prepared {
    namespaces: Statement,
    already_closed: Statement,
    count_closed: Statement,
    settings: Statement,
    runs: Statement,
    events: Statement,
}

impl Prepared {
    fn new(client: &mut Client) -> Result<Self, postgres::Error> {
        Ok(Self {
            namespaces: client.prepare(
                "INSERT INTO namespaces (name, record)
                 SELECT * FROM unnest($1::text[], $2::text[])
                 ON CONFLICT (name) DO UPDATE SET record = excluded.record",
            )?,
            already_closed: client.prepare(
                "SELECT run_id FROM runs WHERE run_id = ANY($1) AND closed_info IS NOT NULL",
            )?,
            count_closed: client.prepare(
                "INSERT INTO closed_counts (namespace, status, count)
                 SELECT * FROM unnest($1::text[], $2::int4[], $3::int8[])
                 ON CONFLICT (namespace, status)
                 DO UPDATE SET count = closed_counts.count + excluded.count",
            )?,
            settings: client.prepare(
                "INSERT INTO settings (key, value)
                 SELECT * FROM unnest($1::text[], $2::text[])
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?,
            runs: client.prepare(
                "INSERT INTO runs (run_id, namespace, workflow_id, state, buffered, closed_info,
                                   workflow_type, status, start_ms, close_ms)
                 SELECT r, n, w, s, b, c, t, st, sm, cm
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[],
                             $6::bytea[], $7::text[], $8::int4[], $9::int8[], $10::int8[])
                      WITH ORDINALITY AS u (r, n, w, s, b, c, t, st, sm, cm, o)
                 ORDER BY o
                 ON CONFLICT (run_id) DO UPDATE SET state = excluded.state,
                                                    buffered = excluded.buffered,
                                                    closed_info = excluded.closed_info,
                                                    workflow_type = excluded.workflow_type,
                                                    status = excluded.status,
                                                    start_ms = excluded.start_ms,
                                                    close_ms = excluded.close_ms",
            )?,
            events: client.prepare(
                "INSERT INTO events (run_id, event_id, data)
                 SELECT * FROM unnest($1::text[], $2::int8[], $3::bytea[])
                 ON CONFLICT (run_id, event_id) DO UPDATE SET data = excluded.data",
            )?,
        })
    }
}

/// The writer's connection and what it needs to make a new one.
pub(super) struct Writer {
    target: Target,
    lock_key: i64,
    conn: Option<(Client, Prepared)>,
    queue: VecDeque<Queued>,
    closed_at: Option<Instant>,
    /// Closed runs written since the planner's statistics were last refreshed.
    analyze: AnalyzeDue,
}

/// When to refresh the planner's statistics of `runs`. Autovacuum does it only once a
/// minute, so a burst of closing runs (thousands a second here) leaves the planner with
/// the table as it was, and it may pick a plan that scans every match instead of walking
/// the start-time index; the list and count then cost what the table holds, not the page.
#[derive(Debug, Default)]
struct AnalyzeDue {
    /// Closed runs written when statistics were last refreshed (as counted here).
    at_last: u64,
    since: u64,
}

impl AnalyzeDue {
    /// At least this many closed runs between refreshes.
    const MIN_CHANGED: u64 = 1_000;

    /// Counts `closed` more closed runs written; true when a refresh is due: a tenth of the
    /// table changed (autovacuum's default share), and at least `MIN_CHANGED` rows.
    fn wrote(&mut self, closed: u64) -> bool {
        self.since += closed;
        self.since >= Self::MIN_CHANGED.max(self.at_last / 10)
    }

    fn refreshed(&mut self) {
        self.at_last += self.since;
        self.since = 0;
    }
}

impl Writer {
    /// A writer on `client`, which already holds the advisory lock `lock_key`.
    pub(super) fn new(target: Target, lock_key: i64, client: Client) -> Result<Self, StoreError> {
        let mut client = client;
        let prepared = Prepared::new(&mut client)?;
        Ok(Self {
            target,
            lock_key,
            conn: Some((client, prepared)),
            queue: VecDeque::new(),
            closed_at: None,
            analyze: AnalyzeDue::default(),
        })
    }

    pub(super) fn run(mut self, requests: &mpsc::Receiver<WriterRequest>) {
        let mut pause = Duration::from_millis(50);
        loop {
            if self.queue.is_empty() && self.closed_at.is_none() {
                match requests.recv() {
                    Ok(request) => self.enqueue(request),
                    Err(_) => self.closed_at = Some(Instant::now()),
                }
            }
            self.drain(requests);
            if self.queue.is_empty() {
                return;
            }
            match self.step() {
                Ok(()) => pause = Duration::from_millis(50),
                Err(e) => {
                    tracing::warn!(
                        database = %self.target.described,
                        queued = self.queue.len(),
                        "PostgreSQL unavailable, will retry: {e}"
                    );
                    self.conn = None;
                    if self
                        .closed_at
                        .is_some_and(|at| at.elapsed() > FLUSH_ON_CLOSE)
                    {
                        tracing::error!(
                            database = %self.target.described,
                            lost = self.queue.len(),
                            "the engine stopped while PostgreSQL was unavailable; unacknowledged changes were not written"
                        );
                        return;
                    }
                    self.expire();
                    // Wait, but keep taking requests so their callers can be answered.
                    if self.closed_at.is_none() {
                        match requests.recv_timeout(pause) {
                            Ok(request) => self.enqueue(request),
                            Err(mpsc::RecvTimeoutError::Timeout) => {}
                            Err(mpsc::RecvTimeoutError::Disconnected) => {
                                self.closed_at = Some(Instant::now());
                            }
                        }
                    } else {
                        std::thread::sleep(pause);
                    }
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    fn enqueue(&mut self, request: WriterRequest) {
        let kind = match request {
            WriterRequest::Commit(batch, reply) => Kind::Commit(*batch, reply),
            WriterRequest::Load(reply) => Kind::Load(reply),
        };
        self.queue.push_back(Queued {
            since: Instant::now(),
            kind,
        });
    }

    fn drain(&mut self, requests: &mpsc::Receiver<WriterRequest>) {
        loop {
            match requests.try_recv() {
                Ok(request) => self.enqueue(request),
                Err(mpsc::TryRecvError::Empty) => return,
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.closed_at.get_or_insert_with(Instant::now);
                    return;
                }
            }
        }
    }

    /// Answers loads that have waited too long (they change nothing, so they leave the
    /// queue); commits stay queued until they are durable.
    fn expire(&mut self) {
        let now = Instant::now();
        let mut kept = VecDeque::with_capacity(self.queue.len());
        for queued in std::mem::take(&mut self.queue) {
            match queued.kind {
                Kind::Load(reply) if now.duration_since(queued.since) >= ANSWER_WITHIN => {
                    let _ = reply.send(Err(StoreError::Unavailable(self.target.described.clone())));
                }
                kind => kept.push_back(Queued {
                    since: queued.since,
                    kind,
                }),
            }
        }
        self.queue = kept;
    }

    /// Does the work at the front of the queue; an error means the database is unavailable
    /// and the work is still queued.
    fn step(&mut self) -> Result<(), StoreError> {
        if self
            .conn
            .as_ref()
            .is_none_or(|(client, _)| client.is_closed())
        {
            self.conn = Some(self.reconnect()?);
        }
        let Some((client, prepared)) = self.conn.as_mut() else {
            return Err(StoreError::Unavailable(self.target.described.clone()));
        };
        if matches!(self.queue.front().map(|q| &q.kind), Some(Kind::Load(_))) {
            let snapshot = load(client);
            if let Err(StoreError::Postgres(e)) = &snapshot
                && is_transient(e)
            {
                return snapshot.map(|_| ());
            }
            if let Some(Queued {
                kind: Kind::Load(reply),
                ..
            }) = self.queue.pop_front()
            {
                let _ = reply.send(snapshot);
            }
            return Ok(());
        }
        let commits = self
            .queue
            .iter()
            .take(MAX_GROUP)
            .take_while(|q| matches!(q.kind, Kind::Commit(..)));
        // A group ends with a batch that deletes a namespace: deletions are written after
        // the group's upserts, and a later batch may register the name again.
        let mut count = 0;
        for queued in commits {
            count += 1;
            if matches!(&queued.kind, Kind::Commit(b, _) if !b.deleted_namespaces.is_empty()) {
                break;
            }
        }
        let batches: Vec<&Batch> = self
            .queue
            .iter()
            .take(count)
            .filter_map(|q| match &q.kind {
                Kind::Commit(batch, _) => Some(batch),
                Kind::Load(_) => None,
            })
            .collect();
        let closed = batches
            .iter()
            .flat_map(|b| &b.runs)
            .filter(|w| w.record.closed_info.is_some())
            .count() as u64;
        let written = write_group(client, prepared, &batches);
        if written.is_ok() && self.analyze.wrote(closed) {
            let started = Instant::now();
            match client.batch_execute("ANALYZE runs") {
                Ok(()) => tracing::debug!(
                    database = %self.target.described,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "refreshed the planner's statistics of runs"
                ),
                Err(e) => tracing::warn!(
                    database = %self.target.described,
                    "could not refresh the planner's statistics of runs: {e}"
                ),
            }
            self.analyze.refreshed();
        }
        match written {
            Err(e) if is_transient(&e) => Err(StoreError::Postgres(e)),
            outcome => {
                let failure = outcome.err().map(|e| e.to_string());
                for queued in self.queue.drain(..count) {
                    if let Kind::Commit(_, reply) = queued.kind {
                        let answer = match &failure {
                            None => Ok(()),
                            Some(e) => Err(StoreError::Failed(e.clone())),
                        };
                        let _ = reply.send(answer);
                    }
                }
                if let Some(e) = failure {
                    tracing::error!(database = %self.target.described, "commit failed: {e}");
                }
                Ok(())
            }
        }
    }

    fn reconnect(&self) -> Result<(Client, Prepared), StoreError> {
        let mut client = self.target.connect_once().map_err(StoreError::Postgres)?;
        super::take_lock(&mut client, self.lock_key, &self.target)?;
        let prepared = Prepared::new(&mut client)?;
        tracing::info!(database = %self.target.described, "reconnected to PostgreSQL");
        Ok((client, prepared))
    }
}

/// Writes `batches` in one transaction. A run or event written by several batches is
/// written once with its last value, so each statement touches a row at most once.
fn write_group(
    client: &mut Client,
    prepared: &Prepared,
    batches: &[&Batch],
) -> Result<(), postgres::Error> {
    let mut namespaces: Vec<(&str, &str)> = Vec::new();
    let mut namespace_at: HashMap<&str, usize> = HashMap::new();
    let mut settings: Vec<(&str, &str)> = Vec::new();
    let mut setting_at: HashMap<&str, usize> = HashMap::new();
    let mut runs: Vec<&RunRecord> = Vec::new();
    let mut run_at: HashMap<&str, usize> = HashMap::new();
    let mut events: Vec<(&str, i64, &[u8])> = Vec::new();
    let mut event_at: HashMap<(&str, i64), usize> = HashMap::new();
    let mut schedules: Vec<&ScheduleWrite> = Vec::new();
    let mut schedule_at: HashMap<(&str, &str), usize> = HashMap::new();
    for batch in batches {
        for write in &batch.schedules {
            let key = (write.namespace.as_str(), write.schedule_id.as_str());
            upsert(&mut schedules, &mut schedule_at, key, write);
        }
        for (key, value) in &batch.settings {
            upsert(
                &mut settings,
                &mut setting_at,
                key.as_str(),
                (key.as_str(), value.as_str()),
            );
        }
        for (name, record) in &batch.namespaces {
            upsert(
                &mut namespaces,
                &mut namespace_at,
                name.as_str(),
                (name.as_str(), record.as_str()),
            );
        }
        for write in &batch.runs {
            let run_id = write.record.run_id.as_str();
            upsert(&mut runs, &mut run_at, run_id, &write.record);
            for (id, data) in &write.new_events {
                upsert(
                    &mut events,
                    &mut event_at,
                    (run_id, *id),
                    (run_id, *id, data.as_slice()),
                );
            }
        }
    }
    let mut tx = client.transaction()?;
    if !namespaces.is_empty() {
        let names: Vec<&str> = namespaces.iter().map(|n| n.0).collect();
        let records: Vec<&str> = namespaces.iter().map(|n| n.1).collect();
        tx.execute(&prepared.namespaces, &[&names, &records])?;
    }
    if !settings.is_empty() {
        let keys: Vec<&str> = settings.iter().map(|s| s.0).collect();
        let values: Vec<&str> = settings.iter().map(|s| s.1).collect();
        tx.execute(&prepared.settings, &[&keys, &values])?;
    }
    if !runs.is_empty() {
        let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
        let spaces: Vec<&str> = runs.iter().map(|r| r.namespace.as_str()).collect();
        let workflows: Vec<&str> = runs.iter().map(|r| r.workflow_id.as_str()).collect();
        let states: Vec<&str> = runs.iter().map(|r| r.state.as_str()).collect();
        let buffered: Vec<&[u8]> = runs.iter().map(|r| r.buffered.as_slice()).collect();
        let closed: Vec<Option<&[u8]>> = runs.iter().map(|r| r.closed_info.as_deref()).collect();
        // Visibility columns of closed runs (open runs are listed from memory).
        let columns: Vec<Option<Columns>> =
            closed.iter().map(|c| c.and_then(Columns::of)).collect();
        count_newly_closed(&mut tx, prepared, &runs, &columns)?;
        let types: Vec<Option<&str>> = columns
            .iter()
            .map(|c| c.as_ref().map(|c| c.workflow_type.as_str()))
            .collect();
        let statuses: Vec<Option<i32>> = columns
            .iter()
            .map(|c| c.as_ref().map(|c| c.status))
            .collect();
        let starts: Vec<Option<i64>> = columns
            .iter()
            .map(|c| c.as_ref().map(|c| c.start_ms))
            .collect();
        let closes: Vec<Option<i64>> = columns
            .iter()
            .map(|c| c.as_ref().and_then(|c| c.close_ms))
            .collect();
        tx.execute(
            &prepared.runs,
            &[
                &ids, &spaces, &workflows, &states, &buffered, &closed, &types, &statuses, &starts,
                &closes,
            ],
        )?;
    }
    if !events.is_empty() {
        let ids: Vec<&str> = events.iter().map(|e| e.0).collect();
        let numbers: Vec<i64> = events.iter().map(|e| e.1).collect();
        let data: Vec<&[u8]> = events.iter().map(|e| e.2).collect();
        tx.execute(&prepared.events, &[&ids, &numbers, &data])?;
    }
    let deleted_runs: Vec<&str> = batches
        .iter()
        .flat_map(|b| &b.deleted_runs)
        .map(String::as_str)
        .collect();
    if !deleted_runs.is_empty() {
        delete_runs(&mut tx, &deleted_runs)?;
    }
    for write in schedules {
        let key: [&(dyn postgres::types::ToSql + Sync); 2] = [&write.namespace, &write.schedule_id];
        match &write.record {
            Some(record) => tx.execute(
                "INSERT INTO schedules (namespace, schedule_id, record) VALUES ($1, $2, $3)
                 ON CONFLICT (namespace, schedule_id) DO UPDATE SET record = excluded.record",
                &[key[0], key[1], record],
            )?,
            None => tx.execute(
                "DELETE FROM schedules WHERE namespace = $1 AND schedule_id = $2",
                &key,
            )?,
        };
    }
    for name in batches.iter().flat_map(|b| &b.deleted_namespaces) {
        tx.execute(
            "DELETE FROM events WHERE run_id IN (SELECT run_id FROM runs WHERE namespace = $1)",
            &[name],
        )?;
        tx.execute("DELETE FROM runs WHERE namespace = $1", &[name])?;
        tx.execute("DELETE FROM closed_counts WHERE namespace = $1", &[name])?;
        tx.execute("DELETE FROM schedules WHERE namespace = $1", &[name])?;
        tx.execute("DELETE FROM namespaces WHERE name = $1", &[name])?;
    }
    tx.commit()
}

/// Deletes runs with their events, and takes the closed ones out of `closed_counts`. Only
/// rows still there are counted, so a replayed group takes nothing off twice.
fn delete_runs(
    tx: &mut postgres::Transaction<'_>,
    run_ids: &[&str],
) -> Result<(), postgres::Error> {
    tx.execute("DELETE FROM events WHERE run_id = ANY($1)", &[&run_ids])?;
    let gone = tx.query(
        "DELETE FROM runs WHERE run_id = ANY($1) RETURNING namespace, status",
        &[&run_ids],
    )?;
    let mut counts: HashMap<(String, i32), i64> = HashMap::new();
    for row in &gone {
        if let Some(status) = row.get::<_, Option<i32>>(1) {
            *counts.entry((row.get(0), status)).or_default() += 1;
        }
    }
    for ((namespace, status), n) in counts {
        tx.execute(
            "UPDATE closed_counts SET count = count - $3 WHERE namespace = $1 AND status = $2",
            &[&namespace, &status, &n],
        )?;
    }
    Ok(())
}

/// Adds the runs of this group that close now (not those already closed: a replayed group
/// counts nothing twice) to `closed_counts`, before their rows are written.
fn count_newly_closed(
    tx: &mut postgres::Transaction<'_>,
    prepared: &Prepared,
    runs: &[&RunRecord],
    columns: &[Option<Columns>],
) -> Result<(), postgres::Error> {
    let closing: Vec<(&RunRecord, i32)> = runs
        .iter()
        .zip(columns)
        .filter_map(|(run, c)| c.as_ref().map(|c| (*run, c.status)))
        .collect();
    if closing.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = closing.iter().map(|(r, _)| r.run_id.as_str()).collect();
    let already: std::collections::HashSet<String> = tx
        .query(&prepared.already_closed, &[&ids])?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut counts: HashMap<(&str, i32), i64> = HashMap::new();
    for (run, status) in closing {
        if !already.contains(&run.run_id) {
            *counts.entry((run.namespace.as_str(), status)).or_default() += 1;
        }
    }
    if counts.is_empty() {
        return Ok(());
    }
    let spaces: Vec<&str> = counts.keys().map(|k| k.0).collect();
    let statuses: Vec<i32> = counts.keys().map(|k| k.1).collect();
    let numbers: Vec<i64> = counts.values().copied().collect();
    tx.execute(&prepared.count_closed, &[&spaces, &statuses, &numbers])?;
    Ok(())
}

/// Appends `value`, or replaces the one already there under `key`.
fn upsert<K: std::hash::Hash + Eq, V>(
    values: &mut Vec<V>,
    at: &mut HashMap<K, usize>,
    key: K,
    value: V,
) {
    match at.get(&key) {
        Some(&i) => values[i] = value,
        None => {
            at.insert(key, values.len());
            values.push(value);
        }
    }
}

/// Everything [`crate::store::Store::load`] returns, read in one snapshot.
fn load(client: &mut Client) -> Result<Snapshot, StoreError> {
    let mut tx = client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let mut snapshot = Snapshot::default();
    for row in tx.query("SELECT name, record FROM namespaces", &[])? {
        snapshot.namespaces.insert(row.get(0), row.get(1));
    }
    for row in tx.query("SELECT key, value FROM settings", &[])? {
        snapshot.settings.insert(row.get(0), row.get(1));
    }
    for row in tx.query(
        "SELECT namespace, schedule_id, record FROM schedules ORDER BY namespace, schedule_id",
        &[],
    )? {
        snapshot
            .schedules
            .push((row.get(0), row.get(1), row.get(2)));
    }
    let mut runs = open_runs(&mut tx)?;
    let index: HashMap<String, usize> = runs
        .iter()
        .enumerate()
        .map(|(i, run)| (run.record.run_id.clone(), i))
        .collect();
    for (run_id, data) in events_of_open_runs(&mut tx)? {
        if let Some(&i) = index.get(&run_id) {
            runs[i].events.push(data);
        }
    }
    tx.commit()?;
    snapshot.runs = runs;
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use super::AnalyzeDue;

    #[test]
    fn statistics_are_refreshed_every_thousand_then_every_tenth_of_the_table() {
        let mut due = AnalyzeDue::default();
        assert!(!due.wrote(999));
        assert!(due.wrote(1));
        due.refreshed();
        // Up to 10,000 closed runs, every 1,000.
        for _ in 0..9 {
            assert!(!due.wrote(999));
            assert!(due.wrote(1));
            due.refreshed();
        }
        assert_eq!(due.at_last, 10_000);
        // Then a tenth of what is there.
        assert!(due.wrote(1_000));
        due.refreshed();
        assert!(!due.wrote(1_099));
        assert!(due.wrote(1));
    }
}
