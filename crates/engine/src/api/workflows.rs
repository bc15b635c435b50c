//! Client RPCs that start or change workflows: start, signal-with-start, signal, request
//! cancellation, terminate, reset, update options.

use temporalio_protos::temporal::api::{
    common::v1::WorkflowExecution,
    enums::v1::WorkflowExecutionStatus,
    workflowservice::v1::{
        RequestCancelWorkflowExecutionRequest, ResetWorkflowExecutionRequest,
        ResetWorkflowExecutionResponse, SignalWithStartWorkflowExecutionRequest,
        SignalWithStartWorkflowExecutionResponse, SignalWorkflowExecutionRequest,
        StartWorkflowExecutionRequest, StartWorkflowExecutionResponse,
        TerminateWorkflowExecutionRequest, UnpauseWorkflowExecutionRequest,
        UpdateWorkflowExecutionOptionsRequest, UpdateWorkflowExecutionOptionsResponse,
    },
};

use super::deployments;
use crate::{
    error::{EngineError, Result},
    history::{
        ExecutionOptionsUpdate, NewRun, ResetRequest, Signal, completion_callbacks,
        lifecycle::versioning::{Override, RunVersioning},
    },
    runtime::EngineRuntime,
};

fn execution(e: Option<&WorkflowExecution>) -> Result<(&str, &str)> {
    let e = e.ok_or_else(|| EngineError::invalid("WorkflowExecution is not set on request."))?;
    if e.workflow_id.is_empty() {
        return Err(EngineError::invalid("WorkflowId is not set on request."));
    }
    Ok((&e.workflow_id, &e.run_id))
}

/// The run a start request asks for: the one place a request becomes a [`NewRun`].
pub(super) fn new_run(r: StartWorkflowExecutionRequest) -> Result<NewRun> {
    let override_ = match r.versioning_override.as_ref() {
        Some(o) => Override::from_proto(o).map_err(EngineError::invalid)?,
        None => None,
    };
    Ok(NewRun {
        namespace: r.namespace,
        workflow_id: r.workflow_id,
        workflow_type: r.workflow_type.map(|t| t.name).unwrap_or_default(),
        task_queue: r.task_queue.map(|q| q.name).unwrap_or_default(),
        input: r.input,
        execution_timeout: r.workflow_execution_timeout,
        run_timeout: r.workflow_run_timeout,
        workflow_task_timeout: r.workflow_task_timeout,
        identity: r.identity,
        request_id: r.request_id,
        header: r.header,
        memo: r.memo,
        search_attributes: r.search_attributes,
        retry_policy: r.retry_policy,
        cron_schedule: r.cron_schedule,
        reuse_policy: r.workflow_id_reuse_policy,
        conflict_policy: r.workflow_id_conflict_policy,
        last_completion_result: r.last_completion_result,
        continued_failure: r.continued_failure,
        start_delay: r.workflow_start_delay,
        user_metadata: r.user_metadata,
        priority: r.priority,
        completion_callbacks: completion_callbacks(&r.completion_callbacks),
        versioning: RunVersioning {
            override_,
            ..Default::default()
        },
        ..Default::default()
    })
}

/// Refuses a start pinned to a version that does not poll its queue.
pub(super) fn check_pinned(rt: &EngineRuntime, spec: &NewRun) -> Result<()> {
    let pinned = spec.versioning.override_.as_ref();
    deployments::check_pinned(rt, &spec.namespace, &spec.task_queue, pinned)
}

/// Splits a signal-with-start into the start it implies and the signal, as the real server
/// does.
fn split_signal_with_start(
    r: SignalWithStartWorkflowExecutionRequest,
) -> (StartWorkflowExecutionRequest, Signal) {
    let signal = Signal {
        name: r.signal_name,
        input: r.signal_input,
        identity: r.identity.clone(),
        header: r.header.clone(),
        request_id: r.request_id.clone(),
    };
    let start = StartWorkflowExecutionRequest {
        namespace: r.namespace,
        workflow_id: r.workflow_id,
        workflow_type: r.workflow_type,
        task_queue: r.task_queue,
        input: r.input,
        workflow_execution_timeout: r.workflow_execution_timeout,
        workflow_run_timeout: r.workflow_run_timeout,
        workflow_task_timeout: r.workflow_task_timeout,
        identity: r.identity,
        request_id: r.request_id,
        workflow_id_reuse_policy: r.workflow_id_reuse_policy,
        workflow_id_conflict_policy: r.workflow_id_conflict_policy,
        retry_policy: r.retry_policy,
        cron_schedule: r.cron_schedule,
        memo: r.memo,
        search_attributes: r.search_attributes,
        header: r.header,
        workflow_start_delay: r.workflow_start_delay,
        user_metadata: r.user_metadata,
        priority: r.priority,
        versioning_override: r.versioning_override,
        ..Default::default()
    };
    (start, signal)
}

/// Refuses a start in a namespace that is deprecated, first, as the real server's
/// namespace check does.
fn registered(rt: &EngineRuntime, namespace: &str) -> Result<()> {
    rt.read(|registry| registry.registered_namespace(namespace).map(|_| ()))
}

pub(super) async fn start(
    rt: &EngineRuntime,
    r: StartWorkflowExecutionRequest,
) -> Result<StartWorkflowExecutionResponse> {
    registered(rt, &r.namespace)?;
    let eager = r.request_eager_execution;
    let spec = NewRun {
        request_eager_execution: eager,
        ..new_run(r)?
    };
    check_pinned(rt, &spec)?;
    let started = rt
        .execute(|registry, now, fx| {
            registry.limits.check_new_run(&spec)?;
            registry.start_workflow(spec, now, fx)
        })
        .await?;
    Ok(StartWorkflowExecutionResponse {
        run_id: started.run_id,
        started: started.created,
        status: WorkflowExecutionStatus::Running as i32,
        eager_workflow_task: started.eager_workflow_task,
        ..Default::default()
    })
}

pub(super) async fn signal_with_start(
    rt: &EngineRuntime,
    r: SignalWithStartWorkflowExecutionRequest,
) -> Result<SignalWithStartWorkflowExecutionResponse> {
    registered(rt, &r.namespace)?;
    let (start, signal) = split_signal_with_start(r);
    let spec = new_run(start)?;
    check_pinned(rt, &spec)?;
    let started = rt
        .execute(|registry, now, fx| {
            registry.limits.check_new_run(&spec)?;
            registry.limits.check_blob(signal.input.as_ref())?;
            registry.signal_with_start(spec, signal, now, fx)
        })
        .await?;
    Ok(SignalWithStartWorkflowExecutionResponse {
        run_id: started.run_id,
        started: started.created,
        ..Default::default()
    })
}

pub(super) async fn signal(rt: &EngineRuntime, r: SignalWorkflowExecutionRequest) -> Result<()> {
    let (workflow_id, run_id) = execution(r.workflow_execution.as_ref())?;
    let (workflow_id, run_id) = (workflow_id.to_owned(), run_id.to_owned());
    if r.signal_name.is_empty() {
        return Err(EngineError::invalid("SignalName is not set on request."));
    }
    let signal = Signal {
        name: r.signal_name,
        input: r.input,
        identity: r.identity,
        header: r.header,
        request_id: r.request_id,
    };
    rt.execute(|registry, now, fx| {
        registry.limits.check_blob(signal.input.as_ref())?;
        let run_id = registry.resolve_open(&r.namespace, &workflow_id, &run_id)?;
        registry.signal(&run_id, signal, now, fx)
    })
    .await
}

pub(super) async fn request_cancel(
    rt: &EngineRuntime,
    r: RequestCancelWorkflowExecutionRequest,
) -> Result<()> {
    let (workflow_id, run_id) = execution(r.workflow_execution.as_ref())?;
    rt.execute(|registry, now, fx| {
        let run_id = registry.resolve(&r.namespace, workflow_id, run_id)?;
        // As on the real server, asking to cancel a run that has closed succeeds and
        // changes nothing (terminate and signal are refused).
        if !registry.run(&run_id)?.is_open() {
            return Ok(());
        }
        registry.request_cancel(&run_id, &r.reason, &r.identity, now, fx)
    })
    .await
}

pub(super) async fn terminate(
    rt: &EngineRuntime,
    r: TerminateWorkflowExecutionRequest,
) -> Result<()> {
    let (workflow_id, run_id) = execution(r.workflow_execution.as_ref())?;
    rt.execute(|registry, now, fx| {
        let run_id = registry.resolve_open(&r.namespace, workflow_id, run_id)?;
        registry.terminate(&run_id, &r.reason, r.details.clone(), &r.identity, now, fx)
    })
    .await
}

/// `UpdateWorkflowExecutionOptions`: only the versioning override is an option here.
pub(super) async fn update_options(
    rt: &EngineRuntime,
    r: UpdateWorkflowExecutionOptionsRequest,
) -> Result<UpdateWorkflowExecutionOptionsResponse> {
    let (workflow_id, run_id) = execution(r.workflow_execution.as_ref())?;
    let paths = r
        .update_mask
        .as_ref()
        .map(|m| m.paths.clone())
        .unwrap_or_default();
    let mut update = ExecutionOptionsUpdate {
        identity: r.identity.clone(),
        ..Default::default()
    };
    for path in &paths {
        match path.as_str() {
            "versioning_override" | "versioningOverride" => {
                let asked = r
                    .workflow_execution_options
                    .as_ref()
                    .and_then(|o| o.versioning_override.as_ref());
                let parsed = match asked {
                    Some(o) => Override::from_proto(o).map_err(EngineError::invalid)?,
                    None => None,
                };
                update.versioning_override = Some(parsed);
            }
            other => {
                return Err(EngineError::invalid(format!(
                    "error parsing UpdateMask: path \"{other}\" is not supported here (only \"versioning_override\")"
                )));
            }
        }
    }
    let (workflow_id, run_id) = (workflow_id.to_owned(), run_id.to_owned());
    if let Some(Some(pinned)) = &update.versioning_override {
        let queue = rt.read(|registry| {
            let run_id = registry.resolve_open(&r.namespace, &workflow_id, &run_id)?;
            Ok::<_, EngineError>(registry.run(&run_id)?.task_queue().to_owned())
        })?;
        deployments::check_pinned(rt, &r.namespace, &queue, Some(pinned))?;
    }
    let options = rt
        .execute(|registry, now, fx| {
            let run_id = registry.resolve_open(&r.namespace, &workflow_id, &run_id)?;
            registry.update_execution_options(&run_id, update, now, fx)
        })
        .await?;
    Ok(UpdateWorkflowExecutionOptionsResponse {
        workflow_execution_options: Some(options),
        ..Default::default()
    })
}

pub(super) async fn reset(
    rt: &EngineRuntime,
    r: ResetWorkflowExecutionRequest,
) -> Result<ResetWorkflowExecutionResponse> {
    let (workflow_id, run_id) = execution(r.workflow_execution.as_ref())?;
    // Deprecated in favour of `reset_reapply_exclude_types`, but the SDKs and the CLI still
    // send it, and the real server still honours it.
    #[allow(deprecated)]
    let request = ResetRequest {
        namespace: r.namespace.clone(),
        workflow_id: workflow_id.to_owned(),
        run_id: run_id.to_owned(),
        reason: r.reason.clone(),
        workflow_task_finish_event_id: r.workflow_task_finish_event_id,
        reapply_type: r.reset_reapply_type,
        reapply_exclude_types: r.reset_reapply_exclude_types.clone(),
    };
    let run_id = rt
        .execute(|registry, now, fx| registry.reset_workflow(request, now, fx))
        .await?;
    Ok(ResetWorkflowExecutionResponse { run_id })
}

/// `UnpauseWorkflowExecution`: pausing is off (as in the dev server), so no run is ever
/// paused and an existing run is refused as the dev server refuses a run that is not.
pub(super) fn unpause(rt: &EngineRuntime, r: &UnpauseWorkflowExecutionRequest) -> Result<()> {
    rt.read(|registry| {
        registry.namespace(&r.namespace)?;
        if r.workflow_id.is_empty() {
            return Err(EngineError::invalid(
                "Can't load workflow execution.  WorkflowId not set.",
            ));
        }
        registry.resolve(&r.namespace, &r.workflow_id, &r.run_id)?;
        Err(EngineError::FailedPrecondition(
            "workflow is not paused.".to_owned(),
        ))
    })
}
