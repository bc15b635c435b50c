//! Activity timeouts and retries: how unset timeouts are filled in, which timer firing
//! still applies to the attempt it was armed for, and whether a failed or timed-out attempt
//! is retried after a backoff or resolves the activity.

use prost::Message;
use temporalio_protos::temporal::api::{
    command::v1::ScheduleActivityTaskCommandAttributes,
    common::v1::Payloads,
    enums::v1::{RetryState, TimeoutType},
    failure::v1::{Failure, TimeoutFailureInfo, failure::FailureInfo},
    history::v1::{ActivityTaskScheduledEventAttributes, ActivityTaskTimedOutEventAttributes},
};

use super::{ActivityPhase, ActivityRef};
use crate::{
    history::{
        Effects, Execution, Registry, TimerKey,
        effects::ActivityTimeout,
        lifecycle::retry::{self, Decision},
    },
    time::duration_ms,
};

/// Resolved timeouts of an activity, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) schedule_to_close: Option<i64>,
    pub(crate) schedule_to_start: Option<i64>,
    pub(crate) start_to_close: Option<i64>,
    pub(crate) heartbeat: Option<i64>,
}

impl Timeouts {
    pub(crate) fn of(a: &ActivityTaskScheduledEventAttributes) -> Self {
        Self {
            schedule_to_close: duration_ms(a.schedule_to_close_timeout.as_ref()),
            schedule_to_start: duration_ms(a.schedule_to_start_timeout.as_ref()),
            start_to_close: duration_ms(a.start_to_close_timeout.as_ref()),
            heartbeat: duration_ms(a.heartbeat_timeout.as_ref()),
        }
    }

    /// Fills unset timeouts the way Temporal does: the run timeout caps schedule-to-close,
    /// which is the default for the other two; heartbeat never exceeds start-to-close.
    pub(super) fn resolve(
        a: &ScheduleActivityTaskCommandAttributes,
        run_timeout: Option<i64>,
    ) -> Self {
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
    /// After a failed or timed-out attempt: retry with backoff, or report `Stop`.
    pub(super) fn retry_or_stop(
        &mut self,
        scheduled_event_id: i64,
        failure: &Failure,
        retryable_failure: Option<&Failure>,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Option<RetryState> {
        if self
            .retry_paused(scheduled_event_id, failure, retryable_failure)
            .is_some()
        {
            return None;
        }
        let attributes = self.activity_attributes(scheduled_event_id)?;
        let activity = self.state.activities.get(&scheduled_event_id)?;
        let policy = activity.retry_policy(attributes);
        let s2c = activity.timeouts(attributes).schedule_to_close;
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
}

impl Registry {
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
        let Some(activity) = exec.state.activities.get(&r.scheduled_event_id) else {
            return;
        };
        let timeouts = activity.timeouts(attributes);
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
        // A paused activity waits for its unpause to be dispatched.
        if activity.dispatchable() {
            exec.arm_activity(&activity, fx);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::duration;

    fn command(
        schedule_to_close: Option<i64>,
        start_to_close: Option<i64>,
        schedule_to_start: Option<i64>,
        heartbeat: Option<i64>,
    ) -> ScheduleActivityTaskCommandAttributes {
        ScheduleActivityTaskCommandAttributes {
            schedule_to_close_timeout: schedule_to_close.map(duration),
            start_to_close_timeout: start_to_close.map(duration),
            schedule_to_start_timeout: schedule_to_start.map(duration),
            heartbeat_timeout: heartbeat.map(duration),
            ..Default::default()
        }
    }

    fn resolved(t: Timeouts) -> [Option<i64>; 4] {
        [
            t.schedule_to_close,
            t.start_to_close,
            t.schedule_to_start,
            t.heartbeat,
        ]
    }

    #[test]
    fn unset_timeouts_are_filled_in_as_temporal_does() {
        // Schedule-to-close alone: start-to-close defaults to it.
        let t = Timeouts::resolve(&command(Some(60_000), None, None, None), None);
        assert_eq!(resolved(t), [Some(60_000), Some(60_000), None, None]);
        // The run timeout caps schedule-to-close, which caps everything else.
        let t = Timeouts::resolve(
            &command(Some(60_000), Some(90_000), Some(70_000), None),
            Some(30_000),
        );
        assert_eq!(
            resolved(t),
            [Some(30_000), Some(30_000), Some(30_000), None]
        );
        // Heartbeat never exceeds start-to-close.
        let t = Timeouts::resolve(&command(None, Some(5_000), None, Some(8_000)), None);
        assert_eq!(resolved(t), [None, Some(5_000), None, Some(5_000)]);
        // The run timeout is the schedule-to-close when none is given.
        let t = Timeouts::resolve(&command(None, None, None, None), Some(20_000));
        assert_eq!(resolved(t), [Some(20_000), Some(20_000), None, None]);
    }
}
