//! Queries that ride on workflow tasks.
//!
//! A query that arrives while a run has a workflow task pending would, as a separate query
//! task, see the state before that task's events (a signal that came with the same request
//! burst would be missing). So, as Temporal does, such a query waits for the pending task
//! and goes out with it (`queries` in the poll response); the worker answers it in the
//! task's completion, after applying the task's events. When no healthy task is pending,
//! or the task ends without answering, the query goes to the queue as a query task.
//! Buffered queries live only in memory: their callers do not survive a restart either.

use std::collections::{HashMap, HashSet};

use temporalio_protos::temporal::api::{
    common::v1::WorkflowType, history::v1::History, query::v1::WorkflowQuery,
    workflowservice::v1::PollWorkflowTaskQueueResponse,
};

use crate::history::{
    Effects, Execution, QueueKind, Registry, Task, machines::workflow_task::normal_queue,
    run::token::TaskToken,
};

/// The queries of one run that wait for, or travel on, its workflow task.
#[derive(Debug, Clone, Default)]
pub(crate) struct QueryBuffer {
    /// Waiting for the next workflow task to start.
    waiting: Vec<(String, WorkflowQuery)>,
    /// Handed out with the workflow task in flight.
    in_task: Vec<String>,
}

impl Execution {
    /// A legacy query task: the full history and the query. `started_event_id` stays 0,
    /// which tells the SDK it is a query on the state after `previous_started_event_id`.
    pub(crate) fn query_task(
        &self,
        query_id: &str,
        query: WorkflowQuery,
    ) -> PollWorkflowTaskQueueResponse {
        PollWorkflowTaskQueueResponse {
            task_token: TaskToken::Query {
                query_id: query_id.to_owned(),
            }
            .encode(),
            workflow_execution: Some(self.workflow_execution()),
            workflow_type: Some(WorkflowType {
                name: self.state.workflow_type.clone(),
            }),
            previous_started_event_id: self.state.previous_started_event_id,
            history: Some(History {
                events: self.events.clone(),
            }),
            query: Some(query),
            workflow_execution_task_queue: Some(normal_queue(&self.state.task_queue)),
            ..Default::default()
        }
    }
}

impl Registry {
    /// Parks a query on the run's pending workflow task. False when there is none, or it
    /// is a retry of a failing task: then the caller sends a query task instead.
    pub(crate) fn buffer_query(
        &mut self,
        run_id: &str,
        query_id: &str,
        query: WorkflowQuery,
    ) -> bool {
        let Some(exec) = self.runs.get_mut(run_id) else {
            return false;
        };
        let healthy = exec.is_open()
            && exec
                .state
                .workflow_task
                .as_ref()
                .is_some_and(|wt| wt.attempt == 1);
        if healthy {
            exec.queries.waiting.push((query_id.to_owned(), query));
        }
        healthy
    }

    /// Sends every query still parked on a closed run as a query task.
    pub(in crate::history) fn release_queries(&mut self, run_id: &str, fx: &mut Effects) {
        if let Some(exec) = self.runs.get_mut(run_id) {
            exec.release_queries(fx);
        }
    }
}

impl Execution {
    /// The queries to hand out with the workflow task that is starting.
    pub(crate) fn take_queries_for_task(&mut self) -> HashMap<String, WorkflowQuery> {
        let waiting = std::mem::take(&mut self.queries.waiting);
        self.queries.in_task = waiting.iter().map(|(id, _)| id.clone()).collect();
        waiting.into_iter().collect()
    }

    /// The task finished: queries it carried but did not answer, and, unless another task
    /// follows, queries that arrived meanwhile, go out as query tasks.
    pub(crate) fn after_task_completed(&mut self, answered: &HashSet<String>, fx: &mut Effects) {
        for query_id in std::mem::take(&mut self.queries.in_task) {
            if !answered.contains(&query_id) {
                self.dispatch_query(query_id, fx);
            }
        }
        let healthy_task_follows = self.is_open()
            && self
                .state
                .workflow_task
                .as_ref()
                .is_some_and(|wt| wt.attempt == 1);
        if !healthy_task_follows {
            self.release_queries(fx);
        }
    }

    /// Sends every parked query as a query task.
    pub(crate) fn release_queries(&mut self, fx: &mut Effects) {
        let in_task = std::mem::take(&mut self.queries.in_task);
        let waiting = std::mem::take(&mut self.queries.waiting);
        for query_id in in_task
            .into_iter()
            .chain(waiting.into_iter().map(|(id, _)| id))
        {
            self.dispatch_query(query_id, fx);
        }
    }

    fn dispatch_query(&self, query_id: String, fx: &mut Effects) {
        fx.dispatch(
            &self.state.namespace,
            &self.state.task_queue,
            QueueKind::Workflow,
            Task::Query { query_id },
            self.route(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{
        Effect,
        testing::{complete, registry, start, take_task},
    };

    fn queries_dispatched(fx: &Effects) -> Vec<String> {
        fx.0.iter()
            .filter_map(|e| match e {
                Effect::Dispatch {
                    task: Task::Query { query_id },
                    ..
                } => Some(query_id.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_query_rides_on_the_pending_task_and_falls_back_when_unanswered() {
        let mut registry = registry();
        let run = start(&mut registry, "wf");
        assert!(registry.buffer_query(&run, "q1", WorkflowQuery::default()));
        let task = take_task(&mut registry, &run);
        assert!(task.queries.contains_key("q1"));
        assert!(
            registry.buffer_query(&run, "q2", WorkflowQuery::default()),
            "a started task is pending too"
        );
        let (_, fx) = complete(&mut registry, &task, vec![], vec![]);
        assert_eq!(
            queries_dispatched(&fx),
            ["q1", "q2"],
            "no task follows: both become query tasks"
        );
        assert!(
            !registry.buffer_query(&run, "q3", WorkflowQuery::default()),
            "no task pending"
        );
    }
}
