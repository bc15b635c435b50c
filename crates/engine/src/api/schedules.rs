//! Schedule RPCs: create, describe, update, patch (trigger, backfill, pause), list,
//! delete and the times a schedule matches. The operations are `schedule/runs.rs`.

use temporalio_protos::temporal::api::workflowservice::v1::{
    CreateScheduleRequest, CreateScheduleResponse, DeleteScheduleRequest, DescribeScheduleRequest,
    DescribeScheduleResponse, ListScheduleMatchingTimesRequest, ListScheduleMatchingTimesResponse,
    ListSchedulesRequest, ListSchedulesResponse, PatchScheduleRequest, UpdateScheduleRequest,
};

use crate::{error::Result, runtime::EngineRuntime, visibility::ScheduleFilter};

pub(super) async fn create(
    runtime: &EngineRuntime,
    request: CreateScheduleRequest,
) -> Result<CreateScheduleResponse> {
    let conflict_token = runtime
        .execute(|registry, now, fx| registry.create_schedule(request, now, fx))
        .await?;
    Ok(CreateScheduleResponse { conflict_token })
}

pub(super) fn describe(
    runtime: &EngineRuntime,
    request: &DescribeScheduleRequest,
) -> Result<DescribeScheduleResponse> {
    let now = runtime.clock.now_ms();
    runtime
        .read(|registry| registry.describe_schedule(&request.namespace, &request.schedule_id, now))
}

pub(super) async fn update(runtime: &EngineRuntime, request: UpdateScheduleRequest) -> Result<()> {
    runtime
        .execute(|registry, now, fx| registry.update_schedule(request, now, fx))
        .await
}

pub(super) async fn patch(runtime: &EngineRuntime, request: PatchScheduleRequest) -> Result<()> {
    runtime
        .execute(|registry, now, fx| {
            let patch = request.patch.unwrap_or_default();
            registry.patch_schedule(&request.namespace, &request.schedule_id, patch, now, fx)
        })
        .await
}

pub(super) async fn delete(runtime: &EngineRuntime, request: DeleteScheduleRequest) -> Result<()> {
    runtime
        .execute(|registry, _, _| {
            registry.delete_schedule(&request.namespace, &request.schedule_id)
        })
        .await
}

pub(super) fn list(
    runtime: &EngineRuntime,
    request: &ListSchedulesRequest,
) -> Result<ListSchedulesResponse> {
    let now = runtime.clock.now_ms();
    runtime.read(|registry| {
        let custom = &registry.namespace(&request.namespace)?.search_attributes;
        let filter = ScheduleFilter::parse(&request.query, custom)?;
        registry.list_schedules(request, now, &|id, paused, attributes| {
            filter.matches(id, paused, attributes)
        })
    })
}

pub(super) fn matching_times(
    runtime: &EngineRuntime,
    request: &ListScheduleMatchingTimesRequest,
) -> Result<ListScheduleMatchingTimesResponse> {
    runtime.read(|registry| registry.schedule_matching_times(request))
}
