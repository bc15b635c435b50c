//! `ExecuteMultiOperation`: update-with-start, the only multi-operation the real server
//! serves (exactly [Start, Update] on one workflow id). The request is checked operation by
//! operation as the real frontend does; a refused operation is reported in the
//! `MultiOperationExecutionFailure` detail with the others marked aborted. Then the start
//! and the update are one engine operation, and the caller waits for the update's stage.

use temporalio_protos::temporal::api::{
    enums::v1::UpdateWorkflowExecutionLifecycleStage as Stage,
    workflowservice::v1::{
        ExecuteMultiOperationRequest, ExecuteMultiOperationResponse, StartWorkflowExecutionRequest,
        StartWorkflowExecutionResponse, UpdateWorkflowExecutionRequest,
        UpdateWorkflowExecutionResponse,
        execute_multi_operation_request::operation::Operation,
        execute_multi_operation_response::{Response, response},
    },
};

use super::{Service, updates, workflows};
use crate::{
    error::{EngineError, OperationOutcome, Result},
    history::{Limits, UpdateWithStart, lifecycle::update_with_start},
};

/// The real server's answer to anything but [Start, Update].
const NOT_START_AND_UPDATE: &str = "Operations have to be exactly [Start, Update].";

pub(super) async fn execute(
    svc: &Service,
    r: ExecuteMultiOperationRequest,
) -> Result<ExecuteMultiOperationResponse> {
    let namespace = r.namespace;
    let limits = svc
        .runtime
        .read(|registry| registry.namespace(&namespace).map(|_| registry.limits))?;
    let mut operations = r.operations.into_iter().map(|op| op.operation);
    let (
        Some(Some(Operation::StartWorkflow(mut start))),
        Some(Some(Operation::UpdateWorkflow(mut update))),
        None,
    ) = (operations.next(), operations.next(), operations.next())
    else {
        return Err(EngineError::invalid(NOT_START_AND_UPDATE));
    };
    check(&namespace, &mut start, &mut update, &limits)?;
    let wait = updates::wanted_stage(update.wait_policy.as_ref(), Stage::Accepted);
    let workflow_id = start.workflow_id.clone();
    let Some(request) = update.request else {
        return Err(EngineError::invalid("Request is not set on request."));
    };
    let update_id = request
        .meta
        .as_ref()
        .map(|m| m.update_id.clone())
        .unwrap_or_default();
    let spec = workflows::new_run(start)?;
    workflows::check_pinned(&svc.runtime, &spec)?;
    let UpdateWithStart {
        run_id,
        started,
        status,
    } = svc
        .runtime
        .execute(|registry, now, fx| registry.update_with_start(spec, request, now, fx))
        .await?;
    tracing::debug!(workflow_id, run_id, update_id, started, "update-with-start");
    let reached = updates::wait_for(svc, &run_id, &update_id, wait)
        .await
        .map_err(|e| update_with_start::update_failed(e, started))?;
    let (stage, outcome) = updates::stage_of(reached);
    let start = StartWorkflowExecutionResponse {
        run_id: run_id.clone(),
        started,
        status,
        ..Default::default()
    };
    let update = UpdateWorkflowExecutionResponse {
        update_ref: Some(updates::update_ref(workflow_id, run_id, update_id)),
        outcome,
        stage: stage as i32,
        ..Default::default()
    };
    Ok(ExecuteMultiOperationResponse {
        responses: vec![
            Response {
                response: Some(response::Response::StartWorkflow(start)),
            },
            Response {
                response: Some(response::Response::UpdateWorkflow(update)),
            },
        ],
    })
}

/// The real frontend's checks of each operation, then of their workflow ids; any failure
/// is reported per operation.
fn check(
    namespace: &str,
    start: &mut StartWorkflowExecutionRequest,
    update: &mut UpdateWorkflowExecutionRequest,
    limits: &Limits,
) -> Result<()> {
    let start_check = check_start(namespace, start, limits);
    let update_check = check_update(namespace, update);
    let update_workflow_id = update
        .workflow_execution
        .as_ref()
        .map(|e| e.workflow_id.as_str())
        .unwrap_or_default();
    let inconsistent =
        start_check.is_ok() && update_check.is_ok() && start.workflow_id != update_workflow_id;
    if start_check.is_ok() && update_check.is_ok() && !inconsistent {
        return Ok(());
    }
    let outcome = |checked: Result<()>| match checked {
        Ok(()) => OperationOutcome::Aborted,
        Err(e) => OperationOutcome::Failed(Box::new(e)),
    };
    let update_outcome = if inconsistent {
        OperationOutcome::Failed(Box::new(EngineError::invalid(
            "WorkflowId is not consistent with previous operation(s).",
        )))
    } else {
        outcome(update_check)
    };
    Err(EngineError::MultiOperation {
        message: update_with_start::NOT_EXECUTED.into(),
        operations: vec![outcome(start_check), update_outcome],
    })
}

fn same_namespace(namespace: &str, op_namespace: &mut String) -> Result<()> {
    if op_namespace.is_empty() {
        op_namespace.push_str(namespace);
    } else if op_namespace != namespace {
        return Err(EngineError::invalid(
            "Operation namespace did not match request's namespace.",
        ));
    }
    Ok(())
}

fn check_start(
    namespace: &str,
    start: &mut StartWorkflowExecutionRequest,
    limits: &Limits,
) -> Result<()> {
    same_namespace(namespace, &mut start.namespace)?;
    let run = workflows::new_run(start.clone())?;
    run.validate()?;
    limits.check_new_run(&run)?;
    if !start.cron_schedule.is_empty() {
        return Err(EngineError::invalid("CronSchedule is not allowed."));
    }
    if start.request_eager_execution {
        return Err(EngineError::invalid(
            "RequestEagerExecution is not supported.",
        ));
    }
    if start.workflow_start_delay.is_some() {
        return Err(EngineError::invalid("WorkflowStartDelay is not supported."));
    }
    Ok(())
}

fn check_update(namespace: &str, update: &mut UpdateWorkflowExecutionRequest) -> Result<()> {
    same_namespace(namespace, &mut update.namespace)?;
    updates::check(update)?;
    if !update.first_execution_run_id.is_empty() {
        return Err(EngineError::invalid("FirstExecutionRunId is not allowed."));
    }
    if update
        .workflow_execution
        .as_ref()
        .is_some_and(|e| !e.run_id.is_empty())
    {
        return Err(EngineError::invalid("RunId is not allowed."));
    }
    Ok(())
}
