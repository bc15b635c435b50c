//! The activity state machine: scheduled -> started -> completed | failed | canceled |
//! timed out, with server-side retries (started -> backoff -> scheduled) in between.
//!
//! Retried attempts write no history; only the final outcome appends
//! `ActivityTaskStarted` (with the last attempt number) and the outcome event.

use prost::Message;
use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::{
    command::v1::ScheduleActivityTaskCommandAttributes,
    failure::v1::Failure,
    history::v1::{
        ActivityTaskCancelRequestedEventAttributes, ActivityTaskCanceledEventAttributes,
        ActivityTaskScheduledEventAttributes, ActivityTaskStartedEventAttributes,
        history_event::Attributes,
    },
};

mod options;
mod pause;
#[cfg(test)]
mod tests;
mod timeouts;
mod worker;

pub(crate) use options::{Options, OptionsUpdate};
pub(crate) use pause::{HeartbeatAnswer, Pause, Restart, Target};
pub(crate) use timeouts::Timeouts;

use crate::history::{
    Effects, Execution, QueueKind, Task, TimerKey, effects::ActivityTimeout, lifecycle::retry,
    machines::workflow_task::normal_queue, run::events::event,
};
use crate::{
    error::{EngineError, Result},
    time::duration,
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
    /// Where an activity's task goes: the run's route, at the activity's own priority when
    /// it has one (it inherits the workflow's otherwise).
    fn activity_route(&self, activity: &ActivityState) -> crate::matching::deployments::Route {
        let mut route = self.route();
        if let Some(key) = activity
            .options
            .as_ref()
            .map(|o| o.priority_key)
            .filter(|key| *key > 0)
        {
            route.priority = key;
        }
        route
    }

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
                    self.activity_route(activity),
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
    /// and wakes the workflow (a standalone activity's run closes instead).
    pub(in crate::history) fn resolve_activity(
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
        if self.is_standalone() {
            self.on_activity_resolved(activity, now_ms);
        } else {
            self.ensure_workflow_task(now_ms, fx);
        }
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
