//! Operator RPCs on a workflow's pending activities: `PauseActivity`, `UnpauseActivity`,
//! `ResetActivity`, `UpdateActivityOptions`, by activity id, type or all of them; and their
//! `...ActivityExecution` forms, which name one activity: of a workflow (with a workflow id)
//! or a standalone one (without).

use temporalio_protos::temporal::api::{
    common::v1::WorkflowExecution,
    workflowservice::v1::{
        PauseActivityExecutionRequest, PauseActivityRequest, ResetActivityExecutionRequest,
        ResetActivityRequest, UnpauseActivityExecutionRequest, UnpauseActivityRequest,
        UpdateActivityExecutionOptionsRequest, UpdateActivityExecutionOptionsResponse,
        UpdateActivityOptionsRequest, UpdateActivityOptionsResponse, pause_activity_request,
        reset_activity_request, unpause_activity_request, update_activity_options_request,
    },
};

use crate::{
    error::{EngineError, Result},
    history::{OptionsUpdate, Pause, Registry, Restart, Target, machines::standalone::Control},
    runtime::EngineRuntime,
    time::duration_ms,
};

fn workflow(execution: Option<&WorkflowExecution>) -> Result<(&str, &str)> {
    match execution {
        Some(e) if !e.workflow_id.is_empty() => Ok((&e.workflow_id, &e.run_id)),
        _ => Err(EngineError::invalid("WorkflowId is not set on request.")),
    }
}

fn no_target() -> EngineError {
    EngineError::invalid("Either Activity.Id or Activity.Type should be set on request.")
}

pub(super) async fn pause(rt: &EngineRuntime, r: PauseActivityRequest) -> Result<()> {
    let (workflow_id, run_id) = workflow(r.execution.as_ref())?;
    let target = match r.activity {
        Some(pause_activity_request::Activity::Id(id)) => Target::Id(id),
        Some(pause_activity_request::Activity::Type(kind)) => Target::Type(kind),
        None => return Err(no_target()),
    };
    rt.execute(|registry, now, _fx| {
        let run_id = registry.resolve_open(&r.namespace, workflow_id, run_id)?;
        let pause = Pause {
            time_ms: now,
            identity: r.identity.clone(),
            reason: r.reason.clone(),
            request_id: r.request_id.clone(),
        };
        registry.pause_activities(&run_id, &target, pause)
    })
    .await
}

pub(super) async fn unpause(rt: &EngineRuntime, r: UnpauseActivityRequest) -> Result<()> {
    let (workflow_id, run_id) = workflow(r.execution.as_ref())?;
    let target = match r.activity {
        Some(unpause_activity_request::Activity::Id(id)) => Target::Id(id),
        Some(unpause_activity_request::Activity::Type(kind)) => Target::Type(kind),
        Some(unpause_activity_request::Activity::UnpauseAll(true)) => Target::All,
        _ => return Err(no_target()),
    };
    let how = Restart {
        reset_attempts: r.reset_attempts,
        reset_heartbeat: r.reset_heartbeat,
        keep_paused: false,
        jitter_ms: duration_ms(r.jitter.as_ref()).unwrap_or(0),
        restore_options: false,
    };
    rt.execute(|registry, now, fx| {
        let run_id = registry.resolve_open(&r.namespace, workflow_id, run_id)?;
        registry.unpause_activities(&run_id, &target, how, now, fx)
    })
    .await
}

pub(super) async fn reset(rt: &EngineRuntime, r: ResetActivityRequest) -> Result<()> {
    let (workflow_id, run_id) = workflow(r.execution.as_ref())?;
    let target = match r.activity {
        Some(reset_activity_request::Activity::Id(id)) => Target::Id(id),
        Some(reset_activity_request::Activity::Type(kind)) => Target::Type(kind),
        Some(reset_activity_request::Activity::MatchAll(true)) => Target::All,
        _ => return Err(no_target()),
    };
    let how = Restart {
        reset_attempts: true,
        reset_heartbeat: r.reset_heartbeat,
        keep_paused: r.keep_paused,
        jitter_ms: duration_ms(r.jitter.as_ref()).unwrap_or(0),
        restore_options: r.restore_original_options,
    };
    rt.execute(|registry, now, fx| {
        let run_id = registry.resolve_open(&r.namespace, workflow_id, run_id)?;
        registry.reset_activities(&run_id, &target, how, now, fx)
    })
    .await
}

pub(super) async fn update_options(
    rt: &EngineRuntime,
    r: UpdateActivityOptionsRequest,
) -> Result<UpdateActivityOptionsResponse> {
    let (workflow_id, run_id) = workflow(r.execution.as_ref())?;
    let target = match r.activity {
        Some(update_activity_options_request::Activity::Id(id)) => Target::Id(id),
        Some(update_activity_options_request::Activity::Type(kind)) => Target::Type(kind),
        Some(update_activity_options_request::Activity::MatchAll(true)) => Target::All,
        _ => return Err(no_target()),
    };
    let update = options_update(
        r.restore_original,
        r.activity_options,
        r.update_mask.map(|m| m.paths),
    )?;
    let options = rt
        .execute(|registry, _now, fx| {
            let run_id = registry.resolve_open(&r.namespace, workflow_id, run_id)?;
            registry.update_activity_options(&run_id, &target, &update, fx)
        })
        .await?;
    Ok(UpdateActivityOptionsResponse {
        activity_options: Some(options),
    })
}

/// The change an update-options request asks for: the original options back, or the
/// masked fields of the new ones.
fn options_update(
    restore_original: bool,
    options: Option<temporalio_protos::temporal::api::activity::v1::ActivityOptions>,
    paths: Option<Vec<String>>,
) -> Result<OptionsUpdate> {
    if restore_original {
        if paths.as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(EngineError::invalid(
                "Both UpdateMask and RestoreOriginal are provided",
            ));
        }
        return Ok(OptionsUpdate::RestoreOriginal);
    }
    let options =
        options.ok_or_else(|| EngineError::invalid("ActivityOptions are not provided"))?;
    let paths = paths
        .filter(|p| !p.is_empty())
        .ok_or_else(|| EngineError::invalid("UpdateMask is not provided"))?;
    Ok(OptionsUpdate::Merge {
        options: Box::new(options),
        paths,
    })
}

/// The run an `...ActivityExecution` request names (a workflow's, or a standalone
/// activity's hidden run, checked for `control`) and its activity.
fn execution_target(
    registry: &mut Registry,
    namespace: &str,
    workflow_id: &str,
    activity_id: &str,
    run_id: &str,
    control: Control,
) -> Result<(String, Target)> {
    if workflow_id.is_empty() {
        let run_id = registry.resolve_standalone(namespace, activity_id, run_id)?;
        registry.check_standalone_control(&run_id, control)?;
        return Ok((run_id, Target::Id(activity_id.to_owned())));
    }
    if activity_id.is_empty() {
        return Err(EngineError::invalid("activity ID is required"));
    }
    let run_id = registry.resolve_open(namespace, workflow_id, run_id)?;
    Ok((run_id, Target::Id(activity_id.to_owned())))
}

pub(super) async fn pause_execution(
    rt: &EngineRuntime,
    r: PauseActivityExecutionRequest,
) -> Result<()> {
    rt.execute(|registry, now, _fx| {
        let (run_id, target) = execution_target(
            registry,
            &r.namespace,
            &r.workflow_id,
            &r.activity_id,
            &r.run_id,
            Control::Pause,
        )?;
        let pause = Pause {
            time_ms: now,
            identity: r.identity.clone(),
            reason: r.reason.clone(),
            request_id: r.request_id.clone(),
        };
        registry.pause_activities(&run_id, &target, pause)
    })
    .await
}

pub(super) async fn unpause_execution(
    rt: &EngineRuntime,
    r: UnpauseActivityExecutionRequest,
) -> Result<()> {
    let how = Restart {
        reset_attempts: false,
        reset_heartbeat: false,
        keep_paused: false,
        jitter_ms: duration_ms(r.jitter.as_ref()).unwrap_or(0),
        restore_options: false,
    };
    rt.execute(|registry, now, fx| {
        let (run_id, target) = execution_target(
            registry,
            &r.namespace,
            &r.workflow_id,
            &r.activity_id,
            &r.run_id,
            Control::Unpause,
        )?;
        registry.unpause_activities(&run_id, &target, how, now, fx)
    })
    .await
}

pub(super) async fn reset_execution(
    rt: &EngineRuntime,
    r: ResetActivityExecutionRequest,
) -> Result<()> {
    let how = Restart {
        reset_attempts: true,
        reset_heartbeat: r.reset_heartbeat,
        keep_paused: r.keep_paused,
        jitter_ms: duration_ms(r.jitter.as_ref()).unwrap_or(0),
        restore_options: r.restore_original_options,
    };
    rt.execute(|registry, now, fx| {
        let (run_id, target) = execution_target(
            registry,
            &r.namespace,
            &r.workflow_id,
            &r.activity_id,
            &r.run_id,
            Control::Reset,
        )?;
        registry.reset_activities(&run_id, &target, how, now, fx)
    })
    .await
}

pub(super) async fn update_execution_options(
    rt: &EngineRuntime,
    r: UpdateActivityExecutionOptionsRequest,
) -> Result<UpdateActivityExecutionOptionsResponse> {
    let update = options_update(
        r.restore_original,
        r.activity_options.clone(),
        r.update_mask.clone().map(|m| m.paths),
    )?;
    let options = rt
        .execute(|registry, _now, fx| {
            let (run_id, target) = execution_target(
                registry,
                &r.namespace,
                &r.workflow_id,
                &r.activity_id,
                &r.run_id,
                Control::UpdateOptions,
            )?;
            registry.update_activity_options(&run_id, &target, &update, fx)
        })
        .await?;
    Ok(UpdateActivityExecutionOptionsResponse {
        activity_options: Some(options),
    })
}
