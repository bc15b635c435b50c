//! The activity state machine: scheduled -> started -> completed | failed | canceled |
//! timed out, with server-side retries (started -> backoff -> scheduled) in between.
//!
//! Retried attempts write no history; only the final outcome appends
//! `ActivityTaskStarted` (with the last attempt number) and the outcome event.

use prost::Message;
use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::{
    command::v1::ScheduleActivityTaskCommandAttributes,
    common::v1::{Payloads, WorkflowType},
    enums::v1::{RetryState, TimeoutType},
    failure::v1::{Failure, TimeoutFailureInfo, failure::FailureInfo},
    history::v1::{
        ActivityTaskCancelRequestedEventAttributes, ActivityTaskCanceledEventAttributes,
        ActivityTaskCompletedEventAttributes, ActivityTaskFailedEventAttributes,
        ActivityTaskScheduledEventAttributes, ActivityTaskStartedEventAttributes,
        ActivityTaskTimedOutEventAttributes, history_event::Attributes,
    },
    workflowservice::v1::PollActivityTaskQueueResponse,
};

use super::{
    Effects, Execution, QueueKind, Registry, Task, TimerKey,
    effects::ActivityTimeout,
    retry::{self, Decision},
    token::TaskToken,
    workflow_task::normal_queue,
};
use crate::{
    error::{EngineError, Result},
    time::{duration, duration_ms, timestamp},
};

/// Where an activity attempt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ActivityPhase {
    /// On the task queue, waiting for a worker.
    Scheduled,
    /// A worker has it.
    Started,
    /// Waiting out a retry backoff.
    Backoff,
}

/// A scheduled activity that has not resolved yet. Its inputs and options live in its
/// `ActivityTaskScheduled` event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ActivityState {
    pub(crate) scheduled_event_id: i64,
    pub(crate) activity_id: String,
    pub(crate) task_queue: String,
    pub(crate) attempt: i32,
    pub(crate) phase: ActivityPhase,
    pub(crate) scheduled_time_ms: i64,
    pub(crate) attempt_scheduled_time_ms: i64,
    pub(crate) started_time_ms: i64,
    pub(crate) identity: String,
    pub(crate) last_heartbeat_ms: i64,
    /// Prost-encoded `Payloads` of the last heartbeat.
    pub(crate) heartbeat_details: Option<Vec<u8>>,
    /// Prost-encoded `Failure` of the last failed attempt.
    pub(crate) last_failure: Option<Vec<u8>>,
    pub(crate) cancel_requested_event_id: Option<i64>,
}

/// A started activity attempt, as named by its task token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ActivityRef<'a> {
    pub(crate) run_id: &'a str,
    pub(crate) scheduled_event_id: i64,
    pub(crate) attempt: i32,
}

/// Resolved timeouts of an activity, in milliseconds.
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    schedule_to_close: Option<i64>,
    schedule_to_start: Option<i64>,
    start_to_close: Option<i64>,
    heartbeat: Option<i64>,
}

impl Timeouts {
    fn of(a: &ActivityTaskScheduledEventAttributes) -> Self {
        Self {
            schedule_to_close: duration_ms(a.schedule_to_close_timeout.as_ref()),
            schedule_to_start: duration_ms(a.schedule_to_start_timeout.as_ref()),
            start_to_close: duration_ms(a.start_to_close_timeout.as_ref()),
            heartbeat: duration_ms(a.heartbeat_timeout.as_ref()),
        }
    }

    /// Fills unset timeouts the way Temporal does: the run timeout caps schedule-to-close,
    /// which is the default for the other two; heartbeat never exceeds start-to-close.
    fn resolve(a: &ScheduleActivityTaskCommandAttributes, run_timeout: Option<i64>) -> Self {
        let cap = |v: Option<i64>| match (v, run_timeout) {
            (Some(v), Some(run)) => Some(v.min(run)),
            (v, run) => v.or(run),
        };
        let schedule_to_close = cap(duration_ms(a.schedule_to_close_timeout.as_ref()));
        let start_to_close = duration_ms(a.start_to_close_timeout.as_ref())
            .or(schedule_to_close)
            .map(|v| schedule_to_close.map_or(v, |s| v.min(s)));
        let schedule_to_start = duration_ms(a.schedule_to_start_timeout.as_ref())
            .map(|v| schedule_to_close.map_or(v, |s| v.min(s)));
        let heartbeat = duration_ms(a.heartbeat_timeout.as_ref())
            .map(|v| start_to_close.map_or(v, |s| v.min(s)));
        Self {
            schedule_to_close,
            schedule_to_start,
            start_to_close,
            heartbeat,
        }
    }
}

impl Execution {
    /// `ScheduleActivityTask`: record the event and put attempt 1 on its queue.
    pub(crate) fn schedule_activity(
        &mut self,
        a: ScheduleActivityTaskCommandAttributes,
        completed_id: i64,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        let task_queue = a
            .task_queue
            .as_ref()
            .map(|q| q.name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| self.state.task_queue.clone());
        let timeouts = Timeouts::resolve(&a, self.state.run_timeout_ms);
        let scheduled_event_id = self.append(
            now_ms,
            ActivityTaskScheduledEventAttributes {
                activity_id: a.activity_id.clone(),
                activity_type: a.activity_type,
                task_queue: Some(normal_queue(&task_queue)),
                header: a.header,
                input: a.input,
                schedule_to_close_timeout: timeouts.schedule_to_close.map(duration),
                schedule_to_start_timeout: timeouts.schedule_to_start.map(duration),
                start_to_close_timeout: timeouts.start_to_close.map(duration),
                heartbeat_timeout: timeouts.heartbeat.map(duration),
                workflow_task_completed_event_id: completed_id,
                retry_policy: Some(retry::with_defaults(a.retry_policy)),
                priority: a.priority,
                ..Default::default()
            },
        );
        let activity = ActivityState {
            scheduled_event_id,
            activity_id: a.activity_id,
            task_queue,
            attempt: 1,
            phase: ActivityPhase::Scheduled,
            scheduled_time_ms: now_ms,
            attempt_scheduled_time_ms: now_ms,
            started_time_ms: 0,
            identity: String::new(),
            last_heartbeat_ms: 0,
            heartbeat_details: None,
            last_failure: None,
            cancel_requested_event_id: None,
        };
        self.arm_activity(&activity, fx);
        self.state.activities.insert(scheduled_event_id, activity);
    }

    /// Emits what an activity in its current phase needs: its task on the queue and its
    /// timers. Used when scheduling and when recovering after a restart.
    pub(crate) fn arm_activity(&self, activity: &ActivityState, fx: &mut Effects) {
        let Some(attributes) = self.activity_attributes(activity.scheduled_event_id) else {
            return;
        };
        let timeouts = Timeouts::of(attributes);
        let run_id = &self.state.run_id;
        let key = |timeout| TimerKey::Activity {
            run_id: run_id.clone(),
            scheduled_event_id: activity.scheduled_event_id,
            attempt: activity.attempt,
            timeout,
        };
        if let Some(s2c) = timeouts.schedule_to_close {
            fx.timer(
                activity.scheduled_time_ms + s2c,
                key(ActivityTimeout::ScheduleToClose),
            );
        }
        match activity.phase {
            ActivityPhase::Scheduled => {
                fx.dispatch(
                    &self.state.namespace,
                    &activity.task_queue,
                    QueueKind::Activity,
                    Task::Activity {
                        run_id: run_id.clone(),
                        scheduled_event_id: activity.scheduled_event_id,
                        attempt: activity.attempt,
                    },
                );
                if let Some(s2s) = timeouts.schedule_to_start {
                    fx.timer(
                        activity.attempt_scheduled_time_ms + s2s,
                        key(ActivityTimeout::ScheduleToStart),
                    );
                }
            }
            ActivityPhase::Started => {
                if let Some(stc) = timeouts.start_to_close {
                    fx.timer(
                        activity.started_time_ms + stc,
                        key(ActivityTimeout::StartToClose),
                    );
                }
                if let Some(hb) = timeouts.heartbeat {
                    let last = activity.last_heartbeat_ms.max(activity.started_time_ms);
                    fx.timer(last + hb, key(ActivityTimeout::Heartbeat));
                }
            }
            ActivityPhase::Backoff => fx.timer(
                activity.attempt_scheduled_time_ms,
                TimerKey::ActivityRetry {
                    run_id: run_id.clone(),
                    scheduled_event_id: activity.scheduled_event_id,
                    attempt: activity.attempt,
                },
            ),
        }
    }

    /// `RequestCancelActivityTask`. A started activity learns of it through heartbeats; one
    /// that has not started is canceled at once. Returns whether new events need a task.
    pub(crate) fn request_cancel_activity(
        &mut self,
        scheduled_event_id: i64,
        completed_id: i64,
        now_ms: i64,
    ) -> bool {
        let Some(phase) = self
            .state
            .activities
            .get(&scheduled_event_id)
            .map(|a| a.phase)
        else {
            return false;
        };
        let requested_id = self.append(
            now_ms,
            ActivityTaskCancelRequestedEventAttributes {
                scheduled_event_id,
                workflow_task_completed_event_id: completed_id,
            },
        );
        if phase == ActivityPhase::Started {
            if let Some(activity) = self.state.activities.get_mut(&scheduled_event_id) {
                activity.cancel_requested_event_id = Some(requested_id);
            }
            return false;
        }
        self.append(
            now_ms,
            ActivityTaskCanceledEventAttributes {
                latest_cancel_requested_event_id: requested_id,
                scheduled_event_id,
                ..Default::default()
            },
        );
        self.state.activities.remove(&scheduled_event_id);
        true
    }

    /// Records an activity's final outcome (with its started event, if it ever started)
    /// and wakes the workflow.
    fn resolve_activity(
        &mut self,
        scheduled_event_id: i64,
        outcome: impl FnOnce(i64) -> Attributes,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        let Some(activity) = self.state.activities.remove(&scheduled_event_id) else {
            return;
        };
        let started_id = if activity.phase == ActivityPhase::Started {
            let last_failure = activity
                .last_failure
                .as_deref()
                .and_then(|b| Failure::decode(b).ok());
            self.add_event(
                now_ms,
                ActivityTaskStartedEventAttributes {
                    scheduled_event_id,
                    identity: activity.identity.clone(),
                    request_id: uuid::Uuid::new_v4().to_string(),
                    attempt: activity.attempt,
                    last_failure,
                    ..Default::default()
                },
            )
        } else {
            0
        };
        self.add_event(now_ms, outcome(started_id));
        self.ensure_workflow_task(now_ms, fx);
        fx.history_changed();
    }

    /// After a failed or timed-out attempt: retry with backoff, or report `Stop`.
    fn retry_or_stop(
        &mut self,
        scheduled_event_id: i64,
        failure: &Failure,
        retryable_failure: Option<&Failure>,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Option<RetryState> {
        let attributes = self.activity_attributes(scheduled_event_id)?;
        let policy = retry::with_defaults(attributes.retry_policy.clone());
        let s2c = Timeouts::of(attributes).schedule_to_close;
        let activity = self.state.activities.get(&scheduled_event_id)?;
        let deadline = s2c.map(|s| activity.scheduled_time_ms + s);
        match retry::decide(
            &policy,
            activity.attempt,
            retryable_failure,
            now_ms,
            deadline,
        ) {
            Decision::Stop(state) => Some(state),
            Decision::Retry(backoff_ms) => {
                let activity = self.state.activities.get_mut(&scheduled_event_id)?;
                activity.attempt = activity.attempt.saturating_add(1);
                activity.phase = ActivityPhase::Backoff;
                activity.attempt_scheduled_time_ms = now_ms + backoff_ms;
                activity.started_time_ms = 0;
                activity.last_failure = Some(failure.encode_to_vec());
                let snapshot = activity.clone();
                self.dirty = true;
                fx.timer(
                    snapshot.attempt_scheduled_time_ms,
                    TimerKey::ActivityRetry {
                        run_id: self.state.run_id.clone(),
                        scheduled_event_id,
                        attempt: snapshot.attempt,
                    },
                );
                None
            }
        }
    }

    fn started_activity(&mut self, r: &ActivityRef<'_>) -> Result<&mut ActivityState> {
        let open = self.is_open();
        self.state
            .activities
            .get_mut(&r.scheduled_event_id)
            .filter(|a| open && a.phase == ActivityPhase::Started && a.attempt == r.attempt)
            .ok_or_else(|| EngineError::not_found("activity task not found"))
    }
}

impl Registry {
    /// The current attempt of the activity `activity_id` of a run, for the `...ById`
    /// requests that name an activity instead of handing back its task token (an empty run
    /// id means the workflow's latest run): (run id, scheduled event id, attempt).
    pub(crate) fn activity_by_id(
        &mut self,
        namespace: &str,
        workflow_id: &str,
        run_id: &str,
        activity_id: &str,
    ) -> Result<(String, i64, i32)> {
        if workflow_id.is_empty() {
            return Err(EngineError::invalid("WorkflowId is not set on request."));
        }
        if activity_id.is_empty() {
            return Err(EngineError::invalid("ActivityId is not set on request."));
        }
        let run_id = self.resolve_open(namespace, workflow_id, run_id)?;
        let exec = self.run(&run_id)?;
        let activity = exec
            .state
            .activities
            .values()
            .find(|a| a.activity_id == activity_id)
            .ok_or_else(|| EngineError::not_found("activity task not found"))?;
        Ok((run_id, activity.scheduled_event_id, activity.attempt))
    }

    /// Hands a scheduled activity attempt to a poller. `None` when the task is stale.
    pub(crate) fn start_activity(
        &mut self,
        run_id: &str,
        scheduled_event_id: i64,
        attempt: i32,
        identity: &str,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Option<PollActivityTaskQueueResponse> {
        let exec = self.touch(run_id)?;
        if !exec.is_open() {
            return None;
        }
        let activity = exec.state.activities.get_mut(&scheduled_event_id)?;
        if activity.phase != ActivityPhase::Scheduled || activity.attempt != attempt {
            return None;
        }
        activity.phase = ActivityPhase::Started;
        activity.started_time_ms = now_ms;
        activity.identity = identity.to_owned();
        let activity = activity.clone();
        exec.dirty = true;
        exec.arm_activity(&activity, fx);
        let attributes = exec.activity_attributes(scheduled_event_id)?;
        let token = TaskToken::Activity {
            run_id: run_id.to_owned(),
            scheduled_event_id,
            attempt,
        };
        Some(PollActivityTaskQueueResponse {
            task_token: token.encode(),
            workflow_namespace: exec.state.namespace.clone(),
            workflow_type: Some(WorkflowType {
                name: exec.state.workflow_type.clone(),
            }),
            workflow_execution: Some(exec.workflow_execution()),
            activity_type: attributes.activity_type.clone(),
            activity_id: activity.activity_id.clone(),
            header: attributes.header.clone(),
            input: attributes.input.clone(),
            heartbeat_details: activity
                .heartbeat_details
                .as_deref()
                .and_then(|b| Payloads::decode(b).ok()),
            scheduled_time: Some(timestamp(activity.scheduled_time_ms)),
            current_attempt_scheduled_time: Some(timestamp(activity.attempt_scheduled_time_ms)),
            started_time: Some(timestamp(now_ms)),
            attempt,
            schedule_to_close_timeout: attributes.schedule_to_close_timeout,
            start_to_close_timeout: attributes.start_to_close_timeout,
            heartbeat_timeout: attributes.heartbeat_timeout,
            retry_policy: attributes.retry_policy.clone(),
            priority: attributes.priority.clone(),
            ..Default::default()
        })
    }

    /// `RespondActivityTaskCompleted`.
    pub(crate) fn complete_activity(
        &mut self,
        r: &ActivityRef<'_>,
        result: Option<Payloads>,
        identity: &str,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<()> {
        let exec = self.run_mut(r.run_id)?;
        exec.started_activity(r)?;
        let scheduled_event_id = r.scheduled_event_id;
        let identity = identity.to_owned();
        exec.resolve_activity(
            scheduled_event_id,
            |started_event_id| {
                ActivityTaskCompletedEventAttributes {
                    result,
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
        Ok(())
    }

    /// `RespondActivityTaskFailed`: retry per the policy, or record the failure.
    pub(crate) fn fail_activity(
        &mut self,
        r: &ActivityRef<'_>,
        failure: Failure,
        last_heartbeat_details: Option<Payloads>,
        identity: &str,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<()> {
        let exec = self.run_mut(r.run_id)?;
        let activity = exec.started_activity(r)?;
        if let Some(details) = last_heartbeat_details {
            activity.heartbeat_details = Some(details.encode_to_vec());
        }
        let scheduled_event_id = r.scheduled_event_id;
        let Some(retry_state) =
            exec.retry_or_stop(scheduled_event_id, &failure, Some(&failure), now_ms, fx)
        else {
            return Ok(());
        };
        let identity = identity.to_owned();
        exec.resolve_activity(
            scheduled_event_id,
            |started_event_id| {
                ActivityTaskFailedEventAttributes {
                    failure: Some(failure),
                    scheduled_event_id,
                    started_event_id,
                    identity,
                    retry_state: retry_state as i32,
                    ..Default::default()
                }
                .into()
            },
            now_ms,
            fx,
        );
        Ok(())
    }

    /// `RespondActivityTaskCanceled`.
    pub(crate) fn cancel_activity(
        &mut self,
        r: &ActivityRef<'_>,
        details: Option<Payloads>,
        identity: &str,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<()> {
        let exec = self.run_mut(r.run_id)?;
        // The real server's rule and message.
        let requested_id = exec
            .started_activity(r)?
            .cancel_requested_event_id
            .ok_or_else(|| {
                EngineError::invalid(
                    "unable to mark activity as canceled without activity being request canceled first",
                )
            })?;
        let scheduled_event_id = r.scheduled_event_id;
        let identity = identity.to_owned();
        exec.resolve_activity(
            scheduled_event_id,
            |started_event_id| {
                ActivityTaskCanceledEventAttributes {
                    details,
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
        Ok(())
    }

    /// `RecordActivityTaskHeartbeat`: keep the attempt alive; returns whether the workflow
    /// asked for the activity to be canceled.
    pub(crate) fn heartbeat_activity(
        &mut self,
        r: &ActivityRef<'_>,
        details: Option<Payloads>,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<bool> {
        let exec = self.run_mut(r.run_id)?;
        let heartbeat_timeout = exec
            .activity_attributes(r.scheduled_event_id)
            .and_then(|a| Timeouts::of(a).heartbeat);
        let activity = exec.started_activity(r)?;
        activity.last_heartbeat_ms = now_ms;
        if let Some(details) = details {
            activity.heartbeat_details = Some(details.encode_to_vec());
        }
        let cancel_requested = activity.cancel_requested_event_id.is_some();
        exec.dirty = true;
        if let Some(hb) = heartbeat_timeout {
            fx.timer(
                now_ms + hb,
                TimerKey::Activity {
                    run_id: r.run_id.to_owned(),
                    scheduled_event_id: r.scheduled_event_id,
                    attempt: r.attempt,
                    timeout: ActivityTimeout::Heartbeat,
                },
            );
        }
        Ok(cancel_requested)
    }

    /// An activity timeout timer fired.
    pub(crate) fn on_activity_timeout(
        &mut self,
        r: &ActivityRef<'_>,
        timeout: ActivityTimeout,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        let Some(exec) = self.touch(r.run_id) else {
            return;
        };
        if !exec.is_open() {
            return;
        }
        let Some(attributes) = exec.activity_attributes(r.scheduled_event_id) else {
            return;
        };
        let timeouts = Timeouts::of(attributes);
        let Some(activity) = exec.state.activities.get(&r.scheduled_event_id) else {
            return;
        };
        let expired = match timeout {
            ActivityTimeout::ScheduleToClose => timeouts
                .schedule_to_close
                .is_some_and(|t| activity.scheduled_time_ms + t <= now_ms),
            ActivityTimeout::ScheduleToStart => {
                activity.attempt == r.attempt
                    && activity.phase == ActivityPhase::Scheduled
                    && timeouts
                        .schedule_to_start
                        .is_some_and(|t| activity.attempt_scheduled_time_ms + t <= now_ms)
            }
            ActivityTimeout::StartToClose => {
                activity.attempt == r.attempt
                    && activity.phase == ActivityPhase::Started
                    && timeouts
                        .start_to_close
                        .is_some_and(|t| activity.started_time_ms + t <= now_ms)
            }
            ActivityTimeout::Heartbeat => {
                let last = activity.last_heartbeat_ms.max(activity.started_time_ms);
                activity.attempt == r.attempt
                    && activity.phase == ActivityPhase::Started
                    && timeouts.heartbeat.is_some_and(|t| last + t <= now_ms)
            }
        };
        if !expired {
            return;
        }
        let details = activity
            .heartbeat_details
            .as_deref()
            .and_then(|b| Payloads::decode(b).ok());
        let failure = timeout_failure(timeout, details);
        let retryable = matches!(
            timeout,
            ActivityTimeout::StartToClose | ActivityTimeout::Heartbeat
        );
        let retry_state = if retryable {
            match exec.retry_or_stop(r.scheduled_event_id, &failure, None, now_ms, fx) {
                None => return,
                Some(state) => state,
            }
        } else {
            RetryState::Timeout
        };
        let scheduled_event_id = r.scheduled_event_id;
        exec.resolve_activity(
            scheduled_event_id,
            |started_event_id| {
                ActivityTaskTimedOutEventAttributes {
                    failure: Some(failure),
                    scheduled_event_id,
                    started_event_id,
                    retry_state: retry_state as i32,
                }
                .into()
            },
            now_ms,
            fx,
        );
    }

    /// An activity's retry backoff elapsed: put the next attempt on its queue.
    pub(crate) fn on_activity_retry(&mut self, r: &ActivityRef<'_>, now_ms: i64, fx: &mut Effects) {
        let Some(exec) = self.touch(r.run_id) else {
            return;
        };
        if !exec.is_open() {
            return;
        }
        let Some(activity) = exec.state.activities.get_mut(&r.scheduled_event_id) else {
            return;
        };
        if activity.phase != ActivityPhase::Backoff || activity.attempt != r.attempt {
            return;
        }
        activity.phase = ActivityPhase::Scheduled;
        activity.attempt_scheduled_time_ms = now_ms;
        let activity = activity.clone();
        exec.dirty = true;
        exec.arm_activity(&activity, fx);
    }
}

fn timeout_failure(timeout: ActivityTimeout, details: Option<Payloads>) -> Failure {
    let (name, kind) = match timeout {
        ActivityTimeout::ScheduleToStart => ("ScheduleToStart", TimeoutType::ScheduleToStart),
        ActivityTimeout::StartToClose => ("StartToClose", TimeoutType::StartToClose),
        ActivityTimeout::ScheduleToClose => ("ScheduleToClose", TimeoutType::ScheduleToClose),
        ActivityTimeout::Heartbeat => ("Heartbeat", TimeoutType::Heartbeat),
    };
    Failure {
        message: format!("activity {name} timeout"),
        source: "Server".to_owned(),
        failure_info: Some(FailureInfo::TimeoutFailureInfo(TimeoutFailureInfo {
            timeout_type: kind as i32,
            last_heartbeat_details: details,
        })),
        ..Default::default()
    }
}
