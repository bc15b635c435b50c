//! Nexus RPCs: the `OperatorService` endpoint registry (create, get, list, update, delete),
//! and the standalone Nexus operation RPCs, refused as the dev server refuses them.

use temporalio_protos::temporal::api::operatorservice::v1::{
    CreateNexusEndpointRequest, CreateNexusEndpointResponse, DeleteNexusEndpointRequest,
    GetNexusEndpointRequest, GetNexusEndpointResponse, ListNexusEndpointsRequest,
    ListNexusEndpointsResponse, UpdateNexusEndpointRequest, UpdateNexusEndpointResponse,
};
use tonic::Status;

use crate::{error::Result, runtime::EngineRuntime};

pub(super) async fn create_endpoint(
    rt: &EngineRuntime,
    request: CreateNexusEndpointRequest,
) -> Result<CreateNexusEndpointResponse> {
    let id = uuid::Uuid::new_v4().to_string();
    let endpoint = rt
        .execute(|registry, now, _| {
            let namespaces = &registry.namespaces;
            Ok(registry.nexus_endpoints.create(
                request.spec.as_ref(),
                |name| namespaces.contains_key(name),
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
            let namespaces = &registry.namespaces;
            Ok(registry.nexus_endpoints.update(
                &request.id,
                request.version,
                request.spec.as_ref(),
                |name| namespaces.contains_key(name),
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

/// The dev server's answer to every standalone Nexus operation RPC (its
/// `nexusoperation.enableStandalone` is off by default).
pub(super) fn standalone_disabled() -> Status {
    Status::unimplemented("Standalone Nexus operation is disabled")
}
