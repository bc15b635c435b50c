//! `RespondWorkflowTaskCompleted`: apply a worker's commands to its run.
//!
//! The commands are validated first and applied in order after `WorkflowTaskCompleted`; a
//! close command ends the list. If new events arrived while the worker was deciding to close
//! the run, the task fails with `UNHANDLED_COMMAND` instead, so the worker sees them first.

use temporalio_protos::temporal::api::{
    command::v1::{
        Command, ContinueAsNewWorkflowExecutionCommandAttributes, command::Attributes as C,
    },
    common::v1::WorkflowType,
    enums::v1::{RetryState, WorkflowExecutionStatus},
    history::v1::{
        MarkerRecordedEventAttributes, UpsertWorkflowSearchAttributesEventAttributes,
        WorkflowExecutionCanceledEventAttributes, WorkflowExecutionCompletedEventAttributes,
        WorkflowExecutionContinuedAsNewEventAttributes, WorkflowExecutionFailedEventAttributes,
        WorkflowPropertiesModifiedEventAttributes, WorkflowTaskCompletedEventAttributes,
    },
    workflowservice::v1::RespondWorkflowTaskCompletedRequest,
};

use super::{
    Effects, Execution, NewRun, Registry,
    workflow_task::{WorkflowTaskRef, normal_queue, task_not_found},
};
use crate::{
    error::{EngineError, Result},
    time::duration_ms,
};

/// What applying one command asks of the completion as a whole.
enum Applied {
    Done,
    NeedsWorkflowTask,
    ContinueAsNew(Box<NewRun>),
}

impl Registry {
    /// Completes the started workflow task `task` with the worker's commands.
    pub(crate) fn complete_workflow_task(
        &mut self,
        task: &WorkflowTaskRef<'_>,
        request: RespondWorkflowTaskCompletedRequest,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<()> {
        let exec = self.run_mut(task.run_id)?;
        if exec
            .started_task(task.scheduled_event_id, task.started_event_id)
            .is_none()
        {
            return Err(task_not_found());
        }
        for command in &request.commands {
            validate(command)?;
        }
        let closes = request.commands.iter().any(is_close_command);
        if closes && !exec.buffered.is_empty() {
            return self.fail_unhandled_command(task, &request.identity, now_ms, fx);
        }
        let completed_id = exec.append(
            now_ms,
            WorkflowTaskCompletedEventAttributes {
                scheduled_event_id: task.scheduled_event_id,
                started_event_id: task.started_event_id,
                identity: request.identity.clone(),
                sdk_metadata: request.sdk_metadata.clone(),
                metering_metadata: request.metering_metadata,
                ..Default::default()
            },
        );
        exec.state.previous_started_event_id = task.started_event_id;
        exec.state.workflow_task = None;
        let mut new_task = request.force_create_new_workflow_task;
        let mut continue_as_new = None;
        for command in request.commands {
            if !exec.is_open() {
                tracing::warn!(
                    run_id = task.run_id,
                    "ignoring commands after a close command"
                );
                break;
            }
            match apply(exec, command, completed_id, now_ms, fx) {
                Applied::Done => {}
                Applied::NeedsWorkflowTask => new_task = true,
                Applied::ContinueAsNew(spec) => continue_as_new = Some(spec),
            }
        }
        if exec.is_open() {
            new_task |= exec.flush_buffered();
            if new_task {
                exec.schedule_workflow_task(now_ms, 1, fx);
            }
        }
        fx.history_changed();
        if let Some(spec) = continue_as_new {
            self.create_run(*spec, now_ms, fx);
        }
        Ok(())
    }
}

fn is_close_command(command: &Command) -> bool {
    matches!(
        command.attributes,
        Some(
            C::CompleteWorkflowExecutionCommandAttributes(_)
                | C::FailWorkflowExecutionCommandAttributes(_)
                | C::CancelWorkflowExecutionCommandAttributes(_)
                | C::ContinueAsNewWorkflowExecutionCommandAttributes(_)
        )
    )
}

/// Rejects commands this engine cannot apply, before anything changes.
fn validate(command: &Command) -> Result<()> {
    match &command.attributes {
        Some(C::ScheduleActivityTaskCommandAttributes(a)) => {
            if a.activity_id.is_empty() {
                return Err(EngineError::invalid("ActivityId is not set on command."));
            }
            if a.activity_type.as_ref().is_none_or(|t| t.name.is_empty()) {
                return Err(EngineError::invalid("ActivityType is not set on command."));
            }
            if duration_ms(a.start_to_close_timeout.as_ref()).is_none()
                && duration_ms(a.schedule_to_close_timeout.as_ref()).is_none()
            {
                return Err(EngineError::invalid(
                    "A valid StartToClose or ScheduleToCloseTimeout is not set on command.",
                ));
            }
            Ok(())
        }
        Some(C::StartTimerCommandAttributes(a)) => {
            if a.timer_id.is_empty() {
                return Err(EngineError::invalid("TimerId is not set on command."));
            }
            Ok(())
        }
        Some(
            C::CompleteWorkflowExecutionCommandAttributes(_)
            | C::FailWorkflowExecutionCommandAttributes(_)
            | C::CancelWorkflowExecutionCommandAttributes(_)
            | C::ContinueAsNewWorkflowExecutionCommandAttributes(_)
            | C::RequestCancelActivityTaskCommandAttributes(_)
            | C::CancelTimerCommandAttributes(_)
            | C::RecordMarkerCommandAttributes(_)
            | C::UpsertWorkflowSearchAttributesCommandAttributes(_)
            | C::ModifyWorkflowPropertiesCommandAttributes(_)
            | C::ProtocolMessageCommandAttributes(_),
        ) => Ok(()),
        Some(other) => Err(EngineError::Unimplemented(format!(
            "command {} is not supported by this engine yet",
            command_name(other)
        ))),
        None => Err(EngineError::invalid("command without attributes")),
    }
}

fn command_name(attributes: &C) -> &'static str {
    match attributes {
        C::RequestCancelExternalWorkflowExecutionCommandAttributes(_) => {
            "RequestCancelExternalWorkflowExecution"
        }
        C::StartChildWorkflowExecutionCommandAttributes(_) => "StartChildWorkflowExecution",
        C::SignalExternalWorkflowExecutionCommandAttributes(_) => "SignalExternalWorkflowExecution",
        C::ScheduleNexusOperationCommandAttributes(_) => "ScheduleNexusOperation",
        C::RequestCancelNexusOperationCommandAttributes(_) => "RequestCancelNexusOperation",
        _ => "this command",
    }
}

fn apply(
    exec: &mut Execution,
    command: Command,
    completed_id: i64,
    now_ms: i64,
    fx: &mut Effects,
) -> Applied {
    let Some(attributes) = command.attributes else {
        return Applied::Done;
    };
    match attributes {
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
            exec.append(
                now_ms,
                WorkflowExecutionCompletedEventAttributes {
                    result: a.result,
                    workflow_task_completed_event_id: completed_id,
                    new_execution_run_id: String::new(),
                },
            );
            exec.close(now_ms, WorkflowExecutionStatus::Completed);
            Applied::Done
        }
        C::FailWorkflowExecutionCommandAttributes(a) => {
            exec.append(
                now_ms,
                WorkflowExecutionFailedEventAttributes {
                    failure: a.failure,
                    retry_state: RetryState::RetryPolicyNotSet as i32,
                    workflow_task_completed_event_id: completed_id,
                    new_execution_run_id: String::new(),
                },
            );
            exec.close(now_ms, WorkflowExecutionStatus::Failed);
            Applied::Done
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
            Applied::ContinueAsNew(Box::new(spec))
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
        _ => Applied::Done,
    }
}

/// Closes `exec` as continued-as-new and describes the run that follows it.
fn continue_as_new(
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
    let new_run_id = uuid::Uuid::new_v4().to_string();
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
        memo: a.memo.clone(),
        search_attributes: a.search_attributes.clone(),
        retry_policy: a.retry_policy.clone(),
        continued_from: Some((exec.state.run_id.clone(), exec.state.first_run_id.clone())),
        last_completion_result: a.last_completion_result.clone(),
        continued_failure: a.failure.clone(),
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
            memo: a.memo,
            search_attributes: a.search_attributes,
            ..Default::default()
        },
    );
    exec.close(now_ms, WorkflowExecutionStatus::ContinuedAsNew);
    exec.state.new_run_id = Some(new_run_id);
    spec
}
