//! What the console shows, built from Temporal's protos: list rows, a workflow's detail
//! (status, input, result or failure, pending activities, children and timers) and its
//! events with decoded payloads. The JSON API serialises these; the pages render them.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost_wkt_types::Timestamp;
use serde::Serialize;
use serde_json::Value;
use temporalio_protos::temporal::api::enums::v1::{EventType, PendingActivityState};
use temporalio_protos::temporal::api::failure::v1::{Failure, failure};
use temporalio_protos::temporal::api::history::v1::{HistoryEvent, history_event::Attributes};
use temporalio_protos::temporal::api::workflow::v1::WorkflowExecutionInfo;
use temporalio_protos::temporal::api::workflowservice::v1::DescribeWorkflowExecutionResponse;

use super::payload;
use crate::client::status_name;

/// One execution in a list.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WorkflowRow {
    pub(crate) workflow_id: String,
    pub(crate) run_id: String,
    pub(crate) workflow_type: String,
    pub(crate) status: &'static str,
    pub(crate) start_time: Option<String>,
    pub(crate) close_time: Option<String>,
    pub(crate) task_queue: String,
    pub(crate) history_length: i64,
    pub(crate) parent_workflow_id: Option<String>,
}

impl WorkflowRow {
    pub(crate) fn from_info(info: &WorkflowExecutionInfo) -> Self {
        let execution = info.execution.clone().unwrap_or_default();
        WorkflowRow {
            workflow_id: execution.workflow_id,
            run_id: execution.run_id,
            workflow_type: info
                .r#type
                .as_ref()
                .map(|t| t.name.clone())
                .unwrap_or_default(),
            status: status_name(info.status),
            start_time: info.start_time.as_ref().map(rfc3339),
            close_time: info.close_time.as_ref().map(rfc3339),
            task_queue: info.task_queue.clone(),
            history_length: info.history_length,
            parent_workflow_id: info
                .parent_execution
                .as_ref()
                .map(|p| p.workflow_id.clone()),
        }
    }
}

/// A failure with its cause chain.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FailureView {
    pub(crate) message: String,
    /// `application` (with `failure_type`), `timeout`, `canceled`, `terminated`, `activity`,
    /// `child_workflow`, `server`, ...
    pub(crate) kind: &'static str,
    pub(crate) failure_type: Option<String>,
    pub(crate) stack_trace: Option<String>,
    pub(crate) cause: Option<Box<FailureView>>,
}

impl FailureView {
    pub(crate) fn from_proto(failure: &Failure) -> Self {
        use failure::FailureInfo as F;
        let (kind, failure_type) = match &failure.failure_info {
            Some(F::ApplicationFailureInfo(a)) => (
                "application",
                Some(a.r#type.clone()).filter(|t| !t.is_empty()),
            ),
            Some(F::TimeoutFailureInfo(_)) => ("timeout", None),
            Some(F::CanceledFailureInfo(_)) => ("canceled", None),
            Some(F::TerminatedFailureInfo(_)) => ("terminated", None),
            Some(F::ServerFailureInfo(_)) => ("server", None),
            Some(F::ActivityFailureInfo(a)) => {
                ("activity", a.activity_type.as_ref().map(|t| t.name.clone()))
            }
            Some(F::ChildWorkflowExecutionFailureInfo(c)) => (
                "child_workflow",
                c.workflow_type.as_ref().map(|t| t.name.clone()),
            ),
            Some(_) => ("other", None),
            None => ("unknown", None),
        };
        FailureView {
            message: failure.message.clone(),
            kind,
            failure_type,
            stack_trace: Some(failure.stack_trace.clone()).filter(|s| !s.is_empty()),
            cause: failure
                .cause
                .as_deref()
                .map(|c| Box::new(FailureView::from_proto(c))),
        }
    }

    /// The message and the causes' messages, for a one-line display.
    pub(crate) fn chain(&self) -> String {
        let mut out = self.message.clone();
        let mut cause = self.cause.as_deref();
        while let Some(c) = cause {
            out.push_str(": ");
            out.push_str(&c.message);
            cause = c.cause.as_deref();
        }
        out
    }
}

/// An activity the server is waiting on.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PendingActivity {
    pub(crate) activity_id: String,
    pub(crate) activity_type: String,
    pub(crate) state: String,
    pub(crate) attempt: i32,
    /// 0: unlimited.
    pub(crate) maximum_attempts: i32,
    pub(crate) scheduled_time: Option<String>,
    pub(crate) last_started_time: Option<String>,
    pub(crate) last_heartbeat_time: Option<String>,
    pub(crate) next_attempt_schedule_time: Option<String>,
    pub(crate) last_failure: Option<FailureView>,
    pub(crate) heartbeat_details: Value,
}

/// A child workflow that has not closed.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PendingChild {
    pub(crate) workflow_id: String,
    pub(crate) run_id: String,
    pub(crate) workflow_type: String,
    pub(crate) initiated_event_id: i64,
}

/// A Nexus operation the run has called that has not ended.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PendingNexusOperation {
    pub(crate) endpoint: String,
    pub(crate) service: String,
    pub(crate) operation: String,
    /// `Scheduled`, `BackingOff`, `Started` or `Blocked`.
    pub(crate) state: String,
    pub(crate) attempt: i32,
    pub(crate) scheduled_event_id: i64,
    pub(crate) scheduled_time: Option<String>,
    pub(crate) operation_token: String,
    pub(crate) next_attempt_schedule_time: Option<String>,
    pub(crate) last_failure: Option<FailureView>,
    /// Where a cancel request stands (`Scheduled`, `Succeeded`, ...), if one was made.
    pub(crate) cancellation: Option<String>,
}

/// A timer that has not fired or been cancelled.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PendingTimer {
    pub(crate) timer_id: String,
    pub(crate) started_event_id: i64,
    pub(crate) started_time: Option<String>,
    pub(crate) fire_time: Option<String>,
}

/// Everything about one run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Detail {
    #[serde(flatten)]
    pub(crate) row: WorkflowRow,
    pub(crate) input: Value,
    pub(crate) result: Option<Value>,
    pub(crate) failure: Option<FailureView>,
    /// Reason given for a termination or a cancel request.
    pub(crate) reason: Option<String>,
    pub(crate) pending_activities: Vec<PendingActivity>,
    pub(crate) pending_children: Vec<PendingChild>,
    pub(crate) pending_nexus_operations: Vec<PendingNexusOperation>,
    pub(crate) timers: Vec<PendingTimer>,
    pub(crate) signals: Vec<String>,
    pub(crate) history_truncated: bool,
}

impl Detail {
    pub(crate) fn build(
        describe: &DescribeWorkflowExecutionResponse,
        events: &[HistoryEvent],
        history_truncated: bool,
    ) -> Self {
        let row = describe
            .workflow_execution_info
            .as_ref()
            .map(WorkflowRow::from_info)
            .unwrap_or_else(|| WorkflowRow::from_info(&WorkflowExecutionInfo::default()));
        let mut detail = Detail {
            row,
            input: Value::Null,
            result: None,
            failure: None,
            reason: None,
            pending_activities: describe
                .pending_activities
                .iter()
                .map(pending_activity)
                .collect(),
            pending_children: describe
                .pending_children
                .iter()
                .map(|c| PendingChild {
                    workflow_id: c.workflow_id.clone(),
                    run_id: c.run_id.clone(),
                    workflow_type: c.workflow_type_name.clone(),
                    initiated_event_id: c.initiated_id,
                })
                .collect(),
            pending_nexus_operations: describe
                .pending_nexus_operations
                .iter()
                .map(pending_nexus_operation)
                .collect(),
            timers: Vec::new(),
            signals: Vec::new(),
            history_truncated,
        };
        let mut timers: BTreeMap<i64, PendingTimer> = BTreeMap::new();
        for event in events {
            match &event.attributes {
                Some(Attributes::WorkflowExecutionStartedEventAttributes(a)) => {
                    detail.input = payload::decode_all(a.input.as_ref());
                }
                Some(Attributes::WorkflowExecutionCompletedEventAttributes(a)) => {
                    detail.result = Some(payload::decode_all(a.result.as_ref()));
                }
                Some(Attributes::WorkflowExecutionFailedEventAttributes(a)) => {
                    detail.failure = a.failure.as_ref().map(FailureView::from_proto);
                }
                Some(Attributes::WorkflowExecutionTerminatedEventAttributes(a)) => {
                    detail.reason = Some(a.reason.clone());
                }
                Some(Attributes::WorkflowExecutionCancelRequestedEventAttributes(a)) => {
                    detail.reason = Some(a.cause.clone()).filter(|c| !c.is_empty());
                }
                Some(Attributes::WorkflowExecutionSignaledEventAttributes(a))
                    if !detail.signals.contains(&a.signal_name) =>
                {
                    detail.signals.push(a.signal_name.clone());
                }
                Some(Attributes::TimerStartedEventAttributes(a)) => {
                    let started = event.event_time.as_ref().map(to_system_time);
                    let fire = started.zip(a.start_to_fire_timeout.as_ref()).map(|(s, d)| {
                        s + Duration::new(
                            u64::try_from(d.seconds).unwrap_or(0),
                            u32::try_from(d.nanos).unwrap_or(0),
                        )
                    });
                    timers.insert(
                        event.event_id,
                        PendingTimer {
                            timer_id: a.timer_id.clone(),
                            started_event_id: event.event_id,
                            started_time: event.event_time.as_ref().map(rfc3339),
                            fire_time: fire
                                .map(|t| humantime::format_rfc3339_millis(t).to_string()),
                        },
                    );
                }
                Some(Attributes::TimerFiredEventAttributes(a)) => {
                    timers.remove(&a.started_event_id);
                }
                Some(Attributes::TimerCanceledEventAttributes(a)) => {
                    timers.remove(&a.started_event_id);
                }
                _ => {}
            }
        }
        if detail.row.close_time.is_none() {
            detail.timers = timers.into_values().collect();
        }
        detail
    }
}

fn pending_activity(
    a: &temporalio_protos::temporal::api::workflow::v1::PendingActivityInfo,
) -> PendingActivity {
    PendingActivity {
        activity_id: a.activity_id.clone(),
        activity_type: a
            .activity_type
            .as_ref()
            .map(|t| t.name.clone())
            .unwrap_or_default(),
        state: PendingActivityState::try_from(a.state)
            .map(|s| camel(s.as_str_name(), "PENDING_ACTIVITY_STATE_"))
            .unwrap_or_else(|_| a.state.to_string()),
        attempt: a.attempt,
        maximum_attempts: a.maximum_attempts,
        scheduled_time: a.scheduled_time.as_ref().map(rfc3339),
        last_started_time: a.last_started_time.as_ref().map(rfc3339),
        last_heartbeat_time: a.last_heartbeat_time.as_ref().map(rfc3339),
        next_attempt_schedule_time: a.next_attempt_schedule_time.as_ref().map(rfc3339),
        last_failure: a.last_failure.as_ref().map(FailureView::from_proto),
        heartbeat_details: payload::decode_all(a.heartbeat_details.as_ref()),
    }
}

fn pending_nexus_operation(
    n: &temporalio_protos::temporal::api::workflow::v1::PendingNexusOperationInfo,
) -> PendingNexusOperation {
    use temporalio_protos::temporal::api::enums::v1::{
        NexusOperationCancellationState, PendingNexusOperationState,
    };
    PendingNexusOperation {
        endpoint: n.endpoint.clone(),
        service: n.service.clone(),
        operation: n.operation.clone(),
        state: PendingNexusOperationState::try_from(n.state)
            .map(|s| camel(s.as_str_name(), "PENDING_NEXUS_OPERATION_STATE_"))
            .unwrap_or_else(|_| n.state.to_string()),
        attempt: n.attempt,
        scheduled_event_id: n.scheduled_event_id,
        scheduled_time: n.scheduled_time.as_ref().map(rfc3339),
        operation_token: n.operation_token.clone(),
        next_attempt_schedule_time: n.next_attempt_schedule_time.as_ref().map(rfc3339),
        last_failure: n.last_attempt_failure.as_ref().map(FailureView::from_proto),
        cancellation: n.cancellation_info.as_ref().map(|c| {
            NexusOperationCancellationState::try_from(c.state)
                .map(|s| camel(s.as_str_name(), "NEXUS_OPERATION_CANCELLATION_STATE_"))
                .unwrap_or_else(|_| c.state.to_string())
        }),
    }
}

/// One history event with its payloads decoded.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EventView {
    pub(crate) event_id: i64,
    pub(crate) event_time: Option<String>,
    pub(crate) event_type: String,
    pub(crate) attributes: Value,
}

impl EventView {
    pub(crate) fn from_proto(event: &HistoryEvent) -> Self {
        let mut attributes = event
            .attributes
            .as_ref()
            .and_then(|a| serde_json::to_value(a).ok())
            .unwrap_or(Value::Null);
        // `{"ActivityTaskScheduledEventAttributes": {..}}`: the event type already says it.
        if let Value::Object(map) = &mut attributes
            && map.len() == 1
            && let Some(inner) = map.values_mut().next()
        {
            attributes = std::mem::take(inner);
        }
        payload::decode_in_json(&mut attributes);
        EventView {
            event_id: event.event_id,
            event_time: event.event_time.as_ref().map(rfc3339),
            event_type: event_type_name(event.event_type),
            attributes,
        }
    }
}

/// `EVENT_TYPE_ACTIVITY_TASK_SCHEDULED` -> `ActivityTaskScheduled`, as Temporal's UI writes it.
pub(crate) fn event_type_name(raw: i32) -> String {
    EventType::try_from(raw)
        .map(|t| camel(t.as_str_name(), "EVENT_TYPE_"))
        .unwrap_or_else(|_| format!("EventType{raw}"))
}

fn camel(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => {
                    first.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase()
                }
                None => String::new(),
            }
        })
        .collect()
}

pub(crate) fn to_system_time(t: &Timestamp) -> SystemTime {
    let secs = u64::try_from(t.seconds).unwrap_or(0);
    let nanos = u32::try_from(t.nanos).unwrap_or(0);
    UNIX_EPOCH + Duration::new(secs, nanos)
}

/// Milliseconds since the Unix epoch.
pub(crate) fn epoch_ms(t: &Timestamp) -> i64 {
    t.seconds.saturating_mul(1000) + i64::from(t.nanos) / 1_000_000
}

pub(crate) fn rfc3339(t: &Timestamp) -> String {
    humantime::format_rfc3339_millis(to_system_time(t)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_camel_case() {
        assert_eq!(
            event_type_name(EventType::ActivityTaskScheduled as i32),
            "ActivityTaskScheduled"
        );
        assert_eq!(
            camel(
                "PENDING_ACTIVITY_STATE_CANCEL_REQUESTED",
                "PENDING_ACTIVITY_STATE_"
            ),
            "CancelRequested"
        );
    }

    #[test]
    fn nexus_operations_show_as_pending_and_on_the_timeline() {
        use temporalio_protos::temporal::api::{
            history::v1::{
                NexusOperationCompletedEventAttributes, NexusOperationScheduledEventAttributes,
            },
            workflow::v1::PendingNexusOperationInfo,
        };
        let describe = DescribeWorkflowExecutionResponse {
            pending_nexus_operations: vec![PendingNexusOperationInfo {
                endpoint: "ep".into(),
                service: "Greeting".into(),
                operation: "run".into(),
                state: 3,
                attempt: 1,
                ..Default::default()
            }],
            ..Default::default()
        };
        let detail = Detail::build(&describe, &[], false);
        let pending = &detail.pending_nexus_operations[0];
        assert_eq!((pending.state.as_str(), pending.attempt), ("Started", 1));
        let at = |ms: i64| {
            Some(Timestamp {
                seconds: ms / 1000,
                nanos: 0,
            })
        };
        let events = [
            HistoryEvent {
                event_id: 5,
                event_time: at(10_000),
                attributes: Some(Attributes::NexusOperationScheduledEventAttributes(
                    NexusOperationScheduledEventAttributes {
                        endpoint: "ep".into(),
                        service: "Greeting".into(),
                        operation: "run".into(),
                        ..Default::default()
                    },
                )),
                ..Default::default()
            },
            HistoryEvent {
                event_id: 6,
                event_time: at(12_000),
                attributes: Some(Attributes::NexusOperationCompletedEventAttributes(
                    NexusOperationCompletedEventAttributes {
                        scheduled_event_id: 5,
                        ..Default::default()
                    },
                )),
                ..Default::default()
            },
        ];
        let timeline = super::super::timeline::Timeline::build(&events, 13_000);
        let lane = &timeline.lanes[0];
        assert_eq!(lane.label, "nexus Greeting.run @ep");
        assert_eq!((lane.end_ms, lane.outcome), (Some(12_000), "completed"));
    }
}
