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
    failure::v1::Failure,
    history::v1::{
        ActivityTaskCancelRequestedEventAttributes, ActivityTaskCanceledEventAttributes,
        ActivityTaskCompletedEventAttributes, ActivityTaskFailedEventAttributes,
        ActivityTaskScheduledEventAttributes, ActivityTaskStartedEventAttributes,
        history_event::Attributes,
    },
    workflowservice::v1::PollActivityTaskQueueResponse,
};

mod options;
mod pause;
mod timeouts;

pub(crate) use options::{Options, OptionsUpdate};
pub(crate) use pause::{HeartbeatAnswer, Pause, Restart, Target};
use timeouts::Timeouts;

use super::{
    Effects, Execution, Limits, QueueKind, Registry, Task, TimerKey,
    effects::ActivityTimeout,
    events::event,
    limits::{self, truncate},
    retry,
    token::TaskToken,
    workflow_task::normal_queue,
};
use crate::{
    error::{EngineError, Result},
    time::{duration, timestamp},
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
    /// Set while paused from outside (`PauseActivity`).
    #[serde(default)]
    pub(crate) paused: Option<Pause>,
    /// Reset from outside (`ResetActivity`) since its current attempt started.
    #[serde(default)]
    pub(crate) reset: bool,
    /// Options updated from outside (`UpdateActivityOptions`), in force instead of the
    /// scheduled event's.
    #[serde(default)]
    pub(crate) options: Option<Options>,
}

impl ActivityState {
    /// A newly scheduled activity: its first attempt waits on `task_queue` from `now_ms`.
    pub(crate) fn scheduled(
        scheduled_event_id: i64,
        activity_id: String,
        task_queue: String,
        now_ms: i64,
    ) -> Self {
        Self {
            scheduled_event_id,
            activity_id,
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
            paused: None,
            reset: false,
            options: None,
        }
    }
}

/// A started activity attempt, as named by its task token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ActivityRef<'a> {
    pub(crate) run_id: &'a str,
    pub(crate) scheduled_event_id: i64,
    pub(crate) attempt: i32,
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
        let activity =
            ActivityState::scheduled(scheduled_event_id, a.activity_id, task_queue, now_ms);
        self.arm_activity(&activity, fx);
        self.state.activities.insert(scheduled_event_id, activity);
    }

    /// Emits what an activity in its current phase needs: its task on the queue and its
    /// timers. Used when scheduling and when recovering after a restart.
    pub(crate) fn arm_activity(&self, activity: &ActivityState, fx: &mut Effects) {
        let Some(attributes) = self.activity_attributes(activity.scheduled_event_id) else {
            return;
        };
        let timeouts = activity.timeouts(attributes);
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
                    self.route(),
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
    /// that has not started is canceled at once (its `ActivityTaskCanceled` buffered until
    /// the completion's commands are applied). Returns whether new events need a task.
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
            // It finished while the worker was deciding (its outcome is buffered): the
            // request is recorded and does nothing more, as on the real server.
            if self.buffered_finish(scheduled_event_id) {
                self.append(
                    now_ms,
                    ActivityTaskCancelRequestedEventAttributes {
                        scheduled_event_id,
                        workflow_task_completed_event_id: completed_id,
                    },
                );
            }
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
        // As on the real server, the cancellation is a buffered event: written after the
        // completion's other events, and dropped if the completion closes the run.
        let canceled = ActivityTaskCanceledEventAttributes {
            latest_cancel_requested_event_id: requested_id,
            scheduled_event_id,
            ..Default::default()
        };
        self.buffered.push(event(0, now_ms, canceled.into()));
        self.dirty = true;
        self.state.activities.remove(&scheduled_event_id);
        true
    }

    /// Whether the activity's outcome event waits in the buffer.
    fn buffered_finish(&self, scheduled_event_id: i64) -> bool {
        self.buffered.iter().any(|e| match &e.attributes {
            Some(Attributes::ActivityTaskCompletedEventAttributes(a)) => {
                a.scheduled_event_id == scheduled_event_id
            }
            Some(Attributes::ActivityTaskFailedEventAttributes(a)) => {
                a.scheduled_event_id == scheduled_event_id
            }
            Some(Attributes::ActivityTaskTimedOutEventAttributes(a)) => {
                a.scheduled_event_id == scheduled_event_id
            }
            Some(Attributes::ActivityTaskCanceledEventAttributes(a)) => {
                a.scheduled_event_id == scheduled_event_id
            }
            _ => false,
        })
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
        if activity.phase != ActivityPhase::Scheduled
            || activity.attempt != attempt
            || !activity.dispatchable()
        {
            return None;
        }
        activity.phase = ActivityPhase::Started;
        activity.reset = false;
        activity.started_time_ms = now_ms;
        activity.identity = identity.to_owned();
        let activity = activity.clone();
        exec.dirty = true;
        exec.arm_activity(&activity, fx);
        let attributes = exec.activity_attributes(scheduled_event_id)?;
        let timeouts = activity.timeouts(attributes);
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
            schedule_to_close_timeout: timeouts.schedule_to_close.map(duration),
            start_to_close_timeout: timeouts.start_to_close.map(duration),
            heartbeat_timeout: timeouts.heartbeat.map(duration),
            retry_policy: Some(activity.retry_policy(attributes)),
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
        if self
            .limits
            .blob_too_large(result.as_ref().map_or(0, Message::encoded_len))
        {
            // As the real server does: the oversized result is recorded as a failure.
            let failure = Limits::server_failure(limits::RESULT_TOO_LARGE, None, true);
            return self.fail_activity(r, failure, None, identity, now_ms, fx);
        }
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
        let failure = if self.limits.blob_too_large(failure.encoded_len()) {
            let cause = truncate(failure, self.limits.blob_size_warn);
            Limits::server_failure(limits::FAILURE_TOO_LARGE, Some(cause), true)
        } else {
            failure
        };
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
    /// asked for the activity to be canceled, and whether it was paused or reset.
    pub(crate) fn heartbeat_activity(
        &mut self,
        r: &ActivityRef<'_>,
        details: Option<Payloads>,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<HeartbeatAnswer> {
        let exec = self.run_mut(r.run_id)?;
        let heartbeat_timeout = exec
            .activity_attributes(r.scheduled_event_id)
            .and_then(|a| {
                let activity = exec.state.activities.get(&r.scheduled_event_id)?;
                activity.timeouts(a).heartbeat
            });
        let activity = exec.started_activity(r)?;
        activity.last_heartbeat_ms = now_ms;
        if let Some(details) = details {
            activity.heartbeat_details = Some(details.encode_to_vec());
        }
        let answer = HeartbeatAnswer {
            cancel_requested: activity.cancel_requested_event_id.is_some(),
            paused: activity.paused.is_some(),
            reset: activity.reset,
        };
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
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use temporalio_protos::temporal::api::{
        command::v1::command::Attributes as C,
        common::v1::ActivityType,
        common::v1::RetryPolicy,
        enums::v1::{EventType, RetryState},
        history::v1::history_event::Attributes as A,
    };

    use super::*;
    use crate::history::testing::{self, NOW};

    const RUN: &str = "activity-run";

    /// A run whose first workflow task scheduled one activity with these timeouts (ms) and
    /// retry policy; returns (registry, run id, scheduled event id).
    fn scheduled(
        start_to_close: Option<i64>,
        schedule_to_close: Option<i64>,
        retry_policy: Option<RetryPolicy>,
    ) -> (Registry, String, i64) {
        let mut registry = testing::registry();
        let run_id = testing::start(&mut registry, RUN);
        let command = ScheduleActivityTaskCommandAttributes {
            activity_id: "a".into(),
            activity_type: Some(ActivityType { name: "Act".into() }),
            start_to_close_timeout: start_to_close.map(duration),
            schedule_to_close_timeout: schedule_to_close.map(duration),
            retry_policy,
            ..Default::default()
        };
        testing::decide(
            &mut registry,
            &run_id,
            vec![C::ScheduleActivityTaskCommandAttributes(command)],
        );
        let scheduled_event_id = registry
            .run(&run_id)
            .ok()
            .and_then(|e| e.state.activities.keys().next().copied())
            .unwrap_or_else(|| panic!("no activity scheduled"));
        (registry, run_id, scheduled_event_id)
    }

    fn activity<'a>(registry: &'a Registry, run_id: &str, id: i64) -> Option<&'a ActivityState> {
        registry
            .run(run_id)
            .ok()
            .and_then(|e| e.state.activities.get(&id))
    }

    fn start(registry: &mut Registry, run_id: &str, id: i64, attempt: i32, now: i64) -> Effects {
        let mut fx = Effects::default();
        let started = registry.start_activity(run_id, id, attempt, "worker", now, &mut fx);
        assert!(started.is_some(), "attempt {attempt} starts");
        fx
    }

    /// The id and attributes of the run's last event of type `kind`.
    fn last_event(registry: &Registry, run_id: &str, kind: EventType) -> Option<(i64, Attributes)> {
        let exec = registry.run(run_id).ok()?;
        let event = exec
            .events
            .iter()
            .rev()
            .find(|e| e.event_type == kind as i32)?;
        Some((event.event_id, event.attributes.clone()?))
    }

    #[test]
    fn a_start_to_close_timeout_retries_after_the_backoff_without_history() {
        let (mut registry, run_id, id) = scheduled(Some(10_000), None, None);
        let fx = start(&mut registry, &run_id, id, 1, NOW);
        assert!(
            testing::timers(&fx)
                .iter()
                .any(|(at, t)| *at == NOW + 10_000
                    && matches!(
                        t,
                        TimerKey::Activity {
                            attempt: 1,
                            timeout: ActivityTimeout::StartToClose,
                            ..
                        }
                    )),
            "start-to-close timer armed: {fx:?}"
        );
        let events_before = testing::event_types(&registry, &run_id);
        let r = ActivityRef {
            run_id: &run_id,
            scheduled_event_id: id,
            attempt: 1,
        };
        let mut fx = Effects::default();
        registry.on_activity_timeout(&r, ActivityTimeout::StartToClose, NOW + 10_000, &mut fx);
        let a = activity(&registry, &run_id, id).unwrap_or_else(|| panic!("still pending"));
        assert_eq!((a.phase, a.attempt), (ActivityPhase::Backoff, 2));
        // The default policy's first backoff is 1 s.
        assert_eq!(a.attempt_scheduled_time_ms, NOW + 11_000);
        assert_eq!(
            testing::timers(&fx),
            [(
                NOW + 11_000,
                TimerKey::ActivityRetry {
                    run_id: run_id.clone(),
                    scheduled_event_id: id,
                    attempt: 2
                }
            )]
        );
        assert_eq!(testing::event_types(&registry, &run_id), events_before);

        let mut fx = Effects::default();
        let r2 = ActivityRef { attempt: 2, ..r };
        registry.on_activity_retry(&r2, NOW + 11_000, &mut fx);
        assert_eq!(
            activity(&registry, &run_id, id).map(|a| a.phase),
            Some(ActivityPhase::Scheduled)
        );
        assert_eq!(
            testing::dispatched(&fx),
            [Task::Activity {
                run_id: run_id.clone(),
                scheduled_event_id: id,
                attempt: 2
            }]
        );
    }

    #[test]
    fn stale_attempts_and_early_timers_change_nothing() {
        let (mut registry, run_id, id) = scheduled(Some(10_000), None, None);
        start(&mut registry, &run_id, id, 1, NOW);
        let attempt1 = ActivityRef {
            run_id: &run_id,
            scheduled_event_id: id,
            attempt: 1,
        };
        // A timer that fires before the deadline (a restart re-arms them all) is ignored.
        let mut fx = Effects::default();
        registry.on_activity_timeout(
            &attempt1,
            ActivityTimeout::StartToClose,
            NOW + 9_999,
            &mut fx,
        );
        assert_eq!(
            activity(&registry, &run_id, id).map(|a| (a.phase, a.attempt)),
            Some((ActivityPhase::Started, 1))
        );
        registry.on_activity_timeout(
            &attempt1,
            ActivityTimeout::StartToClose,
            NOW + 10_000,
            &mut fx,
        );
        registry.on_activity_retry(
            &ActivityRef {
                attempt: 2,
                ..attempt1
            },
            NOW + 11_000,
            &mut fx,
        );
        start(&mut registry, &run_id, id, 2, NOW + 11_000);

        // Attempt 1's worker answers late; its timers fire late: all refused or ignored.
        let late = registry.complete_activity(&attempt1, None, "w", NOW + 12_000, &mut fx);
        assert!(matches!(late, Err(EngineError::NotFound(_))), "{late:?}");
        registry.on_activity_timeout(
            &attempt1,
            ActivityTimeout::StartToClose,
            NOW + 30_000,
            &mut fx,
        );
        assert!(
            registry
                .start_activity(&run_id, id, 1, "worker", NOW + 12_000, &mut fx)
                .is_none(),
            "the task of attempt 1 is stale"
        );
        assert_eq!(
            activity(&registry, &run_id, id).map(|a| (a.phase, a.attempt)),
            Some((ActivityPhase::Started, 2))
        );
    }

    #[test]
    fn schedule_to_close_resolves_the_activity_as_timed_out() {
        let (mut registry, run_id, id) = scheduled(None, Some(5_000), None);
        let r = ActivityRef {
            run_id: &run_id,
            scheduled_event_id: id,
            attempt: 1,
        };
        let mut fx = Effects::default();
        registry.on_activity_timeout(&r, ActivityTimeout::ScheduleToClose, NOW + 5_000, &mut fx);
        assert!(activity(&registry, &run_id, id).is_none(), "resolved");
        let Some((_, A::ActivityTaskTimedOutEventAttributes(timed_out))) =
            last_event(&registry, &run_id, EventType::ActivityTaskTimedOut)
        else {
            panic!(
                "no timed-out event: {:?}",
                testing::event_types(&registry, &run_id)
            );
        };
        assert_eq!(timed_out.retry_state, RetryState::Timeout as i32);
        assert_eq!(timed_out.started_event_id, 0, "it never started");
        assert!(
            registry
                .run(&run_id)
                .is_ok_and(|e| e.state.workflow_task.is_some()),
            "the workflow gets a task to see it"
        );
    }

    #[test]
    fn the_last_allowed_attempt_fails_the_activity_with_its_started_event() {
        let policy = RetryPolicy {
            maximum_attempts: 2,
            ..Default::default()
        };
        let (mut registry, run_id, id) = scheduled(Some(10_000), None, Some(policy));
        let failure = Failure {
            message: "boom".into(),
            ..Default::default()
        };
        let mut fx = Effects::default();
        start(&mut registry, &run_id, id, 1, NOW);
        let r1 = ActivityRef {
            run_id: &run_id,
            scheduled_event_id: id,
            attempt: 1,
        };
        let failed = registry.fail_activity(&r1, failure.clone(), None, "w", NOW, &mut fx);
        assert!(failed.is_ok(), "{failed:?}");
        assert_eq!(
            activity(&registry, &run_id, id).map(|a| (a.phase, a.attempt)),
            Some((ActivityPhase::Backoff, 2))
        );
        let r2 = ActivityRef { attempt: 2, ..r1 };
        registry.on_activity_retry(&r2, NOW + 1_000, &mut fx);
        start(&mut registry, &run_id, id, 2, NOW + 1_000);
        let failed = registry.fail_activity(&r2, failure, None, "w", NOW + 1_500, &mut fx);
        assert!(failed.is_ok(), "{failed:?}");
        // Only the final attempt is written: one started event, then the failure.
        let types = testing::event_types(&registry, &run_id);
        let started = types
            .iter()
            .filter(|t| **t == EventType::ActivityTaskStarted)
            .count();
        assert_eq!(started, 1, "{types:?}");
        let Some((started_id, A::ActivityTaskStartedEventAttributes(s))) =
            last_event(&registry, &run_id, EventType::ActivityTaskStarted)
        else {
            panic!("no started event: {types:?}");
        };
        assert_eq!(s.attempt, 2);
        let Some((_, A::ActivityTaskFailedEventAttributes(f))) =
            last_event(&registry, &run_id, EventType::ActivityTaskFailed)
        else {
            panic!("no failed event: {types:?}");
        };
        assert_eq!(f.retry_state, RetryState::MaximumAttemptsReached as i32);
        assert_eq!(f.started_event_id, started_id);
    }

    fn cancel(id: i64) -> C {
        C::RequestCancelActivityTaskCommandAttributes(
            temporalio_protos::temporal::api::command::v1::RequestCancelActivityTaskCommandAttributes {
                scheduled_event_id: id,
            },
        )
    }

    #[test]
    fn a_cancel_of_an_activity_that_finished_meanwhile_is_recorded_before_its_outcome() {
        let (mut registry, run_id, id) = scheduled(Some(10_000), None, None);
        start(&mut registry, &run_id, id, 1, NOW);
        let signal = crate::history::Signal {
            name: "s".into(),
            ..Default::default()
        };
        registry
            .signal(&run_id, signal, NOW, &mut Effects::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let task = testing::take_task(&mut registry, &run_id);
        let r = ActivityRef {
            run_id: &run_id,
            scheduled_event_id: id,
            attempt: 1,
        };
        registry
            .complete_activity(&r, None, "worker", NOW, &mut Effects::default())
            .unwrap_or_else(|e| panic!("{e}"));
        testing::complete(&mut registry, &task, vec![cancel(id)], vec![]);
        let types = testing::event_types(&registry, &run_id);
        let tail: Vec<_> = types.iter().rev().take(4).rev().copied().collect();
        assert_eq!(
            tail,
            [
                EventType::ActivityTaskCancelRequested,
                EventType::ActivityTaskStarted,
                EventType::ActivityTaskCompleted,
                EventType::WorkflowTaskScheduled,
            ]
        );
    }

    #[test]
    fn an_unstarted_activity_is_canceled_after_the_completions_events_or_not_if_it_closes() {
        let (mut registry, run_id, id) = scheduled(Some(10_000), None, None);
        let timer = C::StartTimerCommandAttributes(
            temporalio_protos::temporal::api::command::v1::StartTimerCommandAttributes {
                timer_id: "t".into(),
                start_to_fire_timeout: Some(duration(1000)),
            },
        );
        let signal = crate::history::Signal {
            name: "s".into(),
            ..Default::default()
        };
        registry
            .signal(&run_id, signal, NOW, &mut Effects::default())
            .unwrap_or_else(|e| panic!("{e}"));
        testing::decide(&mut registry, &run_id, vec![cancel(id), timer]);
        let types = testing::event_types(&registry, &run_id);
        let tail: Vec<_> = types.iter().rev().take(4).rev().copied().collect();
        // Buffered: after the completion's other events.
        assert_eq!(
            tail,
            [
                EventType::ActivityTaskCancelRequested,
                EventType::TimerStarted,
                EventType::ActivityTaskCanceled,
                EventType::WorkflowTaskScheduled,
            ]
        );

        let (mut registry, run_id, id) = scheduled(Some(10_000), None, None);
        let signal = crate::history::Signal {
            name: "s".into(),
            ..Default::default()
        };
        registry
            .signal(&run_id, signal, NOW, &mut Effects::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let complete = C::CompleteWorkflowExecutionCommandAttributes(Default::default());
        testing::decide(&mut registry, &run_id, vec![cancel(id), complete]);
        let types = testing::event_types(&registry, &run_id);
        assert_eq!(
            types.iter().rev().take(2).copied().collect::<Vec<_>>(),
            [
                EventType::WorkflowExecutionCompleted,
                EventType::ActivityTaskCancelRequested
            ]
        );
    }
}
