//! The real server's limits on a workflow task's commands, checked in command order before
//! any is applied: an oversized payload fails the task and terminates the run; too much
//! pending work (activities, children, signals and cancel requests to other workflows)
//! fails the task with its own cause, and the worker tries again.
//!
//! Signals and cancel requests to other workflows are delivered within the completion
//! that sends them here, so only those of the same completion count as pending.

use prost::Message;
use temporalio_protos::temporal::api::{
    command::v1::{Command, command::Attributes as C},
    enums::v1::WorkflowTaskFailedCause as F,
};

use crate::history::{Execution, rules::limits::Breach, rules::limits::Limits};

/// What is pending while the commands are walked.
struct Pending {
    activities: usize,
    children: usize,
    signals: usize,
    cancels: usize,
}

/// The first limit the commands break, if any.
pub(in crate::history) fn check(
    exec: &Execution,
    commands: &[Command],
    limits: &Limits,
) -> Option<Breach> {
    let mut pending = Pending {
        activities: exec.state.activities.len(),
        children: exec.state.children.len(),
        signals: 0,
        cancels: 0,
    };
    commands
        .iter()
        .find_map(|command| check_one(command, limits, &mut pending))
}

fn check_one(command: &Command, limits: &Limits, pending: &mut Pending) -> Option<Breach> {
    let blob = |size: usize, cause: F, what: &str| {
        limits
            .blob_too_large(size)
            .then(|| Breach::new(cause, what, true))
    };
    let memo = |size: usize, cause: F, what: &str| {
        limits
            .memo_too_large(size)
            .then(|| Breach::new(cause, what, true))
    };
    let count = |n: &mut usize, limit: usize, cause: F, resource: &str| {
        if limit > 0 && *n >= limit {
            return Some(Breach::pending(cause, resource, *n, limit));
        }
        *n += 1;
        None
    };
    match command.attributes.as_ref()? {
        C::ScheduleActivityTaskCommandAttributes(a) => blob(
            a.input.as_ref().map_or(0, Message::encoded_len),
            F::BadScheduleActivityAttributes,
            "ScheduleActivityTaskCommandAttributes.Input exceeds size limit.",
        )
        .or_else(|| {
            count(
                &mut pending.activities,
                limits.pending_activities,
                F::PendingActivitiesLimitExceeded,
                "pending activities",
            )
        }),
        // The real server names this cause for an oversized result.
        C::CompleteWorkflowExecutionCommandAttributes(a) => blob(
            a.result.as_ref().map_or(0, Message::encoded_len),
            F::BadScheduleActivityAttributes,
            "CompleteWorkflowExecutionCommandAttributes.Result exceeds size limit.",
        ),
        C::FailWorkflowExecutionCommandAttributes(a) => blob(
            a.failure.as_ref().map_or(0, Message::encoded_len),
            F::BadFailWorkflowExecutionAttributes,
            "FailWorkflowExecutionCommandAttributes.Failure exceeds size limit.",
        ),
        C::RecordMarkerCommandAttributes(a) => blob(
            a.details.values().map(Message::encoded_len).sum(),
            F::BadRecordMarkerAttributes,
            "RecordMarkerCommandAttributes.Details exceeds size limit.",
        ),
        C::ContinueAsNewWorkflowExecutionCommandAttributes(a) => blob(
            a.input.as_ref().map_or(0, Message::encoded_len),
            F::BadContinueAsNewAttributes,
            "ContinueAsNewWorkflowExecutionCommandAttributes. Input exceeds size limit.",
        )
        .or_else(|| {
            memo(
                a.memo.as_ref().map_or(0, Message::encoded_len),
                F::BadContinueAsNewAttributes,
                "ContinueAsNewWorkflowExecutionCommandAttributes. Memo exceeds size limit.",
            )
        }),
        C::StartChildWorkflowExecutionCommandAttributes(a) => blob(
            a.input.as_ref().map_or(0, Message::encoded_len),
            F::BadStartChildExecutionAttributes,
            "StartChildWorkflowExecutionCommandAttributes. Input exceeds size limit.",
        )
        .or_else(|| {
            memo(
                a.memo.as_ref().map_or(0, Message::encoded_len),
                F::BadStartChildExecutionAttributes,
                "StartChildWorkflowExecutionCommandAttributes.Memo exceeds size limit.",
            )
        })
        .or_else(|| {
            count(
                &mut pending.children,
                limits.pending_child_workflows,
                F::PendingChildWorkflowsLimitExceeded,
                "pending child workflow executions",
            )
        }),
        C::SignalExternalWorkflowExecutionCommandAttributes(a) => count(
            &mut pending.signals,
            limits.pending_signals,
            F::PendingSignalsLimitExceeded,
            "pending signals to external workflows",
        )
        .or_else(|| {
            blob(
                a.input.as_ref().map_or(0, Message::encoded_len),
                F::BadSignalWorkflowExecutionAttributes,
                "SignalExternalWorkflowExecutionCommandAttributes.Input exceeds size limit.",
            )
        }),
        C::RequestCancelExternalWorkflowExecutionCommandAttributes(_) => count(
            &mut pending.cancels,
            limits.pending_cancel_requests,
            F::PendingRequestCancelLimitExceeded,
            "pending requests to cancel external workflows",
        ),
        C::ModifyWorkflowPropertiesCommandAttributes(a) => blob(
            a.upserted_memo.as_ref().map_or(0, Message::encoded_len),
            F::BadModifyWorkflowPropertiesAttributes,
            "ModifyWorkflowPropertiesCommandAttributes exceeds size limit.",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use temporalio_protos::temporal::api::{
        command::v1::{
            CompleteWorkflowExecutionCommandAttributes, ScheduleActivityTaskCommandAttributes,
        },
        common::v1::{Payload, Payloads},
    };

    use super::*;
    use crate::history::testing;

    fn command(attributes: impl Into<C>) -> Command {
        Command {
            attributes: Some(attributes.into()),
            ..Default::default()
        }
    }

    fn activity() -> Command {
        command(ScheduleActivityTaskCommandAttributes::default())
    }

    #[test]
    fn the_first_command_past_a_limit_is_named() {
        let mut registry = testing::registry();
        let run_id = testing::start(&mut registry, "limits");
        let exec = registry.run(&run_id).unwrap();
        let mut limits = Limits {
            pending_activities: 2,
            ..Limits::default()
        };
        assert_eq!(check(exec, &[activity(), activity()], &limits), None);
        let breach = check(exec, &[activity(), activity(), activity()], &limits).unwrap();
        assert_eq!(breach.cause, F::PendingActivitiesLimitExceeded);
        assert!(!breach.terminates);

        limits.set("limit.blobSize.warn", 10);
        limits.set("limit.blobSize.error", 10);
        let big = Payloads {
            payloads: vec![Payload {
                data: vec![0; 100],
                ..Default::default()
            }],
        };
        let complete = command(CompleteWorkflowExecutionCommandAttributes { result: Some(big) });
        let breach = check(exec, &[complete], &limits).unwrap();
        assert!(breach.terminates);
        assert!(breach.message.ends_with("Result exceeds size limit."));
    }
}
