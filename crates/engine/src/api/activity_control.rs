//! Operator RPCs on a workflow's pending activities: `PauseActivity`, `UnpauseActivity`,
//! `ResetActivity`, `UpdateActivityOptions`, by activity id, type or all of them.

use temporalio_protos::temporal::api::{
    common::v1::WorkflowExecution,
    workflowservice::v1::{
        PauseActivityRequest, ResetActivityRequest, UnpauseActivityRequest,
        UpdateActivityOptionsRequest, UpdateActivityOptionsResponse, pause_activity_request,
        reset_activity_request, unpause_activity_request, update_activity_options_request,
    },
};

use crate::{
    error::{EngineError, Result},
    history::{OptionsUpdate, Pause, Restart, Target},
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
    let paths = r.update_mask.map(|m| m.paths);
    let update = if r.restore_original {
        if paths.as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(EngineError::invalid(
                "Both UpdateMask and RestoreOriginal are provided",
            ));
        }
        OptionsUpdate::RestoreOriginal
    } else {
        let options = r
            .activity_options
            .ok_or_else(|| EngineError::invalid("ActivityOptions are not provided"))?;
        let paths = paths.ok_or_else(|| EngineError::invalid("UpdateMask is not provided"))?;
        OptionsUpdate::Merge {
            options: Box::new(options),
            paths,
        }
    };
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
