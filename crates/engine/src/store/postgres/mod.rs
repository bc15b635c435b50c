//! The PostgreSQL backend, for a demo-mode engine whose state lives in a managed database.
//!
//! The same design as the SQLite store: one writer thread owns a connection and writes the
//! commits queued meanwhile in one transaction (group commit), answering each caller only
//! after its COMMIT; reads of runs no longer in memory go to a second connection on a reader
//! thread. The engine is not clustered: the writer's connection holds a session-level
//! advisory lock for the engine's lifetime, and a second engine on the same database
//! refuses to start. When PostgreSQL goes away the writer keeps its queue, reconnects on its
//! own (taking the lock again) and writes the queue in order; the engine answers requests
//! whose commit takes too long `Unavailable`, and reads fail `Unavailable` after
//! [`writer::ANSWER_WITHIN`].
//!
//! Driver: the synchronous `postgres` crate (the blocking face of `tokio-postgres`): the
//! writer and reader are plain threads, like SQLite's, with no pool to tune; TLS through
//! rustls (`sslmode=prefer|require|disable` in the URL, the system's root certificates).
//!
//! Files: `connect` (URL, TLS, which failures to retry), `schema` (versioned migrations),
//! `writer` (the writer thread), `group` (what one group commit writes), `reads` (the
//! reader) and `visibility` (queries in SQL).

mod connect;
mod group;
mod reads;
mod schema;
mod visibility;
mod writer;

use std::{
    sync::{Mutex, mpsc},
    thread,
    time::Duration,
};

use postgres::Client;

pub(crate) use connect::{Target, redact as redact_url};

use super::{
    Batch, ClosedInfo, Commit, Load, Store, StoreError, StoredRun, visibility::ClosedQuery,
    writer_thread::WriterThread,
};
use reads::{Job, Reader, ask};
use writer::Writer;

/// The advisory lock an engine holds on its database ("workflow" in ASCII).
const LOCK_KEY: i64 = 0x776f_726b_666c_6f77;

/// A PostgreSQL database with a writer and a reader thread.
#[derive(Debug)]
pub(crate) struct PostgresStore {
    writer: WriterThread,
    database: String,
    reads: Mutex<mpsc::Sender<Job>>,
}

impl PostgresStore {
    /// Connects to the database at `url` (retrying for at most `connect_within` while it is
    /// unreachable), takes the engine's lock and migrates the schema. Blocks meanwhile.
    pub(crate) fn open(url: &str, connect_within: Duration) -> Result<Self, StoreError> {
        let target = Target::parse(url)?;
        // The sync client runs a small runtime of its own, which cannot start inside the
        // engine's: every connection lives on a thread of this store.
        let (ready_tx, ready_rx) = mpsc::channel();
        let (tx, rx) = mpsc::channel();
        let writer_target = target.clone();
        let writer = thread::Builder::new()
            .name("engine-pg-writer".into())
            .spawn(move || {
                let started = (|| {
                    let mut client = writer_target.connect(connect_within)?;
                    take_lock(&mut client, LOCK_KEY, &writer_target)?;
                    schema::migrate(&mut client)?;
                    Writer::new(writer_target, LOCK_KEY, client)
                })();
                match started {
                    Ok(writer) => {
                        let _ = ready_tx.send(Ok(()));
                        writer.run(&rx);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(|_| StoreError::Closed)?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = writer.join();
                return Err(e);
            }
            Err(_) => return Err(StoreError::Closed),
        }
        tracing::info!(database = %target.described, "using PostgreSQL");
        let (jobs, job_rx) = mpsc::channel();
        let reader = Reader::new(target.clone());
        thread::Builder::new()
            .name("engine-pg-reader".into())
            .spawn(move || reader.run(&job_rx))
            .map_err(|_| StoreError::Closed)?;
        Ok(Self {
            writer: WriterThread::new(tx, writer),
            database: target.described,
            reads: Mutex::new(jobs),
        })
    }

    fn ask<T: Send + 'static>(
        &self,
        f: impl Fn(&mut Client) -> Result<T, postgres::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        let jobs = self.reads.lock().unwrap_or_else(|e| e.into_inner()).clone();
        ask(&jobs, &self.database, f)
    }
}

/// Takes the engine's session-level advisory lock on `client`'s database, or says which
/// database another engine is using.
fn take_lock(client: &mut Client, key: i64, target: &Target) -> Result<(), StoreError> {
    let row = client.query_one("SELECT pg_try_advisory_lock($1)", &[&key])?;
    if row.get::<_, bool>(0) {
        Ok(())
    } else {
        Err(StoreError::InUse {
            database: target.described.clone(),
        })
    }
}

impl Store for PostgresStore {
    fn load(&self) -> Load {
        self.writer.load()
    }

    fn commit(&self, batch: Batch) -> Commit {
        self.writer.commit(batch)
    }

    fn read_run(&self, run_id: &str) -> Result<Option<StoredRun>, StoreError> {
        let run_id = run_id.to_owned();
        self.ask(move |client| reads::read_run(client, &run_id))
    }

    fn latest_run(&self, namespace: &str, workflow_id: &str) -> Result<Option<String>, StoreError> {
        let (namespace, workflow_id) = (namespace.to_owned(), workflow_id.to_owned());
        self.ask(move |client| reads::latest_run(client, &namespace, &workflow_id))
    }

    fn closed_infos(&self, namespace: &str) -> Result<Vec<ClosedInfo>, StoreError> {
        let namespace = namespace.to_owned();
        self.ask(move |client| reads::closed_infos(client, &namespace))
    }

    fn expired(
        &self,
        namespace: &str,
        closed: std::ops::Range<i64>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let namespace = namespace.to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.ask(move |client| reads::expired(client, &namespace, &closed, limit))
    }

    fn query_closed(&self, query: &ClosedQuery) -> Result<Option<Vec<ClosedInfo>>, StoreError> {
        let query = query.clone();
        self.ask(move |client| visibility::query_closed(client, &query))
            .map(Some)
    }

    fn count_closed(&self, query: &ClosedQuery) -> Result<Option<Vec<(i32, i64)>>, StoreError> {
        let query = query.clone();
        self.ask(move |client| visibility::count_closed(client, &query))
            .map(Some)
    }
}

#[cfg(test)]
mod tests;
