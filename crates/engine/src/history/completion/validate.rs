//! The first phase of a completion: rejecting commands this engine cannot apply, and
//! search attributes that are not registered or typed right, before anything changes.

use temporalio_protos::temporal::api::{
    command::v1::{Command, command::Attributes as C},
    enums::v1::WorkflowTaskFailedCause,
};

use crate::history::rules::search_attributes;
use crate::{error::Result, time::duration_ms};

pub(super) type Invalid = (WorkflowTaskFailedCause, String);

pub(super) fn invalid(cause: WorkflowTaskFailedCause, message: &str) -> Result<(), Invalid> {
    Err((cause, message.to_owned()))
}

/// Rejects commands this engine cannot apply, before anything changes.
pub(super) fn validate(command: &Command) -> Result<(), Invalid> {
    use WorkflowTaskFailedCause as F;
    match &command.attributes {
        Some(C::ScheduleActivityTaskCommandAttributes(a)) => {
            let cause = F::BadScheduleActivityAttributes;
            if a.activity_id.is_empty() {
                return invalid(cause, "ActivityId is not set on command.");
            }
            if a.activity_type.as_ref().is_none_or(|t| t.name.is_empty()) {
                return invalid(cause, "ActivityType is not set on command.");
            }
            if duration_ms(a.start_to_close_timeout.as_ref()).is_none()
                && duration_ms(a.schedule_to_close_timeout.as_ref()).is_none()
            {
                return invalid(
                    cause,
                    "A valid StartToClose or ScheduleToCloseTimeout is not set on command.",
                );
            }
            Ok(())
        }
        Some(C::StartTimerCommandAttributes(a)) if a.timer_id.is_empty() => {
            invalid(F::BadStartTimerAttributes, "TimerId is not set on command.")
        }
        Some(C::StartChildWorkflowExecutionCommandAttributes(a)) => {
            let cause = F::BadStartChildExecutionAttributes;
            if a.workflow_id.is_empty() {
                return invalid(cause, "Required field WorkflowId is not set on command.");
            }
            if a.workflow_type.as_ref().is_none_or(|t| t.name.is_empty()) {
                return invalid(cause, "Required field WorkflowType is not set on command.");
            }
            Ok(())
        }
        Some(C::SignalExternalWorkflowExecutionCommandAttributes(a)) => {
            let cause = F::BadSignalWorkflowExecutionAttributes;
            if a.execution
                .as_ref()
                .is_none_or(|e| e.workflow_id.is_empty())
            {
                return invalid(cause, "WorkflowId is not set on command.");
            }
            if a.signal_name.is_empty() {
                return invalid(cause, "SignalName is not set on command.");
            }
            Ok(())
        }
        Some(C::RequestCancelExternalWorkflowExecutionCommandAttributes(a))
            if a.workflow_id.is_empty() =>
        {
            invalid(
                F::BadRequestCancelExternalWorkflowExecutionAttributes,
                "WorkflowId is not set on command.",
            )
        }
        Some(_) => Ok(()),
        None => invalid(F::Unspecified, "Command attributes are not set."),
    }
}

/// The search attributes a command sets must be registered and typed right, or the task
/// fails with `BAD_SEARCH_ATTRIBUTES`.
pub(super) fn check_search_attributes(
    command: &Command,
    namespace: &str,
    custom: &search_attributes::Custom,
) -> Result<(), Invalid> {
    let attributes = match &command.attributes {
        Some(C::UpsertWorkflowSearchAttributesCommandAttributes(a)) => &a.search_attributes,
        Some(C::StartChildWorkflowExecutionCommandAttributes(a)) => &a.search_attributes,
        Some(C::ContinueAsNewWorkflowExecutionCommandAttributes(a)) => &a.search_attributes,
        _ => return Ok(()),
    };
    match attributes {
        Some(a) => search_attributes::check(&a.indexed_fields, namespace, custom)
            .map_err(|message| (WorkflowTaskFailedCause::BadSearchAttributes, message)),
        None => Ok(()),
    }
}
