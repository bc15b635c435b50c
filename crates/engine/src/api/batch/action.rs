//! What a batch job does to each run: the operation of its request, carried out through
//! the same code as the single-run RPC. A reset first finds its event the way the real
//! server's batcher does (the first or last completed workflow task, a given event, or the
//! build id's reset point).

use temporalio_protos::temporal::api::{
    batch::v1::BatchOperationReset,
    common::v1::{Payloads, ResetOptions, WorkflowExecution, reset_options::Target},
    enums::v1::{BatchOperationType, EventType, ResetType},
    workflowservice::v1::{
        DeleteWorkflowExecutionRequest, RequestCancelWorkflowExecutionRequest,
        ResetWorkflowExecutionRequest, SignalWorkflowExecutionRequest,
        TerminateWorkflowExecutionRequest, UpdateWorkflowExecutionOptionsRequest,
        start_batch_operation_request::Operation,
    },
};
use tonic::Status;

use super::super::{retention, workflows};
use crate::{
    error::{EngineError, Result},
    runtime::EngineRuntime,
};

/// The real server's answer to a request without an operation or without targets.
pub(super) const MISSING_PARAMETERS: &str = "must provide required parameters: BatchType,Reason,Namespace, AND one of (Query OR Executions OR TargetExecutions)";

/// What a job does to one run.
#[derive(Debug, Clone)]
pub(super) enum Action {
    Terminate {
        identity: String,
        details: Option<Payloads>,
    },
    Cancel {
        identity: String,
    },
    Signal(Box<SignalWorkflowExecutionRequest>),
    UpdateOptions(Box<UpdateWorkflowExecutionOptionsRequest>),
    Delete,
    Reset(Box<BatchOperationReset>),
}

impl Action {
    /// Whether the job only touches running workflows: the real server adds
    /// `ExecutionStatus='Running'` to these operations' queries.
    pub(super) fn running_only(&self) -> bool {
        !matches!(self, Self::Delete | Self::Reset(_))
    }
}

/// The action of `operation`, its type and the identity it is done under; or why the
/// operation is refused.
pub(super) fn action(
    operation: Option<Operation>,
) -> std::result::Result<(Action, BatchOperationType, String), Status> {
    Ok(match operation {
        None => return Err(Status::invalid_argument(MISSING_PARAMETERS)),
        Some(Operation::TerminationOperation(t)) => (
            Action::Terminate {
                identity: t.identity.clone(),
                details: t.details,
            },
            BatchOperationType::TerminateWorkflow,
            t.identity,
        ),
        Some(Operation::CancellationOperation(c)) => (
            Action::Cancel {
                identity: c.identity.clone(),
            },
            BatchOperationType::CancelWorkflow,
            c.identity,
        ),
        Some(Operation::SignalOperation(s)) => (
            Action::Signal(Box::new(SignalWorkflowExecutionRequest {
                signal_name: s.signal,
                input: s.input,
                header: s.header,
                identity: s.identity.clone(),
                ..Default::default()
            })),
            BatchOperationType::SignalWorkflow,
            s.identity,
        ),
        Some(Operation::UpdateWorkflowOptionsOperation(u)) => (
            Action::UpdateOptions(Box::new(UpdateWorkflowExecutionOptionsRequest {
                workflow_execution_options: u.workflow_execution_options,
                update_mask: u.update_mask,
                identity: u.identity.clone(),
                ..Default::default()
            })),
            BatchOperationType::UpdateWorkflowExecutionOptions,
            u.identity,
        ),
        Some(Operation::DeletionOperation(d)) => (
            Action::Delete,
            BatchOperationType::DeleteWorkflow,
            d.identity,
        ),
        Some(Operation::ResetOperation(r)) => {
            let identity = r.identity.clone();
            (
                Action::Reset(Box::new(r)),
                BatchOperationType::ResetWorkflow,
                identity,
            )
        }
        Some(_) => {
            return Err(Status::unimplemented(
                "batch operations on activities are not offered by this engine: pause, unpause, reset or update each activity with its own RPC",
            ));
        }
    })
}

/// Does `action` to `execution`, as job `job_id` with `reason`.
pub(super) async fn apply(
    rt: &EngineRuntime,
    namespace: &str,
    job_id: &str,
    reason: &str,
    action: &Action,
    execution: WorkflowExecution,
) -> Result<()> {
    let namespace = namespace.to_owned();
    let request_id = || format!("{job_id}-{}", uuid::Uuid::new_v4());
    match action {
        Action::Terminate { identity, details } => {
            workflows::terminate(
                rt,
                TerminateWorkflowExecutionRequest {
                    namespace,
                    workflow_execution: Some(execution),
                    reason: reason.to_owned(),
                    details: details.clone(),
                    identity: identity.clone(),
                    ..Default::default()
                },
            )
            .await
        }
        Action::Cancel { identity } => {
            workflows::request_cancel(
                rt,
                RequestCancelWorkflowExecutionRequest {
                    namespace,
                    workflow_execution: Some(execution),
                    identity: identity.clone(),
                    reason: reason.to_owned(),
                    request_id: request_id(),
                    ..Default::default()
                },
            )
            .await
        }
        Action::Signal(signal) => {
            let mut request = (**signal).clone();
            request.namespace = namespace;
            request.workflow_execution = Some(execution);
            request.request_id = request_id();
            workflows::signal(rt, request).await
        }
        Action::UpdateOptions(update) => {
            let mut request = (**update).clone();
            request.namespace = namespace;
            request.workflow_execution = Some(execution);
            workflows::update_options(rt, request).await.map(|_| ())
        }
        Action::Delete => {
            retention::delete_workflow_execution(
                rt,
                DeleteWorkflowExecutionRequest {
                    namespace,
                    workflow_execution: Some(execution),
                },
            )
            .await
        }
        Action::Reset(reset) => {
            let (execution, event_id) = reset_point(rt, &namespace, execution, reset)?;
            // Deprecated in favour of `options`, which the real batcher reads first.
            #[allow(deprecated)]
            let (reapply_type, exclude) = match &reset.options {
                Some(options) => (
                    options.reset_reapply_type,
                    options.reset_reapply_exclude_types.clone(),
                ),
                None => (reset.reset_reapply_type, Vec::new()),
            };
            #[allow(deprecated)]
            let request = ResetWorkflowExecutionRequest {
                namespace,
                workflow_execution: Some(execution),
                reason: reason.to_owned(),
                request_id: request_id(),
                workflow_task_finish_event_id: event_id,
                reset_reapply_type: reapply_type,
                reset_reapply_exclude_types: exclude,
                post_reset_operations: reset.post_reset_operations.clone(),
                identity: reset.identity.clone(),
            };
            workflows::reset(rt, request).await.map(|_| ())
        }
    }
}

/// Where a reset goes in `execution`: the run (a build id's reset point may name an
/// earlier one) and the workflow task event to reset to.
fn reset_point(
    rt: &EngineRuntime,
    namespace: &str,
    execution: WorkflowExecution,
    reset: &BatchOperationReset,
) -> Result<(WorkflowExecution, i64)> {
    enum Find {
        First,
        Last,
    }
    // Deprecated in favour of `options`, which the real batcher reads first.
    #[allow(deprecated)]
    let find = match &reset.options {
        Some(ResetOptions {
            target: Some(Target::FirstWorkflowTask(())),
            ..
        }) => Find::First,
        Some(ResetOptions {
            target: Some(Target::LastWorkflowTask(())),
            ..
        }) => Find::Last,
        Some(ResetOptions {
            target: Some(Target::WorkflowTaskId(id)),
            ..
        }) => return Ok((execution, *id)),
        Some(ResetOptions {
            target: Some(Target::BuildId(build_id)),
            current_run_only,
            ..
        }) => {
            return build_id_point(rt, namespace, execution, build_id, *current_run_only);
        }
        Some(options) => {
            return Err(EngineError::invalid(format!(
                "provided reset target ({:?}) is not supported.",
                options.target
            )));
        }
        None if reset.reset_type == ResetType::FirstWorkflowTask as i32 => Find::First,
        None if reset.reset_type == ResetType::LastWorkflowTask as i32 => Find::Last,
        None => {
            let name = ResetType::try_from(reset.reset_type).map_or_else(
                |_| reset.reset_type.to_string(),
                |t| t.as_str_name().to_owned(),
            );
            return Err(EngineError::invalid(format!(
                "provided reset type ({name}) is not supported."
            )));
        }
    };
    let event_id = rt.read(|registry| {
        let run_id = registry.resolve(namespace, &execution.workflow_id, &execution.run_id)?;
        let history = registry.run(&run_id)?.history();
        let completed = EventType::WorkflowTaskCompleted as i32;
        let scheduled = EventType::WorkflowTaskScheduled as i32;
        let found = match find {
            Find::First => history
                .iter()
                .find(|e| e.event_type == completed)
                .map(|e| e.event_id)
                .or_else(|| {
                    history
                        .iter()
                        .find(|e| e.event_type == scheduled)
                        .map(|e| e.event_id + 1)
                }),
            Find::Last => history
                .iter()
                .rev()
                .find(|e| e.event_type == completed)
                .map(|e| e.event_id)
                .or_else(|| {
                    history
                        .iter()
                        .find(|e| e.event_type == scheduled)
                        .map(|e| e.event_id + 1)
                }),
        };
        found.ok_or_else(|| EngineError::invalid("unable to find any scheduled or completed task"))
    })?;
    Ok((execution, event_id))
}

/// The reset point of `build_id` among the run's auto-reset points.
fn build_id_point(
    rt: &EngineRuntime,
    namespace: &str,
    mut execution: WorkflowExecution,
    build_id: &str,
    current_run_only: bool,
) -> Result<(WorkflowExecution, i64)> {
    let points = rt.read(|registry| {
        let run_id = registry.resolve(namespace, &execution.workflow_id, &execution.run_id)?;
        Ok::<_, EngineError>(registry.run(&run_id)?.reset_points())
    })?;
    let point = points
        .into_iter()
        .flat_map(|p| p.points)
        .find(|p| p.build_id == build_id)
        .ok_or_else(|| EngineError::invalid(format!("Can't find reset point for {build_id}")))?;
    if !point.resettable {
        return Err(EngineError::invalid(format!(
            "Reset point for {build_id} is not resettable"
        )));
    }
    if current_run_only && execution.run_id != point.run_id {
        return Err(EngineError::invalid(format!(
            "Reset point for {build_id} points to previous run and CurrentRunOnly is set"
        )));
    }
    execution.run_id = point.run_id;
    Ok((execution, point.first_workflow_task_completed_id))
}
