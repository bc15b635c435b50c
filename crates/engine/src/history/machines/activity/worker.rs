//! The activity machine's side that workers and clients drive: starting an attempt from a
//! poll, completing, failing, cancelling and heartbeating it (by task token or by id).

use prost::Message;
use temporalio_protos::temporal::api::{
    common::v1::{Payloads, WorkflowType},
    failure::v1::Failure,
    history::v1::{
        ActivityTaskCanceledEventAttributes, ActivityTaskCompletedEventAttributes,
        ActivityTaskFailedEventAttributes,
    },
    workflowservice::v1::PollActivityTaskQueueResponse,
};

use crate::history::{
    Effects, Limits, Registry, TimerKey,
    effects::ActivityTimeout,
    rules::limits::{self, truncate},
    run::token::TaskToken,
};
use crate::{
    error::{EngineError, Result},
    time::{duration, timestamp},
};

use super::{ActivityPhase, ActivityRef, HeartbeatAnswer};

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
        exec.note_standalone_change(false);
        exec.arm_activity(&activity, fx);
        let attributes = exec.activity_attributes(scheduled_event_id)?;
        let timeouts = activity.timeouts(attributes);
        let token = TaskToken::Activity {
            run_id: run_id.to_owned(),
            scheduled_event_id,
            attempt,
        };
        // A standalone activity names no workflow (the SDKs tell them apart by that) but
        // its own run.
        let standalone = exec.is_standalone();
        Some(PollActivityTaskQueueResponse {
            task_token: token.encode(),
            workflow_namespace: exec.state.namespace.clone(),
            workflow_type: (!standalone).then(|| WorkflowType {
                name: exec.state.workflow_type.clone(),
            }),
            workflow_execution: (!standalone).then(|| exec.workflow_execution()),
            activity_run_id: if standalone {
                run_id.to_owned()
            } else {
                String::new()
            },
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
        exec.note_standalone_change(true);
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
