//! Standalone activity executions (`StartActivityExecution`): an activity a client starts
//! by its own id, with no workflow around it.
//!
//! Each one is a hidden run: its record carries a [`Standalone`] part, its workflow id is
//! the activity id behind [`ID_PREFIX`] (so activity ids and workflow ids never collide),
//! and its one activity is the ordinary activity machine (`machines/activity/`): the same
//! task queue, task tokens, heartbeats, retries and timeouts, the same persistence and
//! recovery. Where a workflow's activity would wake its workflow, this one closes the run.
//!
//! States (the run's status): running (the activity scheduled, started or backing off)
//! -> completed | failed | canceled | terminated | timed out. Transitions: `start` (id
//! reuse and conflict policies, request ids), the activity's own outcome
//! (`on_activity_resolved`), `request_cancel` (at once unless a worker holds it, which
//! learns of it from its next heartbeat), `terminate`, and `delete` (any state); pause,
//! unpause, reset and update-options are the activity machine's, checked here first.
//!
//! Closed ones stay in memory until their namespace's retention has passed (they have no
//! visibility record in the store, so workflow lists never see them); `start.rs` holds the `start` transition, `view.rs` what describe
//! and list show.

mod start;
pub(crate) mod view;

pub(crate) use start::NewActivity;
#[cfg(test)]
use start::StartedActivity;

use prost::Message;
use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::{
    activity::v1::{ActivityExecutionOutcome, activity_execution_outcome::Value as Outcome},
    enums::v1::{RetryState, WorkflowExecutionStatus},
    failure::v1::{CanceledFailureInfo, Failure, TerminatedFailureInfo, failure::FailureInfo},
    history::v1::{
        ActivityTaskCancelRequestedEventAttributes, ActivityTaskCanceledEventAttributes,
        history_event::Attributes,
    },
};

use crate::error::{EngineError, Result};
use crate::history::{
    Effects, Execution, Registry,
    machines::activity::{ActivityPhase, ActivityState},
};
use crate::visibility::status_name;

/// What a standalone activity's hidden run uses as its workflow id, before the activity id.
pub(crate) const ID_PREFIX: &str = "\u{1}activity:";

/// What an operator asks of a running activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Control {
    Pause,
    Unpause,
    Reset,
    UpdateOptions,
}

/// The part of a run's record that makes it a standalone activity execution.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Standalone {
    pub(crate) activity_id: String,
    /// The activity as it was when the execution closed (describe shows its last attempt).
    pub(crate) last: Option<ActivityState>,
    /// Prost-encoded `ActivityExecutionOutcome`, once closed.
    pub(crate) outcome: Option<Vec<u8>>,
    /// The reason of the first cancel request.
    pub(crate) canceled_reason: Option<String>,
    pub(crate) cancel_identity: String,
    /// The request id of the terminate request that closed it.
    pub(crate) terminate_request_id: Option<String>,
    pub(crate) heartbeats: i64,
    /// Changes since the start: describe's `state_transition_count` and long-poll token.
    pub(crate) transitions: i64,
}

fn not_found(activity_id: &str) -> EngineError {
    EngineError::not_found(format!("activity not found for ID: {activity_id}"))
}

impl Registry {
    /// The hidden run of a standalone activity (an empty run id: its latest run).
    pub(crate) fn resolve_standalone(
        &mut self,
        namespace: &str,
        activity_id: &str,
        run_id: &str,
    ) -> Result<String> {
        self.namespace(namespace)?;
        if activity_id.is_empty() {
            return Err(EngineError::invalid("activity ID is required"));
        }
        let workflow_id = format!("{ID_PREFIX}{activity_id}");
        if run_id.is_empty() {
            // Every standalone run is in memory; a deleted latest run leaves the id with
            // no current run (older runs answer only by run id), as on the real server.
            return self
                .current
                .get(&(namespace.to_owned(), workflow_id))
                .cloned()
                .ok_or_else(|| not_found(activity_id));
        }
        self.resolve(namespace, &workflow_id, run_id)
            .map_err(|_| not_found(activity_id))
    }

    /// `RequestCancelActivityExecution`.
    pub(crate) fn request_cancel_standalone(
        &mut self,
        run_id: &str,
        reason: &str,
        identity: &str,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<()> {
        let exec = self.run_mut(run_id)?;
        if !exec.is_open() {
            return Err(EngineError::FailedPrecondition(format!(
                "activity is in terminal state {}",
                status_name(exec.state.status)
            )));
        }
        let Some((scheduled_event_id, phase, requested)) = exec
            .state
            .activities
            .values()
            .next()
            .map(|a| (a.scheduled_event_id, a.phase, a.cancel_requested_event_id))
        else {
            return Ok(());
        };
        if requested.is_some() {
            return Ok(());
        }
        let requested_id = exec.append(
            now_ms,
            ActivityTaskCancelRequestedEventAttributes {
                scheduled_event_id,
                workflow_task_completed_event_id: 0,
            },
        );
        if let Some(standalone) = exec.state.standalone.as_mut() {
            standalone.canceled_reason = Some(reason.to_owned());
            standalone.cancel_identity = identity.to_owned();
            standalone.transitions += 1;
        }
        if let Some(activity) = exec.state.activities.get_mut(&scheduled_event_id) {
            activity.cancel_requested_event_id = Some(requested_id);
        }
        exec.dirty = true;
        if phase != ActivityPhase::Started {
            // No worker holds it: canceled now, as on the real server.
            let identity = identity.to_owned();
            exec.resolve_activity(
                scheduled_event_id,
                |started_event_id| {
                    ActivityTaskCanceledEventAttributes {
                        latest_cancel_requested_event_id: requested_id,
                        scheduled_event_id,
                        started_event_id,
                        identity,
                        ..Default::default()
                    }
                    .into()
                },
                now_ms,
                fx,
            );
        }
        Ok(())
    }

    /// `TerminateActivityExecution`: closed now; a worker that holds it finds it gone.
    pub(crate) fn terminate_standalone(
        &mut self,
        run_id: &str,
        reason: &str,
        identity: &str,
        request_id: &str,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<()> {
        let exec = self.run_mut(run_id)?;
        if !exec.is_open() {
            let terminated_by = exec
                .state
                .standalone
                .as_ref()
                .and_then(|s| s.terminate_request_id.clone());
            return match terminated_by {
                Some(id) if !request_id.is_empty() && id == request_id => Ok(()),
                Some(id) => Err(EngineError::FailedPrecondition(format!(
                    "already terminated with request ID {id}"
                ))),
                None => Err(EngineError::FailedPrecondition(format!(
                    "invalid transition from {}",
                    status_name(exec.state.status)
                ))),
            };
        }
        let last = exec.state.activities.values().next().cloned();
        let failure = Failure {
            message: reason.to_owned(),
            failure_info: Some(FailureInfo::TerminatedFailureInfo(TerminatedFailureInfo {
                identity: identity.to_owned(),
            })),
            ..Default::default()
        };
        let request_id = if request_id.is_empty() {
            uuid::Uuid::new_v4().to_string()
        } else {
            request_id.to_owned()
        };
        if let Some(standalone) = exec.state.standalone.as_mut() {
            standalone.terminate_request_id = Some(request_id);
        }
        exec.close_standalone(
            last,
            Outcome::Failure(failure),
            RetryState::NonRetryableFailure,
            WorkflowExecutionStatus::Terminated,
            now_ms,
        );
        fx.history_changed();
        Ok(())
    }

    /// Refuses pausing, unpausing, resetting or updating the options of a standalone
    /// activity in a state the real server refuses it in, with its words; the change
    /// itself is the activity machine's (`machines/activity/pause.rs`, `options.rs`).
    pub(crate) fn check_standalone_control(&self, run_id: &str, control: Control) -> Result<()> {
        let exec = self.run(run_id)?;
        let activity = exec.state.activities.values().next();
        let refuse = |m: String| Err(EngineError::FailedPrecondition(m));
        let status = status_name(exec.state.status);
        let paused = activity.is_some_and(|a| a.paused.is_some());
        match control {
            Control::Pause if !exec.is_open() => {
                refuse(format!("activity is in non-pausable state {status}"))
            }
            Control::Pause if paused => {
                refuse("activity is in non-pausable state Paused".to_owned())
            }
            Control::Unpause if !exec.is_open() => {
                refuse(format!("activity is in terminal state {status}"))
            }
            Control::Unpause if !paused => {
                let state = match activity.map(|a| a.phase) {
                    Some(ActivityPhase::Started) => "Started",
                    _ => "Scheduled",
                };
                refuse(format!("activity is in non-unpausable state {state}"))
            }
            Control::Reset if !exec.is_open() => {
                refuse("activity execution is not running".to_owned())
            }
            Control::UpdateOptions if !exec.is_open() => refuse(format!(
                "Cannot update options for activity in state {status}"
            )),
            _ => Ok(()),
        }
    }

    /// The current attempt of a standalone activity, for the `...ById` requests without a
    /// workflow id: (run id, scheduled event id, attempt). One that `finishes` (complete,
    /// fail, cancel) is taken as started if no worker holds it, as on the real server; a
    /// heartbeat needs a worker to hold it.
    pub(crate) fn standalone_by_id(
        &mut self,
        namespace: &str,
        run_id: &str,
        activity_id: &str,
        finishes: bool,
        now_ms: i64,
    ) -> Result<(String, i64, i32)> {
        let run_id = self.resolve_standalone(namespace, activity_id, run_id)?;
        let exec = self.run_mut(&run_id)?;
        if !exec.is_open() && finishes {
            return Err(EngineError::FailedPrecondition(format!(
                "invalid transition from {}",
                status_name(exec.state.status)
            )));
        }
        let activity = exec
            .state
            .activities
            .values_mut()
            .next()
            .filter(|a| finishes || a.phase == ActivityPhase::Started)
            .ok_or_else(|| not_found(activity_id))?;
        if activity.phase != ActivityPhase::Started {
            activity.phase = ActivityPhase::Started;
            activity.started_time_ms = now_ms;
        }
        let found = (
            run_id.clone(),
            activity.scheduled_event_id,
            activity.attempt,
        );
        exec.dirty = true;
        Ok(found)
    }

    /// Standalone activities of `namespace` closed in `closed` (ms), at most `limit`: the
    /// retention sweep deletes them (they have no visibility record for the store to find).
    pub(crate) fn expired_activities(
        &self,
        namespace: &str,
        closed: &std::ops::Range<i64>,
        limit: usize,
    ) -> Vec<String> {
        self.activities_in(namespace)
            .filter(|e| e.state.close_time_ms.is_some_and(|t| closed.contains(&t)))
            .map(|e| e.state.run_id.clone())
            .take(limit)
            .collect()
    }

    /// `DeleteActivityExecution`: gone in any state, from memory now and from the store
    /// with the next batch.
    pub(crate) fn delete_standalone(&mut self, run_id: &str) {
        self.forget_run(run_id);
    }
}

impl Execution {
    /// Whether this run is a standalone activity execution.
    pub(crate) fn is_standalone(&self) -> bool {
        self.state.standalone.is_some()
    }

    /// The activity resolved (its outcome event is the last one): the execution closes
    /// with it.
    pub(in crate::history) fn on_activity_resolved(
        &mut self,
        activity: ActivityState,
        now_ms: i64,
    ) {
        let Some(last) = self.events.last().and_then(|e| e.attributes.clone()) else {
            return;
        };
        let (outcome, retry_state, status) = match last {
            Attributes::ActivityTaskCompletedEventAttributes(a) => (
                Outcome::Result(a.result.unwrap_or_default()),
                RetryState::Unspecified,
                WorkflowExecutionStatus::Completed,
            ),
            Attributes::ActivityTaskFailedEventAttributes(a) => (
                Outcome::Failure(a.failure.unwrap_or_default()),
                RetryState::try_from(a.retry_state).unwrap_or(RetryState::Unspecified),
                WorkflowExecutionStatus::Failed,
            ),
            Attributes::ActivityTaskTimedOutEventAttributes(a) => (
                Outcome::Failure(a.failure.unwrap_or_default()),
                RetryState::try_from(a.retry_state).unwrap_or(RetryState::Unspecified),
                WorkflowExecutionStatus::TimedOut,
            ),
            Attributes::ActivityTaskCanceledEventAttributes(a) => (
                Outcome::Failure(Failure {
                    message: "Activity canceled".to_owned(),
                    failure_info: Some(FailureInfo::CanceledFailureInfo(CanceledFailureInfo {
                        details: a.details,
                        identity: a.identity,
                    })),
                    ..Default::default()
                }),
                RetryState::Unspecified,
                WorkflowExecutionStatus::Canceled,
            ),
            _ => return,
        };
        self.close_standalone(Some(activity), outcome, retry_state, status, now_ms);
    }

    fn close_standalone(
        &mut self,
        last: Option<ActivityState>,
        outcome: Outcome,
        retry_state: RetryState,
        status: WorkflowExecutionStatus,
        now_ms: i64,
    ) {
        let outcome = ActivityExecutionOutcome {
            value: Some(outcome),
            retry_state: retry_state as i32,
        };
        if let Some(standalone) = self.state.standalone.as_mut() {
            standalone.last = last;
            standalone.outcome = Some(outcome.encode_to_vec());
            standalone.transitions += 1;
        }
        self.close(now_ms, status);
    }

    /// Counts a change describe's long poll waits for.
    pub(in crate::history) fn note_standalone_change(&mut self, heartbeat: bool) {
        if let Some(standalone) = self.state.standalone.as_mut() {
            if heartbeat {
                standalone.heartbeats += 1;
            } else {
                standalone.transitions += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use temporalio_protos::temporal::api::enums::v1::WorkflowExecutionStatus as S;

    use temporalio_protos::temporal::api::enums::v1::{
        ActivityIdConflictPolicy, ActivityIdReusePolicy,
    };

    use super::*;
    use crate::history::{
        ActivityRef, Effect, Task,
        testing::{self, NOW},
    };

    fn spec(id: &str, request_id: &str) -> NewActivity {
        NewActivity {
            namespace: "default".into(),
            activity_id: id.into(),
            activity_type: "A".into(),
            task_queue: "q".into(),
            request_id: request_id.into(),
            start_to_close: Some(crate::time::duration(10_000)),
            ..NewActivity::default()
        }
    }

    fn start(registry: &mut Registry, spec: NewActivity) -> Result<StartedActivity> {
        registry.start_standalone(spec, NOW, &mut Effects::default())
    }

    /// Hands the activity to a worker; returns its attempt.
    fn poll(registry: &mut Registry, run_id: &str) -> i32 {
        let attempt = registry
            .run(run_id)
            .ok()
            .and_then(|e| e.state.activities.values().next().map(|a| a.attempt));
        let attempt = attempt.unwrap_or_else(|| panic!("{run_id} has no activity"));
        let task = registry.start_activity(run_id, 2, attempt, "w", NOW, &mut Effects::default());
        assert!(
            task.is_some_and(|t| t.workflow_execution.is_none() && t.activity_run_id == run_id)
        );
        attempt
    }

    fn status(registry: &Registry, run_id: &str) -> i32 {
        registry.run(run_id).map_or(0, |e| e.state.status)
    }

    #[test]
    fn a_start_queues_the_activity_and_its_completion_closes_the_run() {
        let mut registry = testing::registry();
        let mut fx = Effects::default();
        let started = registry.start_standalone(spec("a", "r1"), NOW, &mut fx);
        let run_id = started.map(|s| s.run_id).unwrap_or_default();
        assert!(fx.0.iter().any(|e| matches!(e,
            Effect::Dispatch { task: Task::Activity { run_id: r, .. }, .. } if *r == run_id)));
        let attempt = poll(&mut registry, &run_id);
        let activity = ActivityRef {
            run_id: &run_id,
            scheduled_event_id: 2,
            attempt,
        };
        let done = registry.complete_activity(&activity, None, "w", NOW, &mut Effects::default());
        assert!(done.is_ok());
        assert_eq!(status(&registry, &run_id), S::Completed as i32);
        let exec = registry.run(&run_id).ok();
        assert!(exec.is_some_and(|e| e.state.workflow_task.is_none()
            && matches!(
                e.activity_outcome().and_then(|o| o.value),
                Some(Outcome::Result(_))
            )));
        assert_eq!(registry.runs_in("default").count(), 0, "not a workflow");
        assert_eq!(registry.activities_in("default").count(), 1);
    }

    #[test]
    fn ids_follow_the_request_id_and_the_conflict_and_reuse_policies() {
        let mut registry = testing::registry();
        let first = start(&mut registry, spec("a", "r1"))
            .map(|s| s.run_id)
            .unwrap_or_default();
        let again = start(&mut registry, spec("a", "r1"));
        assert_eq!(
            again.ok(),
            Some(StartedActivity {
                run_id: first.clone(),
                started: false
            })
        );
        assert!(matches!(
            start(&mut registry, spec("a", "r2")),
            Err(EngineError::ActivityAlreadyStarted { .. })
        ));
        let existing = NewActivity {
            conflict_policy: ActivityIdConflictPolicy::UseExisting as i32,
            ..spec("a", "r3")
        };
        assert!(start(&mut registry, existing).is_ok_and(|s| s.run_id == first && !s.started));
        let terminated =
            registry.terminate_standalone(&first, "x", "me", "t1", NOW, &mut Effects::default());
        assert!(terminated.is_ok());
        let reject = NewActivity {
            reuse_policy: ActivityIdReusePolicy::RejectDuplicate as i32,
            ..spec("a", "r4")
        };
        assert!(start(&mut registry, reject).is_err());
        let failed_only = NewActivity {
            reuse_policy: ActivityIdReusePolicy::AllowDuplicateFailedOnly as i32,
            ..spec("a", "r5")
        };
        assert!(start(&mut registry, failed_only).is_ok_and(|s| s.started && s.run_id != first));
        let missing = NewActivity {
            start_to_close: None,
            ..spec("b", "r6")
        };
        assert!(
            matches!(start(&mut registry, missing), Err(EngineError::InvalidArgument(m))
            if m.starts_with("a valid StartToCloseTimeout or ScheduleToCloseTimeout"))
        );
    }

    #[test]
    fn cancel_is_at_once_unless_a_worker_holds_it_and_terminate_closes_any_open_one() {
        let mut registry = testing::registry();
        let mut fx = Effects::default();
        let queued = start(&mut registry, spec("q", "r1"))
            .map(|s| s.run_id)
            .unwrap_or_default();
        assert!(
            registry
                .request_cancel_standalone(&queued, "why", "me", NOW, &mut fx)
                .is_ok()
        );
        assert_eq!(status(&registry, &queued), S::Canceled as i32);
        let again = registry.request_cancel_standalone(&queued, "why", "me", NOW, &mut fx);
        assert!(matches!(again, Err(EngineError::FailedPrecondition(m))
            if m == "activity is in terminal state Canceled"));

        let held = start(&mut registry, spec("h", "r2"))
            .map(|s| s.run_id)
            .unwrap_or_default();
        let attempt = poll(&mut registry, &held);
        assert!(
            registry
                .request_cancel_standalone(&held, "why", "me", NOW, &mut fx)
                .is_ok()
        );
        assert_eq!(
            status(&registry, &held),
            S::Running as i32,
            "the worker decides"
        );
        let activity = ActivityRef {
            run_id: &held,
            scheduled_event_id: 2,
            attempt,
        };
        let beat = registry.heartbeat_activity(&activity, None, NOW, &mut fx);
        assert!(beat.is_ok_and(|b| b.cancel_requested));
        assert!(
            registry
                .cancel_activity(&activity, None, "w", NOW, &mut fx)
                .is_ok()
        );
        assert_eq!(status(&registry, &held), S::Canceled as i32);

        let open = start(&mut registry, spec("t", "r3"))
            .map(|s| s.run_id)
            .unwrap_or_default();
        assert!(
            registry
                .terminate_standalone(&open, "bye", "me", "t1", NOW, &mut fx)
                .is_ok()
        );
        assert_eq!(status(&registry, &open), S::Terminated as i32);
        assert!(
            registry
                .terminate_standalone(&open, "bye", "me", "t1", NOW, &mut fx)
                .is_ok()
        );
        assert!(
            registry
                .terminate_standalone(&open, "bye", "me", "t2", NOW, &mut fx)
                .is_err()
        );
        registry.delete_standalone(&open);
        assert!(registry.resolve_standalone("default", "t", "").is_err());
    }

    #[test]
    fn controls_are_refused_in_the_real_servers_states() {
        let mut registry = testing::registry();
        let run = start(&mut registry, spec("p", "r1"))
            .map(|s| s.run_id)
            .unwrap_or_default();
        let refused = |r: &Registry, c| match r.check_standalone_control(&run, c) {
            Err(EngineError::FailedPrecondition(m)) => m,
            other => format!("{other:?}"),
        };
        assert_eq!(
            refused(&registry, Control::Unpause),
            "activity is in non-unpausable state Scheduled"
        );
        assert!(
            registry
                .check_standalone_control(&run, Control::Pause)
                .is_ok()
        );
        let target = crate::history::Target::Id("p".into());
        let pause = crate::history::Pause {
            time_ms: NOW,
            identity: "me".into(),
            reason: "hold".into(),
            request_id: "p1".into(),
        };
        assert!(registry.pause_activities(&run, &target, pause).is_ok());
        assert_eq!(
            refused(&registry, Control::Pause),
            "activity is in non-pausable state Paused"
        );
        let mut fx = Effects::default();
        assert!(
            registry
                .terminate_standalone(&run, "x", "me", "t", NOW, &mut fx)
                .is_ok()
        );
        assert_eq!(
            refused(&registry, Control::Pause),
            "activity is in non-pausable state Terminated"
        );
        assert_eq!(
            refused(&registry, Control::Reset),
            "activity execution is not running"
        );
    }

    #[test]
    fn retention_finds_the_closed_ones_past_it() {
        let mut registry = testing::registry();
        let mut fx = Effects::default();
        let open = start(&mut registry, spec("open", "r1"))
            .map(|s| s.run_id)
            .unwrap_or_default();
        let done = start(&mut registry, spec("done", "r2"))
            .map(|s| s.run_id)
            .unwrap_or_default();
        assert!(
            registry
                .terminate_standalone(&done, "x", "me", "t", NOW, &mut fx)
                .is_ok()
        );
        assert_eq!(
            registry.expired_activities("default", &(i64::MIN..NOW), 10),
            Vec::<String>::new()
        );
        assert_eq!(
            registry.expired_activities("default", &(i64::MIN..NOW + 1), 10),
            vec![done.clone()]
        );
        registry.forget_closed_runs(&[done, open.clone()]);
        assert!(registry.resolve_standalone("default", "done", "").is_err());
        assert!(
            registry
                .resolve_standalone("default", "open", "")
                .is_ok_and(|r| r == open)
        );
    }
}
