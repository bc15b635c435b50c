//! Nexus RPCs: the `OperatorService` endpoint registry (create, get, list, update,
//! delete); and the handler worker's long poll for Nexus tasks and its answers. (The
//! standalone Nexus operation and activity RPCs are refused through `rpcs`.)

use temporalio_protos::temporal::api::{
    operatorservice::v1::{
        CreateNexusEndpointRequest, CreateNexusEndpointResponse, DeleteNexusEndpointRequest,
        GetNexusEndpointRequest, GetNexusEndpointResponse, ListNexusEndpointsRequest,
        ListNexusEndpointsResponse, UpdateNexusEndpointRequest, UpdateNexusEndpointResponse,
    },
    workflowservice::v1::{
        PollNexusTaskQueueRequest, PollNexusTaskQueueResponse, RespondNexusTaskCompletedRequest,
        RespondNexusTaskFailedRequest,
    },
};
use tokio::time::Instant;

use super::{Service, deployments};
use crate::{
    error::{EngineError, Result},
    history::{QueueKind, Task, nexus_task_failure},
    matching::QueueKey,
    runtime::EngineRuntime,
};

/// `PollNexusTaskQueue`: the next start or cancel request for the queue's handlers, or an
/// empty answer after the long poll.
pub(super) async fn poll(
    svc: &Service,
    r: PollNexusTaskQueueRequest,
) -> Result<PollNexusTaskQueueResponse> {
    let rt = &svc.runtime;
    rt.read(|registry| registry.namespace(&r.namespace).map(|_| ()))?;
    let name = r
        .task_queue
        .as_ref()
        .map(|q| q.name.as_str())
        .filter(|q| !q.is_empty())
        .ok_or_else(|| EngineError::invalid("TaskQueue is not set on request."))?;
    let key = QueueKey {
        namespace: r.namespace.clone(),
        name: name.to_owned(),
        kind: QueueKind::Nexus,
    };
    let worker = deployments::poller(rt, &key, r.deployment_options.as_ref(), false);
    let deadline = Instant::now() + svc.long_poll;
    loop {
        let Some(task) = rt
            .matching
            .poll(&key, &worker, deadline, rt.shutting_down())
            .await
        else {
            return Ok(PollNexusTaskQueueResponse::default());
        };
        let Task::Nexus {
            run_id,
            scheduled_event_id,
            attempt,
            cancel,
        } = task
        else {
            continue;
        };
        let task = (run_id, scheduled_event_id, attempt, cancel);
        let started = rt.execute_unacknowledged(|registry, now, fx| {
            Ok(registry.start_nexus_task(task, now, fx))
        })?;
        if let Some(response) = started {
            return Ok(response);
        }
    }
}

/// `RespondNexusTaskCompleted`: a sync result, an async start, an operation error, or a
/// delivered cancel request.
pub(super) async fn respond_completed(
    rt: &EngineRuntime,
    r: RespondNexusTaskCompletedRequest,
) -> Result<()> {
    rt.execute(|registry, now, fx| registry.complete_nexus_task(&r.task_token, r.response, now, fx))
        .await
}

/// `RespondNexusTaskFailed`: a handler error, retried unless it is not retryable.
pub(super) async fn respond_failed(
    rt: &EngineRuntime,
    r: RespondNexusTaskFailedRequest,
) -> Result<()> {
    #[allow(deprecated)]
    let failure = nexus_task_failure(r.failure, r.error.as_ref());
    rt.execute(|registry, now, fx| registry.fail_nexus_task(&r.task_token, failure, now, fx))
        .await
}

/// The names of the namespaces, for an endpoint's target to be checked against while the
/// endpoints are changed.
fn namespace_names(registry: &crate::history::Registry) -> std::collections::HashSet<String> {
    registry.namespaces().keys().cloned().collect()
}

pub(super) async fn create_endpoint(
    rt: &EngineRuntime,
    request: CreateNexusEndpointRequest,
) -> Result<CreateNexusEndpointResponse> {
    let id = uuid::Uuid::new_v4().to_string();
    let endpoint = rt
        .execute(|registry, now, _| {
            let namespaces = namespace_names(registry);
            Ok(registry.nexus_endpoints.create(
                request.spec.as_ref(),
                |name| namespaces.contains(name),
                id,
                now,
            )?)
        })
        .await?;
    Ok(CreateNexusEndpointResponse {
        endpoint: Some(endpoint),
    })
}

pub(super) async fn update_endpoint(
    rt: &EngineRuntime,
    request: UpdateNexusEndpointRequest,
) -> Result<UpdateNexusEndpointResponse> {
    let endpoint = rt
        .execute(|registry, now, _| {
            let namespaces = namespace_names(registry);
            Ok(registry.nexus_endpoints.update(
                &request.id,
                request.version,
                request.spec.as_ref(),
                |name| namespaces.contains(name),
                now,
            )?)
        })
        .await?;
    Ok(UpdateNexusEndpointResponse {
        endpoint: Some(endpoint),
    })
}

pub(super) async fn delete_endpoint(
    rt: &EngineRuntime,
    request: DeleteNexusEndpointRequest,
) -> Result<()> {
    rt.execute(|registry, _, _| {
        Ok(registry
            .nexus_endpoints
            .delete(&request.id, request.version)?)
    })
    .await
}

pub(super) fn get_endpoint(
    rt: &EngineRuntime,
    request: &GetNexusEndpointRequest,
) -> Result<GetNexusEndpointResponse> {
    let endpoint = rt.read(|registry| registry.nexus_endpoints.get(&request.id))?;
    Ok(GetNexusEndpointResponse {
        endpoint: Some(endpoint),
    })
}

pub(super) fn list_endpoints(
    rt: &EngineRuntime,
    request: &ListNexusEndpointsRequest,
) -> Result<ListNexusEndpointsResponse> {
    let (endpoints, next_page_token) = rt.read(|registry| {
        registry
            .nexus_endpoints
            .list(request.page_size, &request.next_page_token, &request.name)
    })?;
    Ok(ListNexusEndpointsResponse {
        next_page_token,
        endpoints,
    })
}
