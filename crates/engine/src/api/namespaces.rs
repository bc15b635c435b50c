//! System and namespace RPCs: what the client checks when it connects and what a worker
//! validates before it polls.

use temporalio_protos::temporal::api::{
    enums::v1::{NamespaceState, ReplicationState},
    namespace::v1::{NamespaceConfig, NamespaceInfo, namespace_info},
    replication::v1::{ClusterReplicationConfig, NamespaceReplicationConfig},
    workflowservice::v1::{
        DeprecateNamespaceRequest, DescribeNamespaceRequest, DescribeNamespaceResponse,
        GetSystemInfoResponse, ListNamespacesRequest, ListNamespacesResponse,
        RegisterNamespaceRequest, get_system_info_response::Capabilities,
    },
};

use crate::{
    error::Result,
    history::{Limits, NamespaceRecord},
    runtime::EngineRuntime,
    time::duration,
};

/// The one cluster this engine is.
const CLUSTER_NAME: &str = "active";

/// The Temporal server version this engine answers as.
pub(super) const SERVER_VERSION: &str = "1.29.0";

pub(super) fn get_system_info() -> GetSystemInfoResponse {
    GetSystemInfoResponse {
        server_version: SERVER_VERSION.to_owned(),
        capabilities: Some(Capabilities {
            signal_and_query_header: true,
            internal_error_differentiation: true,
            activity_failure_include_heartbeat: true,
            supports_schedules: true,
            encoded_failure_attributes: true,
            build_id_based_versioning: false,
            upsert_memo: true,
            eager_workflow_start: false,
            sdk_metadata: true,
            count_group_by_execution_status: true,
            nexus: false,
            ..Default::default()
        }),
    }
}

pub(super) fn describe_namespace(
    rt: &EngineRuntime,
    request: &DescribeNamespaceRequest,
) -> Result<DescribeNamespaceResponse> {
    rt.read(|registry| {
        let record = if request.namespace.is_empty() && !request.id.is_empty() {
            registry
                .namespaces
                .values()
                .find(|n| n.id == request.id)
                .ok_or_else(|| {
                    crate::error::EngineError::not_found(format!(
                        "Namespace {} is not found.",
                        request.id
                    ))
                })?
        } else {
            registry.namespace(&request.namespace)?
        };
        Ok(describe(record, &registry.limits))
    })
}

pub(super) fn list_namespaces(
    rt: &EngineRuntime,
    _request: &ListNamespacesRequest,
) -> ListNamespacesResponse {
    rt.read(|registry| ListNamespacesResponse {
        namespaces: registry
            .namespaces
            .values()
            .map(|n| describe(n, &registry.limits))
            .collect(),
        next_page_token: Vec::new(),
    })
}

pub(super) async fn register_namespace(
    rt: &EngineRuntime,
    min_retention: std::time::Duration,
    request: RegisterNamespaceRequest,
) -> Result<()> {
    // Checked first: the real server refuses a short retention before it looks at the name.
    let retention = super::retention::retention_ms(
        request.workflow_execution_retention_period.as_ref(),
        min_retention,
    )?;
    let mut record = NamespaceRecord::new(&request.namespace);
    record.description = request.description;
    record.owner_email = request.owner_email;
    record.data = request.data.into_iter().collect();
    if let Some(ms) = retention {
        record.set_retention_ms(ms);
    }
    rt.execute(|registry, _, _| registry.register_namespace(record))
        .await
}

/// Deprecates a namespace: its runs carry on, new workflows are refused (`StartWorkflow`,
/// `SignalWithStartWorkflow`), as on the real server.
pub(super) async fn deprecate_namespace(
    rt: &EngineRuntime,
    r: &DeprecateNamespaceRequest,
) -> Result<()> {
    rt.execute(|registry, _, _| registry.deprecate_namespace(&r.namespace))
        .await?;
    tracing::info!(namespace = %r.namespace, "namespace deprecated");
    Ok(())
}

/// The real server's `history.workflowTaskCompletionBufferSizeLimit` default, which it
/// reports with the other limits.
const COMPLETION_SIZE_LIMIT: i64 = 40 * 1024 * 1024;

/// A namespace as the real server describes it, with the limits that SDKs enforce on
/// their side too.
pub(super) fn describe(record: &NamespaceRecord, limits: &Limits) -> DescribeNamespaceResponse {
    DescribeNamespaceResponse {
        namespace_info: Some(NamespaceInfo {
            name: record.name.clone(),
            state: if record.deprecated {
                NamespaceState::Deprecated as i32
            } else {
                NamespaceState::Registered as i32
            },
            description: record.description.clone(),
            owner_email: record.owner_email.clone(),
            data: record
                .data
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            id: record.id.clone(),
            capabilities: Some(namespace_info::Capabilities {
                eager_workflow_start: false,
                sync_update: false,
                async_update: false,
                worker_heartbeats: true,
                poller_autoscaling: false,
                worker_poll_complete_on_shutdown: false,
                ..Default::default()
            }),
            supports_schedules: true,
            limits: Some(namespace_info::Limits {
                blob_size_limit_error: i64::try_from(limits.blob_size_error).unwrap_or(i64::MAX),
                memo_size_limit_error: i64::try_from(limits.memo_size_error).unwrap_or(i64::MAX),
                workflow_task_completion_size_limit_error: COMPLETION_SIZE_LIMIT,
            }),
        }),
        config: Some(NamespaceConfig {
            workflow_execution_retention_ttl: Some(duration(record.retention_ms())),
            ..Default::default()
        }),
        // The CLI dereferences this unconditionally; a single-cluster answer like the
        // Temporal dev server's.
        replication_config: Some(NamespaceReplicationConfig {
            active_cluster_name: CLUSTER_NAME.to_owned(),
            clusters: vec![ClusterReplicationConfig {
                cluster_name: CLUSTER_NAME.to_owned(),
                ..Default::default()
            }],
            state: ReplicationState::Normal as i32,
        }),
        ..Default::default()
    }
}
