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

use postgres::Client;
use tokio::sync::oneshot;

use super::{
    Target,
    connect::is_transient,
    group::{Prepared, write_group},
    reads::{events_of_open_runs, open_runs},
};
use crate::store::{Batch, Snapshot, StoreError, writer_thread::WriterRequest};

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
