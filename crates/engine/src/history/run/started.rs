//! What a run's started event fixes for its whole life: when its first workflow task was
//! due, when it times out, and the priority it was started with.

use temporalio_protos::temporal::api::{
    common::v1::Priority,
    history::v1::{WorkflowExecutionStartedEventAttributes, history_event::Attributes},
};

use crate::history::Execution;
use crate::time::{duration_ms, timestamp_ms};

impl Execution {
    /// The attributes of the run's first event.
    pub(in crate::history) fn started_attributes(
        &self,
    ) -> Option<&WorkflowExecutionStartedEventAttributes> {
        self.events.first().and_then(|e| match &e.attributes {
            Some(Attributes::WorkflowExecutionStartedEventAttributes(a)) => Some(a),
            _ => None,
        })
    }

    /// When the run's first workflow task was due: its start, after any start delay.
    pub(crate) fn execution_time_ms(&self) -> i64 {
        let backoff = self
            .started_attributes()
            .and_then(|a| duration_ms(a.first_workflow_task_backoff.as_ref()));
        self.state
            .start_time_ms
            .saturating_add(backoff.unwrap_or(0))
    }

    /// When the workflow execution timeout ends, for the whole chain.
    pub(crate) fn expiration_ms(&self) -> Option<i64> {
        self.started_attributes()
            .and_then(|a| a.workflow_execution_expiration_time.as_ref())
            .map(timestamp_ms)
    }

    /// When the run times out: its run timeout counted from when its first workflow task
    /// was due, but never after the execution timeout ends, as on the real server.
    pub(crate) fn run_deadline_ms(&self) -> Option<i64> {
        let run = self
            .state
            .run_timeout_ms
            .map(|t| self.execution_time_ms().saturating_add(t));
        match (run, self.expiration_ms()) {
            (Some(run), Some(end)) => Some(run.min(end)),
            (run, end) => run.or(end),
        }
    }

    /// The priority the run was started with.
    pub(crate) fn started_priority(&self) -> Option<Priority> {
        self.started_attributes().and_then(|a| a.priority.clone())
    }
}
