//! Applying one command of a completion to its run, in order after
//! `WorkflowTaskCompleted`: the event it records and the machine it starts or changes
//! (activity, timer, child, external, update, search attributes, close, continue-as-new).

use std::collections::HashMap;

use temporalio_protos::temporal::api::{
    command::v1::{
        Command, ContinueAsNewWorkflowExecutionCommandAttributes, command::Attributes as C,
    },
    common::v1::WorkflowType,
    enums::v1::{ContinueAsNewInitiator, WorkflowExecutionStatus},
    history::v1::{
        MarkerRecordedEventAttributes, UpsertWorkflowSearchAttributesEventAttributes,
        WorkflowExecutionCanceledEventAttributes, WorkflowExecutionCompletedEventAttributes,
        WorkflowExecutionContinuedAsNewEventAttributes, WorkflowExecutionFailedEventAttributes,
        WorkflowPropertiesModifiedEventAttributes,
    },
    protocol::v1::Message as ProtocolMessage,
};

use super::commands::Applied;
use crate::history::{
    Effects, Execution, NewRun, lifecycle::chain::Outcome, machines::external::ExternalCommand,
    machines::workflow_task::normal_queue,
};

/// What every command of one completion shares.
pub(super) struct Context<'a> {
    pub(super) namespace_id: &'a str,
    pub(super) completed_id: i64,
    pub(super) now_ms: i64,
    /// The Nexus endpoints the completion's commands name, by name.
    pub(super) endpoints: &'a HashMap<String, crate::nexus::endpoints::EndpointRecord>,
}

/// Takes the protocol message `id` out of the completion's messages.
pub(super) fn take_message(inbox: &mut Vec<ProtocolMessage>, id: &str) -> Option<ProtocolMessage> {
    let at = inbox.iter().position(|m| m.id == id)?;
    Some(inbox.remove(at))
}

pub(super) fn apply(
    exec: &mut Execution,
    command: Command,
    inbox: &mut Vec<ProtocolMessage>,
    cx: &Context<'_>,
    fx: &mut Effects,
) -> Applied {
    let (completed_id, now_ms) = (cx.completed_id, cx.now_ms);
    let Some(attributes) = command.attributes else {
        return Applied::Done;
    };
    match attributes {
        C::StartChildWorkflowExecutionCommandAttributes(a) => {
            exec.initiate_child(a, cx.namespace_id.to_owned(), completed_id, now_ms);
            Applied::Done
        }
        C::SignalExternalWorkflowExecutionCommandAttributes(a) => {
            let command = ExternalCommand::Signal(a);
            exec.initiate_external(command, cx.namespace_id.to_owned(), completed_id, now_ms);
            Applied::Done
        }
        C::RequestCancelExternalWorkflowExecutionCommandAttributes(a) => {
            let command = ExternalCommand::Cancel(a);
            exec.initiate_external(command, cx.namespace_id.to_owned(), completed_id, now_ms);
            Applied::Done
        }
        C::ProtocolMessageCommandAttributes(a) => {
            match take_message(inbox, &a.message_id) {
                Some(message) => exec.on_protocol_message(message, completed_id, now_ms),
                None => tracing::warn!(
                    run_id = exec.state.run_id,
                    message_id = a.message_id,
                    "ProtocolMessage command names no message of the completion"
                ),
            }
            Applied::Done
        }
        C::ScheduleNexusOperationCommandAttributes(a) => {
            if let Some(endpoint) = cx.endpoints.get(&a.endpoint) {
                exec.schedule_nexus_operation(a, endpoint, completed_id, now_ms, fx);
            }
            Applied::Done
        }
        C::RequestCancelNexusOperationCommandAttributes(a) => {
            exec.request_cancel_nexus_operation(a.scheduled_event_id, completed_id, now_ms, fx);
            Applied::Done
        }
        C::ScheduleActivityTaskCommandAttributes(a) => {
            exec.schedule_activity(a, completed_id, now_ms, fx);
            Applied::Done
        }
        C::RequestCancelActivityTaskCommandAttributes(a) => {
            if exec.request_cancel_activity(a.scheduled_event_id, completed_id, now_ms) {
                Applied::NeedsWorkflowTask
            } else {
                Applied::Done
            }
        }
        C::StartTimerCommandAttributes(a) => {
            exec.start_timer(a, completed_id, now_ms, fx);
            Applied::Done
        }
        C::CancelTimerCommandAttributes(a) => {
            exec.cancel_timer(&a.timer_id, completed_id, now_ms);
            Applied::Done
        }
        C::CompleteWorkflowExecutionCommandAttributes(a) => {
            let follow = exec.follow(Outcome::Completed(a.result.as_ref()), now_ms);
            exec.append(
                now_ms,
                WorkflowExecutionCompletedEventAttributes {
                    result: a.result,
                    workflow_task_completed_event_id: completed_id,
                    new_execution_run_id: follow.new_run_id(),
                },
            );
            exec.close_in_chain(now_ms, WorkflowExecutionStatus::Completed, follow.next)
        }
        C::FailWorkflowExecutionCommandAttributes(a) => {
            let failure = a.failure.clone().unwrap_or_default();
            let follow = exec.follow(Outcome::Failed(&failure), now_ms);
            exec.append(
                now_ms,
                WorkflowExecutionFailedEventAttributes {
                    failure: a.failure,
                    retry_state: follow.retry_state as i32,
                    workflow_task_completed_event_id: completed_id,
                    new_execution_run_id: follow.new_run_id(),
                },
            );
            exec.close_in_chain(now_ms, WorkflowExecutionStatus::Failed, follow.next)
        }
        C::CancelWorkflowExecutionCommandAttributes(a) => {
            exec.append(
                now_ms,
                WorkflowExecutionCanceledEventAttributes {
                    workflow_task_completed_event_id: completed_id,
                    details: a.details,
                },
            );
            exec.close(now_ms, WorkflowExecutionStatus::Canceled);
            Applied::Done
        }
        C::ContinueAsNewWorkflowExecutionCommandAttributes(a) => {
            let spec = continue_as_new(exec, a, completed_id, now_ms);
            Applied::NextRun(Box::new(spec))
        }
        C::RecordMarkerCommandAttributes(a) => {
            exec.append(
                now_ms,
                MarkerRecordedEventAttributes {
                    marker_name: a.marker_name,
                    details: a.details,
                    workflow_task_completed_event_id: completed_id,
                    header: a.header,
                    failure: a.failure,
                },
            );
            Applied::Done
        }
        C::UpsertWorkflowSearchAttributesCommandAttributes(a) => {
            exec.append(
                now_ms,
                UpsertWorkflowSearchAttributesEventAttributes {
                    workflow_task_completed_event_id: completed_id,
                    search_attributes: a.search_attributes,
                },
            );
            Applied::Done
        }
        C::ModifyWorkflowPropertiesCommandAttributes(a) => {
            exec.append(
                now_ms,
                WorkflowPropertiesModifiedEventAttributes {
                    workflow_task_completed_event_id: completed_id,
                    upserted_memo: a.upserted_memo,
                },
            );
            Applied::Done
        }
    }
}

/// Closes `exec` as continued-as-new and describes the run that follows it.
pub(super) fn continue_as_new(
    exec: &mut Execution,
    a: ContinueAsNewWorkflowExecutionCommandAttributes,
    completed_id: i64,
    now_ms: i64,
) -> NewRun {
    let workflow_type = a
        .workflow_type
        .as_ref()
        .map(|t| t.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| exec.state.workflow_type.clone());
    let task_queue = a
        .task_queue
        .as_ref()
        .map(|q| q.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| exec.state.task_queue.clone());
    let run_timeout = a
        .workflow_run_timeout
        .or_else(|| exec.state.run_timeout_ms.map(crate::time::duration));
    let task_timeout = a
        .workflow_task_timeout
        .or_else(|| Some(crate::time::duration(exec.state.workflow_task_timeout_ms)));
    // Unless the command sets them, the next run keeps the memo and search attributes.
    let memo = a.memo.clone().or_else(|| exec.properties.memo());
    let search_attributes = a
        .search_attributes
        .clone()
        .or_else(|| exec.properties.search_attributes());
    let new_run_id = crate::history::lifecycle::start::new_run_id();
    let spec = NewRun {
        run_id: Some(new_run_id.clone()),
        namespace: exec.state.namespace.clone(),
        workflow_id: exec.state.workflow_id.clone(),
        workflow_type: workflow_type.clone(),
        task_queue: task_queue.clone(),
        input: a.input.clone(),
        run_timeout,
        workflow_task_timeout: task_timeout,
        header: a.header.clone(),
        memo: memo.clone(),
        search_attributes: search_attributes.clone(),
        retry_policy: a.retry_policy.clone(),
        continued_from: Some((exec.state.run_id.clone(), exec.state.first_run_id.clone())),
        last_completion_result: a.last_completion_result.clone(),
        continued_failure: a.failure.clone(),
        parent: exec.state.parent.clone(),
        versioning: exec.state.versioning.continued(
            task_queue == exec.state.task_queue,
            a.initial_versioning_behavior,
        ),
        initiator: ContinueAsNewInitiator::Workflow as i32,
        // The execution timeout spans the whole chain, as on the real server.
        execution_timeout: exec
            .started_attributes()
            .and_then(|s| s.workflow_execution_timeout),
        expiration_ms: exec.expiration_ms(),
        ..Default::default()
    };
    exec.append(
        now_ms,
        WorkflowExecutionContinuedAsNewEventAttributes {
            new_execution_run_id: new_run_id.clone(),
            workflow_type: Some(WorkflowType {
                name: workflow_type,
            }),
            task_queue: Some(normal_queue(&task_queue)),
            input: a.input,
            workflow_run_timeout: run_timeout,
            workflow_task_timeout: task_timeout,
            workflow_task_completed_event_id: completed_id,
            backoff_start_interval: a.backoff_start_interval,
            initiator: a.initiator,
            last_completion_result: a.last_completion_result,
            header: a.header,
            memo,
            search_attributes,
            ..Default::default()
        },
    );
    exec.close(now_ms, WorkflowExecutionStatus::ContinuedAsNew);
    exec.state.new_run_id = Some(new_run_id);
    spec
}
