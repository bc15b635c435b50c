//! Queries: `EngineRuntime::query` runs one against a run (riding on its pending workflow
//! task, or as a query task on its queue) and waits for the worker's answer; the table of
//! queries in flight holds each until the worker answers or the caller gives up.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use temporalio_protos::temporal::api::{
    common::v1::{Payloads, WorkflowExecution},
    enums::v1::{QueryRejectCondition, WorkflowExecutionStatus},
    query::v1::WorkflowQuery,
};
use tokio::sync::oneshot;

use super::EngineRuntime;
use crate::{
    error::{EngineError, Result},
    matching::QueueKey,
    matching::{QueueKind, Task},
};

/// What a query came to, short of an error.
#[derive(Debug)]
pub(crate) enum QueryAnswer {
    /// The reject condition held: the run's status (a `WorkflowExecutionStatus` value).
    Rejected { status: i32 },
    /// The query handler's result.
    Answered(Option<Payloads>),
}

impl EngineRuntime {
    /// Asks a worker to run `query` against a run's state and waits up to `wait` for the
    /// answer. The query rides on the run's pending workflow task when it has one;
    /// otherwise it goes to the run's task queue as a query task.
    pub(crate) async fn query(
        &self,
        namespace: &str,
        execution: &WorkflowExecution,
        query: WorkflowQuery,
        reject_condition: i32,
        wait: Duration,
    ) -> Result<QueryAnswer> {
        let (run_id, task_queue, status, route) = self.read(|registry| {
            let run_id = registry.resolve(namespace, &execution.workflow_id, &execution.run_id)?;
            let exec = registry.run(&run_id)?;
            Ok::<_, EngineError>((
                run_id,
                exec.task_queue().to_owned(),
                exec.status(),
                exec.route(),
            ))
        })?;
        if rejects(reject_condition, status) {
            return Ok(QueryAnswer::Rejected { status });
        }
        let running = status == WorkflowExecutionStatus::Running as i32;
        let query_id = uuid::Uuid::new_v4().to_string();
        let answer = self.queries.register(&query_id, &run_id, query.clone());
        let rides_on_task = running
            && self
                .execute(|registry, _, _| Ok(registry.buffer_query(&run_id, &query_id, query)))
                .await?;
        if !rides_on_task {
            self.matching.push(
                QueueKey {
                    namespace: namespace.to_owned(),
                    name: task_queue,
                    kind: QueueKind::Workflow,
                },
                Task::Query {
                    query_id: query_id.clone(),
                },
                route,
            );
        }
        let outcome = tokio::select! {
            outcome = answer => outcome.ok(),
            () = tokio::time::sleep(wait) => None,
            () = self.shutting_down() => None,
        };
        self.queries.remove(&query_id);
        match outcome {
            Some(QueryOutcome::Answered(result)) => Ok(QueryAnswer::Answered(result)),
            Some(QueryOutcome::Failed(message)) => Err(EngineError::QueryFailed(message)),
            None => Err(EngineError::Timeout(
                "query timed out: no worker answered; is a worker polling the task queue?".into(),
            )),
        }
    }
}

/// Whether a query's reject condition (a `QueryRejectCondition` value) holds for a run in
/// `status`.
fn rejects(condition: i32, status: i32) -> bool {
    let running = status == WorkflowExecutionStatus::Running as i32;
    match QueryRejectCondition::try_from(condition) {
        Ok(QueryRejectCondition::NotOpen) => !running,
        Ok(QueryRejectCondition::NotCompletedCleanly) => {
            !running && status != WorkflowExecutionStatus::Completed as i32
        }
        _ => false,
    }
}

/// A worker's answer to a query.
#[derive(Debug)]
pub(crate) enum QueryOutcome {
    /// The query handler's result.
    Answered(Option<Payloads>),
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
