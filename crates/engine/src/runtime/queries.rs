//! Queries in flight. A query waits here while a worker answers it as a query task; the
//! worker's answer (or the caller giving up) removes it.

use std::{collections::HashMap, sync::Mutex};

use temporalio_protos::temporal::api::query::v1::WorkflowQuery;
use tokio::sync::oneshot;

/// A worker's answer to a query.
#[derive(Debug)]
pub(crate) enum QueryOutcome {
    /// The query handler's result.
    Answered(Option<temporalio_protos::temporal::api::common::v1::Payloads>),
    /// The query handler failed with this message.
    Failed(String),
}

/// A query waiting for a worker.
#[derive(Debug)]
struct Pending {
    run_id: String,
    query: WorkflowQuery,
    reply: oneshot::Sender<QueryOutcome>,
}

/// The table of queries in flight.
#[derive(Debug, Default)]
pub(crate) struct PendingQueries {
    pending: Mutex<HashMap<String, Pending>>,
}

impl PendingQueries {
    /// Registers a query; the receiver resolves with the worker's answer.
    pub(crate) fn register(
        &self,
        query_id: &str,
        run_id: &str,
        query: WorkflowQuery,
    ) -> oneshot::Receiver<QueryOutcome> {
        let (reply, rx) = oneshot::channel();
        self.lock().insert(
            query_id.to_owned(),
            Pending {
                run_id: run_id.to_owned(),
                query,
                reply,
            },
        );
        rx
    }

    /// The run and query of a query still waiting for an answer.
    pub(crate) fn get(&self, query_id: &str) -> Option<(String, WorkflowQuery)> {
        self.lock()
            .get(query_id)
            .filter(|p| !p.reply.is_closed())
            .map(|p| (p.run_id.clone(), p.query.clone()))
    }

    /// Whether someone still waits for the answer to this query.
    pub(crate) fn is_waiting(&self, query_id: &str) -> bool {
        self.lock()
            .get(query_id)
            .is_some_and(|p| !p.reply.is_closed())
    }

    /// Delivers a worker's answer; false if nobody waits for it any more.
    pub(crate) fn answer(&self, query_id: &str, outcome: QueryOutcome) -> bool {
        match self.lock().remove(query_id) {
            Some(pending) => pending.reply.send(outcome).is_ok(),
            None => false,
        }
    }

    /// Whether any query still waits for a worker's answer (which holds a time-skipping
    /// clock).
    pub(crate) fn in_flight(&self) -> bool {
        self.lock().values().any(|p| !p.reply.is_closed())
    }

    /// Forgets a query whose caller gave up.
    pub(crate) fn remove(&self, query_id: &str) {
        self.lock().remove(query_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}
