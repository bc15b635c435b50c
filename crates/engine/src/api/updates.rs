//! `UpdateWorkflowExecution` and `PollWorkflowExecutionUpdate`: admit an update, then wait
//! (up to the long-poll timeout) until it reaches the stage the caller asked for. A caller
//! whose wait runs out gets the stage reached so far and polls again, as the SDKs do.

use temporalio_protos::temporal::api::{
    common::v1::WorkflowExecution,
    enums::v1::UpdateWorkflowExecutionLifecycleStage as Stage,
    update::v1::{Outcome, UpdateRef, WaitPolicy},
    workflowservice::v1::{
        PollWorkflowExecutionUpdateRequest, PollWorkflowExecutionUpdateResponse,
        UpdateWorkflowExecutionRequest, UpdateWorkflowExecutionResponse,
    },
};
use tokio::time::Instant;

use super::Service;
use crate::{
    error::{EngineError, Result},
    history::UpdateStatus,
};

pub(super) async fn update(
    svc: &Service,
    r: UpdateWorkflowExecutionRequest,
) -> Result<UpdateWorkflowExecutionResponse> {
    let rt = &svc.runtime;
    let update_id = check(&r)?;
    let (Some(execution), Some(request)) = (r.workflow_execution, r.request) else {
        return Err(EngineError::invalid("Request is not set on request."));
    };
    let wait = wanted_stage(r.wait_policy.as_ref(), Stage::Accepted);
    let namespace = r.namespace;
    let first_run_id = r.first_execution_run_id;
    let run_id = rt
        .execute(|registry, now, fx| {
            let run_id = registry
                .resolve(&namespace, &execution.workflow_id, &execution.run_id)?
                .to_owned();
            let exec = registry.run(&run_id)?;
            if !first_run_id.is_empty() && exec.first_run_id() != first_run_id {
                return Err(EngineError::not_found(
                    "workflow execution not found for the given first run id",
                ));
            }
            // A retried request for an update that completed before the run closed still
            // learns its outcome.
            let finished = matches!(
                exec.update_status(&update_id),
                Some(UpdateStatus::Completed(_))
            );
            if !finished {
                registry.admit_update(&run_id, request, now, fx)?;
            }
            Ok(run_id)
        })
        .await?;
    let status = wait_for(svc, &run_id, &update_id, wait).await?;
    let (stage, outcome) = stage_of(status);
    Ok(UpdateWorkflowExecutionResponse {
        update_ref: Some(update_ref(execution.workflow_id, run_id, update_id)),
        outcome,
        stage: stage as i32,
        ..Default::default()
    })
}

/// Checks an update request as the real server's frontend does; returns its update id.
pub(super) fn check(r: &UpdateWorkflowExecutionRequest) -> Result<String> {
    let execution = r
        .workflow_execution
        .as_ref()
        .ok_or_else(|| EngineError::invalid("WorkflowExecution is not set on request."))?;
    if execution.workflow_id.is_empty() {
        return Err(EngineError::invalid("WorkflowId is not set on request."));
    }
    let request = r
        .request
        .as_ref()
        .ok_or_else(|| EngineError::invalid("Request is not set on request."))?;
    let update_id = request
        .meta
        .as_ref()
        .map(|m| m.update_id.clone())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| EngineError::invalid("Update id is not set on request."))?;
    if request.input.as_ref().is_none_or(|i| i.name.is_empty()) {
        return Err(EngineError::invalid("Update name is not set on request."));
    }
    Ok(update_id)
}

pub(super) async fn poll(
    svc: &Service,
    r: PollWorkflowExecutionUpdateRequest,
) -> Result<PollWorkflowExecutionUpdateResponse> {
    let update_ref = r
        .update_ref
        .ok_or_else(|| EngineError::invalid("UpdateRef is not set on request."))?;
    let execution = update_ref
        .workflow_execution
        .ok_or_else(|| EngineError::invalid("WorkflowExecution is not set on request."))?;
    if update_ref.update_id.is_empty() {
        return Err(EngineError::invalid("Update id is not set on request."));
    }
    let run_id = svc.runtime.read(|registry| {
        registry.resolve(&r.namespace, &execution.workflow_id, &execution.run_id)
    })?;
    // Without a wait policy the caller only wants to know where the update stands.
    let wait = wanted_stage(r.wait_policy.as_ref(), Stage::Admitted);
    let status = wait_for(svc, &run_id, &update_ref.update_id, wait).await?;
    let (stage, outcome) = stage_of(status);
    Ok(PollWorkflowExecutionUpdateResponse {
        outcome,
        stage: stage as i32,
        update_ref: Some(self::update_ref(
            execution.workflow_id,
            run_id,
            update_ref.update_id,
        )),
    })
}

pub(super) fn wanted_stage(policy: Option<&WaitPolicy>, default: Stage) -> Stage {
    match policy.map(|p| Stage::try_from(p.lifecycle_stage)) {
        Some(Ok(Stage::Unspecified)) | Some(Err(_)) | None => default,
        Some(Ok(stage)) => stage,
    }
}

/// Waits until update `update_id` of `run_id` reaches `wait`, or the long poll runs out.
pub(super) async fn wait_for(
    svc: &Service,
    run_id: &str,
    update_id: &str,
    wait: Stage,
) -> Result<UpdateStatus> {
    let rt = &svc.runtime;
    let deadline = Instant::now() + svc.long_poll;
    let watch = rt.watchers.watch(run_id);
    loop {
        // Armed before reading, so a change between the read and the wait is not missed.
        let changed = watch.changed();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let status = rt.read(|registry| {
            registry.load(run_id);
            registry
                .run(run_id)
                .map(|exec| exec.update_status(update_id))
        })?;
        let status = match status {
            Some(UpdateStatus::Aborted) => {
                return Err(EngineError::not_found(
                    "workflow execution already completed",
                ));
            }
            Some(status) => status,
            None => {
                return Err(EngineError::not_found(format!(
                    "update {update_id} not found"
                )));
            }
        };
        if stage_of(status.clone()).0 as i32 >= wait as i32 {
            return Ok(status);
        }
        tokio::select! {
            () = &mut changed => {}
            () = tokio::time::sleep_until(deadline) => return Ok(status),
            () = rt.shutting_down() => return Ok(status),
        }
    }
}

pub(super) fn stage_of(status: UpdateStatus) -> (Stage, Option<Outcome>) {
    match status {
        UpdateStatus::Admitted | UpdateStatus::Aborted => (Stage::Admitted, None),
        UpdateStatus::Accepted => (Stage::Accepted, None),
        UpdateStatus::Completed(outcome) => (Stage::Completed, Some(*outcome)),
    }
}

pub(super) fn update_ref(workflow_id: String, run_id: String, update_id: String) -> UpdateRef {
    UpdateRef {
        workflow_execution: Some(WorkflowExecution {
            workflow_id,
            run_id,
        }),
        update_id,
    }
}
