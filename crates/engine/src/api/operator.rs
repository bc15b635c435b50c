//! `OperatorService`: registering, listing and removing a namespace's custom search
//! attributes. Nexus endpoints are `nexus.rs`; the other operator RPCs (clusters, namespace
//! deletion) answer `UNIMPLEMENTED`.

use temporalio_protos::temporal::api::operatorservice::v1::{
    AddSearchAttributesRequest, ListSearchAttributesRequest, ListSearchAttributesResponse,
    RemoveSearchAttributesRequest,
};

use crate::{error::Result, history::rules::search_attributes::SYSTEM, runtime::EngineRuntime};

pub(super) async fn add_search_attributes(
    rt: &EngineRuntime,
    request: AddSearchAttributesRequest,
) -> Result<()> {
    rt.execute(|registry, _, _| {
        registry.add_search_attributes(&request.namespace, &request.search_attributes)
    })
    .await
}

pub(super) async fn remove_search_attributes(
    rt: &EngineRuntime,
    request: RemoveSearchAttributesRequest,
) -> Result<()> {
    rt.execute(|registry, _, _| {
        registry.remove_search_attributes(&request.namespace, &request.search_attributes)
    })
    .await
}

pub(super) fn list_search_attributes(
    rt: &EngineRuntime,
    request: &ListSearchAttributesRequest,
) -> Result<ListSearchAttributesResponse> {
    rt.read(|registry| {
        let record = registry.namespace(&request.namespace)?;
        Ok(ListSearchAttributesResponse {
            custom_attributes: record
                .search_attributes
                .iter()
                .map(|(name, ty)| (name.clone(), *ty))
                .collect(),
            system_attributes: SYSTEM
                .iter()
                .map(|(name, ty)| ((*name).to_owned(), *ty as i32))
                .collect(),
            storage_schema: Default::default(),
        })
    })
}
