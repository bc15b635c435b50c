//! What describe, poll and list show of a standalone activity execution, read from its
//! hidden run: the scheduled event (options), the activity (its current attempt, or the
//! last one once closed) and the stored outcome.

use prost::Message;
use temporalio_protos::temporal::api::{
    activity::v1::{ActivityExecutionInfo, ActivityExecutionListInfo, ActivityExecutionOutcome},
    common::v1::{ActivityType, Payloads},
    enums::v1::{ActivityExecutionStatus, PendingActivityState, WorkflowExecutionStatus},
    failure::v1::Failure,
    history::v1::history_event::Attributes,
};

use super::ID_PREFIX;
use crate::history::{
    Execution, Registry,
    machines::activity::{ActivityPhase, Timeouts},
};
use crate::time::{duration, timestamp};
use crate::visibility::Visible;

/// A standalone activity's hidden run as the activity query language sees it: the
/// activity id in place of the workflow id, the activity type as `ActivityType` (and no
/// workflow type), as on the real server.
pub(crate) struct ActivityRow<'a>(pub(crate) &'a Execution);

impl Visible for ActivityRow<'_> {
    fn workflow_id(&self) -> &str {
        self.0.activity_id()
    }
    fn run_id(&self) -> &str {
        &self.0.state.run_id
    }
    fn workflow_type(&self) -> &str {
        ""
    }
    fn activity_type(&self) -> &str {
        &self.0.state.workflow_type
    }
    fn task_queue(&self) -> &str {
        &self.0.state.task_queue
    }
    fn status(&self) -> i32 {
        self.0.state.status
    }
    fn start_ms(&self) -> i64 {
        self.0.state.start_time_ms
    }
    fn close_ms(&self) -> Option<i64> {
        self.0.state.close_time_ms
    }
    fn history_length(&self) -> Option<i64> {
        None
    }
    fn parent(&self) -> Option<temporalio_protos::temporal::api::common::v1::WorkflowExecution> {
        None
    }
    fn root(&self) -> Option<temporalio_protos::temporal::api::common::v1::WorkflowExecution> {
        None
    }
    fn search_attribute(
        &self,
        name: &str,
    ) -> Option<&temporalio_protos::temporal::api::common::v1::Payload> {
        self.0.search_attribute(name)
    }
}

/// The activity execution status of a run status.
fn activity_status(status: i32) -> ActivityExecutionStatus {
    match WorkflowExecutionStatus::try_from(status) {
        Ok(WorkflowExecutionStatus::Running) => ActivityExecutionStatus::Running,
        Ok(WorkflowExecutionStatus::Completed) => ActivityExecutionStatus::Completed,
        Ok(WorkflowExecutionStatus::Failed) => ActivityExecutionStatus::Failed,
        Ok(WorkflowExecutionStatus::Canceled) => ActivityExecutionStatus::Canceled,
        Ok(WorkflowExecutionStatus::Terminated) => ActivityExecutionStatus::Terminated,
        Ok(WorkflowExecutionStatus::TimedOut) => ActivityExecutionStatus::TimedOut,
        _ => ActivityExecutionStatus::Unspecified,
    }
}

impl Execution {
    /// The activity id of a standalone activity's run.
    pub(crate) fn activity_id(&self) -> &str {
        self.state.standalone.as_ref().map_or_else(
            || self.state.workflow_id.strip_prefix(ID_PREFIX).unwrap_or(""),
            |s| s.activity_id.as_str(),
        )
    }

    /// The outcome, once closed.
    pub(crate) fn activity_outcome(&self) -> Option<ActivityExecutionOutcome> {
        let bytes = self.state.standalone.as_ref()?.outcome.as_deref()?;
        ActivityExecutionOutcome::decode(bytes).ok()
    }

    /// What describe's long poll compares: changes and heartbeats so far.
    pub(crate) fn activity_version(&self) -> (i64, i64) {
        self.state
            .standalone
            .as_ref()
            .map_or((0, 0), |s| (s.transitions, s.heartbeats))
    }

    /// The input the activity was started with.
    pub(crate) fn activity_input(&self) -> Option<Payloads> {
        self.events
            .iter()
            .find_map(|e| match e.attributes.as_ref()? {
                Attributes::ActivityTaskScheduledEventAttributes(a) => a.input.clone(),
                _ => None,
            })
    }
}

impl Registry {
    /// `DescribeActivityExecution`'s info (heartbeat details and last failure only when
    /// asked for).
    pub(crate) fn activity_info(
        &self,
        exec: &Execution,
        heartbeat_details: bool,
        last_failure: bool,
    ) -> ActivityExecutionInfo {
        let scheduled = exec
            .events
            .iter()
            .find_map(|e| match e.attributes.as_ref()? {
                Attributes::ActivityTaskScheduledEventAttributes(a) => Some((e.event_id, a)),
                _ => None,
            });
        let standalone = exec.state.standalone.as_ref();
        let activity = exec
            .state
            .activities
            .values()
            .next()
            .or_else(|| standalone.and_then(|s| s.last.as_ref()));
        let zero = || Some(duration(0));
        let open = exec.is_open();
        let run_state = activity.filter(|_| open).map(|a| {
            match (a.phase, a.cancel_requested_event_id, &a.paused) {
                (_, Some(_), _) => PendingActivityState::CancelRequested,
                (ActivityPhase::Started, None, None) => PendingActivityState::Started,
                (ActivityPhase::Started, None, Some(_)) => PendingActivityState::PauseRequested,
                (_, None, Some(_)) => PendingActivityState::Paused,
                _ => PendingActivityState::Scheduled,
            }
        });
        // The options in force: updated ones, else the scheduled event's.
        let timeouts =
            scheduled.map(|(_, a)| activity.map_or_else(|| Timeouts::of(a), |x| x.timeouts(a)));
        let s2c = timeouts.and_then(|t| t.schedule_to_close);
        let mut info = ActivityExecutionInfo {
            activity_id: exec.activity_id().to_owned(),
            run_id: exec.state.run_id.clone(),
            activity_type: Some(ActivityType {
                name: exec.state.workflow_type.clone(),
            }),
            status: if activity.is_some_and(|a| open && a.paused.is_some()) {
                ActivityExecutionStatus::Paused as i32
            } else {
                activity_status(exec.state.status) as i32
            },
            run_state: run_state.map_or(0, |s| s as i32),
            task_queue: exec.state.task_queue.clone(),
            schedule_to_close_timeout: timeouts
                .and_then(|t| t.schedule_to_close)
                .map(duration)
                .or_else(zero),
            schedule_to_start_timeout: timeouts
                .and_then(|t| t.schedule_to_start)
                .map(duration)
                .or_else(zero),
            start_to_close_timeout: timeouts
                .and_then(|t| t.start_to_close)
                .map(duration)
                .or_else(zero),
            heartbeat_timeout: timeouts
                .and_then(|t| t.heartbeat)
                .map(duration)
                .or_else(zero),
            retry_policy: scheduled.and_then(|(_, a)| {
                activity.map_or_else(|| a.retry_policy.clone(), |x| Some(x.retry_policy(a)))
            }),
            priority: Some(
                scheduled
                    .and_then(|(_, a)| a.priority.clone())
                    .unwrap_or_default(),
            ),
            schedule_time: Some(timestamp(exec.state.start_time_ms)),
            execution_time: Some(timestamp(
                activity
                    .filter(|a| a.attempt == 1)
                    .map_or(exec.state.start_time_ms, |a| a.attempt_scheduled_time_ms),
            )),
            expiration_time: s2c
                .filter(|v| *v > 0)
                .map(|v| timestamp(exec.state.start_time_ms + v)),
            close_time: exec.state.close_time_ms.map(timestamp),
            execution_duration: exec
                .state
                .close_time_ms
                .map(|close| duration(close - exec.state.start_time_ms)),
            canceled_reason: standalone
                .and_then(|s| s.canceled_reason.clone())
                .unwrap_or_default(),
            total_heartbeat_count: standalone.map_or(0, |s| s.heartbeats),
            state_transition_count: standalone.map_or(0, |s| s.transitions) + 1,
            search_attributes: self.execution_info(exec).search_attributes,
            user_metadata: exec.events.first().and_then(|e| e.user_metadata.clone()),
            ..Default::default()
        };
        if let Some(a) = activity {
            info.attempt = a.attempt;
            info.last_worker_identity = a.identity.clone();
            info.last_started_time = (a.started_time_ms > 0).then(|| timestamp(a.started_time_ms));
            info.last_heartbeat_time =
                (a.last_heartbeat_ms > 0).then(|| timestamp(a.last_heartbeat_ms));
            if open && a.phase == ActivityPhase::Backoff {
                info.next_attempt_schedule_time = Some(timestamp(a.attempt_scheduled_time_ms));
            }
            if heartbeat_details {
                info.heartbeat_details = a
                    .heartbeat_details
                    .as_deref()
                    .and_then(|b| Payloads::decode(b).ok());
            }
            if last_failure {
                info.last_failure = a
                    .last_failure
                    .as_deref()
                    .and_then(|b| Failure::decode(b).ok());
            }
        }
        if !open {
            info.last_attempt_complete_time = exec.state.close_time_ms.map(timestamp);
        }
        info
    }

    /// A row of `ListActivityExecutions`.
    pub(crate) fn activity_list_info(&self, exec: &Execution) -> ActivityExecutionListInfo {
        ActivityExecutionListInfo {
            activity_id: exec.activity_id().to_owned(),
            run_id: exec.state.run_id.clone(),
            activity_type: Some(ActivityType {
                name: exec.state.workflow_type.clone(),
            }),
            schedule_time: Some(timestamp(exec.state.start_time_ms)),
            close_time: exec.state.close_time_ms.map(timestamp),
            status: activity_status(exec.state.status) as i32,
            search_attributes: self.execution_info(exec).search_attributes,
            task_queue: exec.state.task_queue.clone(),
            state_transition_count: exec.activity_version().0 + 1,
            execution_duration: exec
                .state
                .close_time_ms
                .map(|close| duration(close - exec.state.start_time_ms)),
            execution_time: Some(timestamp(exec.state.start_time_ms)),
            ..Default::default()
        }
    }

    /// The standalone activities of `namespace` in memory (all of them: they never leave).
    pub(crate) fn activities_in<'a>(
        &'a self,
        namespace: &'a str,
    ) -> impl Iterator<Item = &'a Execution> {
        self.runs
            .values()
            .filter(move |e| e.state.namespace == namespace && e.is_standalone())
    }
}
