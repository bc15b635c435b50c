//! Requests from clients that change a running workflow from outside: signal, request
//! cancellation, terminate, and the run timeout.

use temporalio_protos::temporal::api::{
    common::v1::{Header, Payloads},
    enums::v1::{WorkflowExecutionStatus, WorkflowTaskFailedCause},
    history::v1::{
        WorkflowExecutionCancelRequestedEventAttributes, WorkflowExecutionSignaledEventAttributes,
        WorkflowExecutionTerminatedEventAttributes, WorkflowExecutionTimedOutEventAttributes,
        WorkflowTaskFailedEventAttributes,
    },
};

use crate::error::{EngineError, Result};
use crate::history::{
    Effects, Registry, completion::commands::Applied, lifecycle::chain::Outcome, rules::limits,
};

/// How many recent signal request ids a run remembers for de-duplication.
const SIGNAL_REQUEST_IDS_KEPT: usize = 100;

/// A signal to deliver.
#[derive(Debug, Clone, Default)]
pub(crate) struct Signal {
    pub(crate) name: String,
    pub(crate) input: Option<Payloads>,
    pub(crate) identity: String,
    pub(crate) header: Option<Header>,
    pub(crate) request_id: String,
}

impl Registry {
    /// Adds `WorkflowExecutionSignaled` to an open run and wakes it. A signal whose request
    /// id the run has seen recently is a retry: accepted, not delivered again.
    pub(crate) fn signal(
        &mut self,
        run_id: &str,
        signal: Signal,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<()> {
        let max_signals = self.limits.signals_per_execution;
        let exec = self.run_mut(run_id)?;
        exec.ensure_open()?;
        if max_signals > 0 && exec.state.signal_count >= max_signals {
            tracing::info!(
                run_id,
                max_signals,
                "execution limit reached for maximum signals"
            );
            return Err(EngineError::invalid(limits::TOO_MANY_SIGNALS));
        }
        if !signal.request_id.is_empty() {
            let seen = &mut exec.state.signal_request_ids;
            if seen.contains(&signal.request_id) {
                tracing::debug!(run_id, request_id = signal.request_id, "duplicate signal");
                return Ok(());
            }
            if seen.len() >= SIGNAL_REQUEST_IDS_KEPT {
                seen.pop_front();
            }
            seen.push_back(signal.request_id.clone());
        }
        exec.state.signal_count += 1;
        exec.add_event(
            now_ms,
            WorkflowExecutionSignaledEventAttributes {
                signal_name: signal.name,
                input: signal.input,
                identity: signal.identity,
                header: signal.header,
                request_id: signal.request_id,
                ..Default::default()
            },
        );
        // A first task waiting out a start delay keeps waiting, as on the real server.
        exec.ensure_workflow_task(now_ms, fx);
        fx.history_changed();
        Ok(())
    }

    /// Asks the workflow to cancel itself; repeated requests are accepted and ignored.
    pub(crate) fn request_cancel(
        &mut self,
        run_id: &str,
        reason: &str,
        identity: &str,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<()> {
        let exec = self.run_mut(run_id)?;
        exec.ensure_open()?;
        if exec.state.cancel_requested {
            return Ok(());
        }
        exec.state.cancel_requested = true;
        exec.add_event(
            now_ms,
            WorkflowExecutionCancelRequestedEventAttributes {
                cause: reason.to_owned(),
                identity: identity.to_owned(),
                ..Default::default()
            },
        );
        exec.ensure_workflow_task(now_ms, fx);
        fx.history_changed();
        Ok(())
    }

    /// Closes an open run as terminated, whatever it is doing.
    pub(crate) fn terminate(
        &mut self,
        run_id: &str,
        reason: &str,
        details: Option<Payloads>,
        identity: &str,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<()> {
        let exec = self.run_mut(run_id)?;
        exec.ensure_open()?;
        // A task a worker holds fails first (its completion then finds no task), as on the
        // real server.
        if let Some(wt) = exec
            .state
            .workflow_task
            .as_ref()
            .filter(|wt| wt.started_event_id > 0)
        {
            let failed = WorkflowTaskFailedEventAttributes {
                scheduled_event_id: wt.scheduled_event_id,
                started_event_id: wt.started_event_id,
                cause: WorkflowTaskFailedCause::ForceCloseCommand as i32,
                identity: "history-service".to_owned(),
                ..Default::default()
            };
            exec.append(now_ms, failed);
            exec.state.workflow_task = None;
        }
        exec.flush_buffered();
        exec.append(
            now_ms,
            WorkflowExecutionTerminatedEventAttributes {
                reason: reason.to_owned(),
                details,
                identity: identity.to_owned(),
            },
        );
        exec.close(now_ms, WorkflowExecutionStatus::Terminated);
        fx.history_changed();
        Ok(())
    }

    /// The run timeout fired.
    pub(crate) fn on_run_timeout(&mut self, run_id: &str, now_ms: i64, fx: &mut Effects) {
        let Some(exec) = self.touch(run_id) else {
            return;
        };
        let due = exec.run_deadline_ms().is_some_and(|t| t <= now_ms);
        if !exec.is_open() || !due {
            return;
        }
        exec.flush_buffered();
        let follow = exec.follow(Outcome::TimedOut, now_ms);
        exec.append(
            now_ms,
            WorkflowExecutionTimedOutEventAttributes {
                retry_state: follow.retry_state as i32,
                new_execution_run_id: follow.new_run_id(),
            },
        );
        let next = exec.close_in_chain(now_ms, WorkflowExecutionStatus::TimedOut, follow.next);
        fx.history_changed();
        if let Applied::NextRun(spec) = next {
            self.create_run(*spec, now_ms, fx);
        }
    }
}

#[cfg(test)]
mod tests {
    use temporalio_protos::temporal::api::enums::v1::EventType;

    use super::*;
    use crate::history::testing::{NOW, event_types, registry, start};

    #[test]
    fn a_terminate_fails_the_task_a_worker_holds_first() {
        let mut registry = registry();
        let run = start(&mut registry, "wf");
        let _task = crate::history::testing::take_task(&mut registry, &run);
        registry
            .terminate(&run, "race", None, "", NOW, &mut Effects::default())
            .unwrap_or_else(|e| panic!("terminate: {e}"));
        let types = event_types(&registry, &run);
        assert_eq!(
            types[types.len() - 2..],
            [
                EventType::WorkflowTaskFailed,
                EventType::WorkflowExecutionTerminated
            ]
        );
    }

    #[test]
    fn a_retried_signal_is_delivered_once() {
        let mut registry = registry();
        let run = start(&mut registry, "wf");
        for request_id in ["r1", "r1", "r2"] {
            let signal = Signal {
                name: "go".into(),
                request_id: request_id.into(),
                ..Default::default()
            };
            registry
                .signal(&run, signal, NOW, &mut Effects::default())
                .unwrap_or_else(|e| panic!("signal: {e}"));
        }
        let signals = event_types(&registry, &run)
            .into_iter()
            .filter(|t| *t == EventType::WorkflowExecutionSignaled)
            .count();
        assert_eq!(signals, 2);
    }
}
