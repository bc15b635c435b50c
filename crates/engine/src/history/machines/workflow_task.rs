//! The workflow task state machine: scheduled -> started -> completed | failed | timed out.
//!
//! A run has at most one workflow task. Events that arrive while it is started are buffered
//! (see `execution`); when it finishes they are flushed and, if there are any, a new task is
//! scheduled. Failed and timed-out attempts are retried, with a backoff from the third.

use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::{
    common::v1::{WorkerVersionStamp, WorkflowType},
    enums::v1::{TaskQueueKind, TimeoutType, WorkflowTaskFailedCause},
    failure::v1::Failure,
    history::v1::{
        History, WorkflowTaskFailedEventAttributes, WorkflowTaskScheduledEventAttributes,
        WorkflowTaskStartedEventAttributes, WorkflowTaskTimedOutEventAttributes,
    },
    taskqueue::v1::TaskQueue,
    workflowservice::v1::PollWorkflowTaskQueueResponse,
};

use crate::history::{
    Effects, Execution, QueueKind, Registry, Task, TimerKey, run::token::TaskToken,
};
use crate::{
    matching::deployments::Version,
    time::{duration, timestamp},
};

/// The one workflow task a run may have at a time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WorkflowTaskState {
    pub(crate) scheduled_event_id: i64,
    /// 0 while scheduled, the `WorkflowTaskStarted` event id once a worker has it.
    pub(crate) started_event_id: i64,
    pub(crate) attempt: i32,
    pub(crate) scheduled_time_ms: i64,
    pub(crate) started_time_ms: i64,
    /// Set while the attempt waits out a retry backoff before it is dispatched.
    pub(crate) dispatch_at_ms: Option<i64>,
}

/// Attempts from this one on wait before dispatch, so a worker that keeps failing a task
/// does not spin.
const BACKOFF_FROM_ATTEMPT: i32 = 3;
const MAX_BACKOFF_MS: i64 = 60_000;

impl Execution {
    /// Schedules workflow task attempt `attempt`; the caller guarantees none is in flight.
    /// Schedules the first workflow task to be dispatched only after `delay_ms` (the start
    /// delay); signals that arrive meanwhile wait with it, as on the real server.
    pub(crate) fn schedule_first_workflow_task_after(
        &mut self,
        now_ms: i64,
        delay_ms: i64,
        fx: &mut Effects,
    ) {
        self.schedule_workflow_task_at(now_ms, 1, Some(now_ms.saturating_add(delay_ms)), fx);
    }

    pub(crate) fn schedule_workflow_task(&mut self, now_ms: i64, attempt: i32, fx: &mut Effects) {
        let dispatch_at_ms = (attempt >= BACKOFF_FROM_ATTEMPT).then(|| {
            let exponent = u32::try_from(attempt - BACKOFF_FROM_ATTEMPT).unwrap_or(u32::MAX);
            now_ms
                + 1000_i64
                    .saturating_mul(2_i64.saturating_pow(exponent))
                    .min(MAX_BACKOFF_MS)
        });
        self.schedule_workflow_task_at(now_ms, attempt, dispatch_at_ms, fx);
    }

    /// Records `WorkflowTaskScheduled` and dispatches the task, at once or at
    /// `dispatch_at_ms`.
    fn schedule_workflow_task_at(
        &mut self,
        now_ms: i64,
        attempt: i32,
        dispatch_at_ms: Option<i64>,
        fx: &mut Effects,
    ) {
        let scheduled_event_id = self.append(
            now_ms,
            WorkflowTaskScheduledEventAttributes {
                task_queue: Some(normal_queue(&self.state.task_queue)),
                start_to_close_timeout: Some(duration(self.state.workflow_task_timeout_ms)),
                attempt,
            },
        );
        self.state.workflow_task = Some(WorkflowTaskState {
            scheduled_event_id,
            started_event_id: 0,
            attempt,
            scheduled_time_ms: now_ms,
            started_time_ms: 0,
            dispatch_at_ms,
        });
        self.dispatch_workflow_task(now_ms, fx);
        fx.history_changed();
    }

    /// Puts the scheduled workflow task on its queue (the sticky one when the last worker
    /// asked for it and the task is a first attempt), or arms its backoff timer.
    pub(crate) fn dispatch_workflow_task(&self, now_ms: i64, fx: &mut Effects) {
        let Some(wt) = self.state.workflow_task.as_ref() else {
            return;
        };
        let run_id = self.state.run_id.clone();
        let scheduled_event_id = wt.scheduled_event_id;
        if let Some(at_ms) = wt.dispatch_at_ms {
            fx.timer(
                at_ms,
                TimerKey::WorkflowTaskBackoff {
                    run_id,
                    scheduled_event_id,
                },
            );
            return;
        }
        let mut route = self.route();
        let queue = match self.state.sticky.as_ref().filter(|_| wt.attempt == 1) {
            Some(sticky) => {
                route.normal_queue = Some(self.state.task_queue.clone());
                fx.timer(
                    now_ms + sticky.schedule_to_start_timeout_ms,
                    TimerKey::StickyScheduleToStart {
                        run_id: run_id.clone(),
                        scheduled_event_id,
                    },
                );
                &sticky.name
            }
            None => &self.state.task_queue,
        };
        fx.dispatch(
            &self.state.namespace,
            queue,
            QueueKind::Workflow,
            Task::Workflow {
                run_id,
                scheduled_event_id,
            },
            route,
        );
    }

    /// Where this run's tasks go, by its versioning.
    /// Where the run's tasks go, at the run's priority.
    pub(crate) fn route(&self) -> crate::matching::deployments::Route {
        let mut route = self.state.versioning.route(&self.state.workflow_id);
        route.priority = self.started_priority().map_or(0, |p| p.priority_key);
        route
    }

    /// Schedules a workflow task unless one is already scheduled or started (a started one
    /// sees the new events through the buffer).
    pub(crate) fn ensure_workflow_task(&mut self, now_ms: i64, fx: &mut Effects) {
        if self.is_open() && self.state.workflow_task.is_none() && !self.is_standalone() {
            self.schedule_workflow_task(now_ms, 1, fx);
        }
    }

    /// Ends the started task as failed or timed out: records why, flushes the buffer and
    /// schedules the next attempt.
    fn retry_workflow_task(
        &mut self,
        now_ms: i64,
        attributes: impl Into<temporalio_protos::temporal::api::history::v1::history_event::Attributes>,
        fx: &mut Effects,
    ) {
        let attempt = self
            .state
            .workflow_task
            .as_ref()
            .map_or(1, |wt| wt.attempt.saturating_add(1));
        self.append(now_ms, attributes);
        self.state.workflow_task = None;
        // The worker that failed or lost the task may be gone: use the normal queue.
        self.state.sticky = None;
        self.flush_buffered();
        self.schedule_workflow_task(now_ms, attempt, fx);
        self.release_queries(fx);
    }

    /// The started workflow task, if `token` names it.
    pub(crate) fn started_task(&self, scheduled: i64, started: i64) -> Option<&WorkflowTaskState> {
        self.state.workflow_task.as_ref().filter(|wt| {
            self.is_open() && wt.scheduled_event_id == scheduled && wt.started_event_id == started
        })
    }
}

impl Registry {
    /// Hands the scheduled workflow task to a poller: records `WorkflowTaskStarted` and
    /// builds the poll response. `None` when the task is stale.
    pub(crate) fn start_workflow_task(
        &mut self,
        run_id: &str,
        scheduled_event_id: i64,
        poller: &Poller<'_>,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Option<PollWorkflowTaskQueueResponse> {
        let identity = poller.identity;
        let limits = self.suggest_continue_as_new;
        let exec = self.touch(run_id)?;
        let wt = exec.state.workflow_task.as_ref()?;
        if !exec.is_open()
            || wt.scheduled_event_id != scheduled_event_id
            || wt.started_event_id != 0
            || wt.dispatch_at_ms.is_some_and(|at| at > now_ms)
        {
            return None;
        }
        // A pinned run is told when the version it would go to unpinned moved on, so it can
        // continue as new onto it.
        let target_changed = exec
            .state
            .versioning
            .pinned_by_behavior()
            .zip(poller.target)
            .is_some_and(|(pinned, target)| {
                target.0(&exec.state.task_queue, &exec.state.workflow_id)
                    .is_some_and(|t| t != *pinned)
            });
        let worker_version = (!poller.build_id.is_empty()).then(|| WorkerVersionStamp {
            build_id: poller.build_id.to_owned(),
            ..Default::default()
        });
        let history_size_bytes = i64::try_from(exec.history_size_bytes()).unwrap_or(i64::MAX);
        let events = i64::try_from(exec.events.len()).unwrap_or(i64::MAX);
        let suggest_continue_as_new_reasons = limits.reasons(events, history_size_bytes);
        let started_event_id = exec.append(
            now_ms,
            WorkflowTaskStartedEventAttributes {
                scheduled_event_id,
                identity: identity.to_owned(),
                request_id: uuid::Uuid::new_v4().to_string(),
                history_size_bytes,
                suggest_continue_as_new: !suggest_continue_as_new_reasons.is_empty(),
                suggest_continue_as_new_reasons,
                target_worker_deployment_version_changed: target_changed,
                #[allow(deprecated)]
                worker_version,
                ..Default::default()
            },
        );
        let timeout_ms = exec.state.workflow_task_timeout_ms;
        let wt = exec.state.workflow_task.as_mut()?;
        wt.started_event_id = started_event_id;
        wt.started_time_ms = now_ms;
        wt.dispatch_at_ms = None;
        let (attempt, scheduled_time_ms) = (wt.attempt, wt.scheduled_time_ms);
        fx.timer(
            now_ms + timeout_ms,
            TimerKey::WorkflowTaskTimeout {
                run_id: run_id.to_owned(),
                scheduled_event_id,
            },
        );
        fx.history_changed();
        let token = TaskToken::Workflow {
            run_id: run_id.to_owned(),
            scheduled_event_id,
            started_event_id,
        };
        // A sticky worker has the run cached up to its last task: send only what is new.
        let previous = exec.state.previous_started_event_id;
        let incremental = poller.sticky && previous > 0;
        let first = if incremental {
            usize::try_from(previous).unwrap_or(0)
        } else {
            0
        };
        let events = exec.events.get(first..).unwrap_or_default().to_vec();
        tracing::debug!(
            workflow_id = exec.state.workflow_id,
            run_id,
            started_event_id,
            incremental,
            events = events.len(),
            "workflow task started"
        );
        Some(PollWorkflowTaskQueueResponse {
            task_token: token.encode(),
            workflow_execution: Some(exec.workflow_execution()),
            workflow_type: Some(WorkflowType {
                name: exec.state.workflow_type.clone(),
            }),
            previous_started_event_id: previous,
            started_event_id,
            attempt,
            history: Some(History { events }),
            workflow_execution_task_queue: Some(normal_queue(&exec.state.task_queue)),
            scheduled_time: Some(timestamp(scheduled_time_ms)),
            started_time: Some(timestamp(now_ms)),
            messages: exec.update_messages(started_event_id, incremental),
            queries: exec.take_queries_for_task(),
            ..Default::default()
        })
    }

    /// `RespondWorkflowTaskFailed`: record the failure and retry the task.
    pub(crate) fn fail_workflow_task(
        &mut self,
        task: &WorkflowTaskRef<'_>,
        cause: i32,
        failure: Option<Failure>,
        identity: &str,
        now_ms: i64,
        fx: &mut Effects,
    ) -> crate::error::Result<()> {
        let exec = self.run_mut(task.run_id)?;
        if exec
            .started_task(task.scheduled_event_id, task.started_event_id)
            .is_none()
        {
            return Err(task_not_found());
        }
        let attributes = WorkflowTaskFailedEventAttributes {
            scheduled_event_id: task.scheduled_event_id,
            started_event_id: task.started_event_id,
            cause,
            failure,
            identity: identity.to_owned(),
            ..Default::default()
        };
        exec.retry_workflow_task(now_ms, attributes, fx);
        Ok(())
    }

    /// Fails the started task with `UNHANDLED_COMMAND`: new events arrived while the worker
    /// decided to close the run, so it must see them first.
    pub(crate) fn fail_unhandled_command(
        &mut self,
        task: &WorkflowTaskRef<'_>,
        identity: &str,
        now_ms: i64,
        fx: &mut Effects,
    ) -> crate::error::Result<()> {
        self.fail_workflow_task(
            task,
            WorkflowTaskFailedCause::UnhandledCommand as i32,
            None,
            identity,
            now_ms,
            fx,
        )
    }

    /// The start-to-close timer of a workflow task fired.
    pub(crate) fn on_workflow_task_timeout(
        &mut self,
        run_id: &str,
        scheduled_event_id: i64,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        let Some(exec) = self.touch(run_id) else {
            return;
        };
        let Some(wt) = exec.state.workflow_task.as_ref() else {
            return;
        };
        let deadline = wt.started_time_ms + exec.state.workflow_task_timeout_ms;
        if !exec.is_open()
            || wt.scheduled_event_id != scheduled_event_id
            || wt.started_event_id == 0
            || deadline > now_ms
        {
            return;
        }
        let attributes = WorkflowTaskTimedOutEventAttributes {
            scheduled_event_id,
            started_event_id: wt.started_event_id,
            timeout_type: TimeoutType::StartToClose as i32,
        };
        exec.retry_workflow_task(now_ms, attributes, fx);
    }

    /// A workflow task attempt finished its backoff: dispatch it.
    pub(crate) fn on_workflow_task_backoff(
        &mut self,
        run_id: &str,
        scheduled_event_id: i64,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        let Some(exec) = self.touch(run_id) else {
            return;
        };
        let Some(wt) = exec.state.workflow_task.as_mut() else {
            return;
        };
        if wt.scheduled_event_id != scheduled_event_id
            || wt.started_event_id != 0
            || wt.dispatch_at_ms.is_none()
        {
            return;
        }
        wt.dispatch_at_ms = None;
        exec.dirty = true;
        exec.dispatch_workflow_task(now_ms, fx);
    }
}

/// Who polls for a workflow task.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Poller<'a> {
    pub(crate) identity: &'a str,
    /// Polling its own sticky queue: it has the run cached.
    pub(crate) sticky: bool,
    /// The build id of an unversioned worker that reports one (recorded on the task's
    /// started event, as the real server does); empty for versioned workers.
    pub(crate) build_id: &'a str,
    /// The version a run's tasks would go to now if it were not pinned, from the routing
    /// of its queue's deployment; `None` where there is no such routing (tests, eager).
    pub(crate) target: Option<TargetVersion<'a>>,
}

/// Looks up the target version of a run: `(normal queue, workflow id)` to the version an
/// unpinned run with that id goes to on that queue.
#[derive(Clone, Copy)]
pub(crate) struct TargetVersion<'a>(pub(crate) &'a (dyn Fn(&str, &str) -> Option<Version> + Sync));

impl std::fmt::Debug for TargetVersion<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TargetVersion")
    }
}

/// A started workflow task, as named by its task token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WorkflowTaskRef<'a> {
    pub(crate) run_id: &'a str,
    pub(crate) scheduled_event_id: i64,
    pub(crate) started_event_id: i64,
}

pub(crate) fn normal_queue(name: &str) -> TaskQueue {
    TaskQueue {
        name: name.to_owned(),
        kind: TaskQueueKind::Normal as i32,
        normal_name: String::new(),
    }
}

pub(crate) fn task_not_found() -> crate::error::EngineError {
    crate::error::EngineError::not_found("Workflow task not found.")
}

#[cfg(test)]
mod tests {
    use temporalio_protos::temporal::api::enums::v1::EventType;

    use super::*;
    use crate::history::testing::{self, NOW};

    fn task(registry: &Registry, run_id: &str) -> WorkflowTaskState {
        registry
            .run(run_id)
            .ok()
            .and_then(|e| e.state.workflow_task.clone())
            .unwrap_or_else(|| panic!("run {run_id} has no workflow task"))
    }

    fn fail(registry: &mut Registry, run_id: &str, now: i64) -> Effects {
        let wt = task(registry, run_id);
        let r = WorkflowTaskRef {
            run_id,
            scheduled_event_id: wt.scheduled_event_id,
            started_event_id: wt.started_event_id,
        };
        let mut fx = Effects::default();
        let failed = registry.fail_workflow_task(&r, 0, None, "worker", now, &mut fx);
        assert!(failed.is_ok(), "{failed:?}");
        fx
    }

    #[test]
    fn a_task_that_outlives_its_timeout_times_out_and_is_scheduled_again() {
        let mut registry = testing::registry();
        let run_id = testing::start(&mut registry, "wt-timeout");
        testing::take_task(&mut registry, &run_id);
        let wt = task(&registry, &run_id);
        let mut fx = Effects::default();
        // Early (a re-armed timer) or for another task: ignored.
        registry.on_workflow_task_timeout(&run_id, wt.scheduled_event_id, NOW + 9_999, &mut fx);
        registry.on_workflow_task_timeout(
            &run_id,
            wt.scheduled_event_id + 7,
            NOW + 10_000,
            &mut fx,
        );
        assert_eq!(
            task(&registry, &run_id).started_event_id,
            wt.started_event_id
        );

        // The default task timeout is 10 s.
        registry.on_workflow_task_timeout(&run_id, wt.scheduled_event_id, NOW + 10_000, &mut fx);
        assert_eq!(
            testing::event_types(&registry, &run_id)[2..],
            [
                EventType::WorkflowTaskStarted,
                EventType::WorkflowTaskTimedOut,
                EventType::WorkflowTaskScheduled
            ]
        );
        let next = task(&registry, &run_id);
        assert_eq!((next.attempt, next.started_event_id), (2, 0));
        assert_eq!(
            testing::dispatched(&fx),
            [Task::Workflow {
                run_id: run_id.clone(),
                scheduled_event_id: next.scheduled_event_id
            }]
        );
    }

    #[test]
    fn repeated_failures_wait_out_a_growing_backoff_before_dispatch() {
        let mut registry = testing::registry();
        let run_id = testing::start(&mut registry, "wt-backoff");
        testing::take_task(&mut registry, &run_id);
        // Attempt 2 goes out at once.
        let fx = fail(&mut registry, &run_id, NOW);
        assert_eq!(task(&registry, &run_id).dispatch_at_ms, None);
        assert_eq!(testing::dispatched(&fx).len(), 1);
        testing::take_task(&mut registry, &run_id);
        // Attempt 3 waits 1 s, attempt 4 waits 2 s.
        for (attempt, wait) in [(3, 1_000), (4, 2_000)] {
            let fx = fail(&mut registry, &run_id, NOW);
            let wt = task(&registry, &run_id);
            assert_eq!((wt.attempt, wt.dispatch_at_ms), (attempt, Some(NOW + wait)));
            assert!(testing::dispatched(&fx).is_empty(), "not dispatched yet");
            assert_eq!(
                testing::timers(&fx),
                [(
                    NOW + wait,
                    TimerKey::WorkflowTaskBackoff {
                        run_id: run_id.clone(),
                        scheduled_event_id: wt.scheduled_event_id
                    }
                )]
            );
            let poller = Poller {
                identity: "worker",
                ..Default::default()
            };
            let early = registry.start_workflow_task(
                &run_id,
                wt.scheduled_event_id,
                &poller,
                NOW,
                &mut Effects::default(),
            );
            assert!(early.is_none(), "a poll before the backoff gets nothing");
            let mut fx = Effects::default();
            registry.on_workflow_task_backoff(&run_id, wt.scheduled_event_id, NOW + wait, &mut fx);
            assert_eq!(testing::dispatched(&fx).len(), 1);
            testing::take_task(&mut registry, &run_id);
        }
    }
}
