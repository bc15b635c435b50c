//! What the deployment RPCs show: the registry's records as the real server's protos.

use temporalio_protos::temporal::api::{
    deployment::v1::{
        RoutingConfig, VersionMetadata, WorkerDeploymentInfo, WorkerDeploymentVersionInfo,
        worker_deployment_info::WorkerDeploymentVersionSummary,
        worker_deployment_version_info::VersionTaskQueueInfo,
    },
    enums::v1::WorkerDeploymentVersionStatus as Status,
    workflowservice::v1::list_worker_deployments_response::WorkerDeploymentSummary,
};

use super::{UNVERSIONED, Version, registry::Deployment, registry::VersionRecord};
use crate::time::timestamp;

fn status(d: &Deployment, build_id: &str, v: &VersionRecord) -> Status {
    if d.routing.current.as_deref() == Some(build_id) {
        Status::Current
    } else if d
        .routing
        .ramping
        .as_ref()
        .is_some_and(|(b, _)| b == build_id)
    {
        Status::Ramping
    } else if v.first_activation_ms.is_some() {
        Status::Draining
    } else if v.created {
        Status::Created
    } else {
        Status::Inactive
    }
}

#[allow(deprecated)]
pub(crate) fn routing_config(name: &str, d: &Deployment) -> RoutingConfig {
    let current = d.routing.current.as_deref().map(|b| Version::new(name, b));
    let ramping = d
        .routing
        .ramping
        .as_ref()
        .map(|(b, p)| (Version::new(name, b), *p));
    RoutingConfig {
        current_deployment_version: current.as_ref().map(Version::to_proto),
        current_version: current
            .as_ref()
            .map_or_else(|| UNVERSIONED.to_owned(), Version::canonical),
        ramping_deployment_version: ramping.as_ref().map(|(v, _)| v.to_proto()),
        ramping_version: ramping
            .as_ref()
            .map(|(v, _)| v.canonical())
            .unwrap_or_default(),
        ramping_version_percentage: ramping.as_ref().map_or(0.0, |(_, p)| *p),
        current_version_changed_time: d.current_changed_ms.map(timestamp),
        ramping_version_changed_time: d.ramping_changed_ms.map(timestamp),
        ramping_version_percentage_changed_time: d.ramping_percentage_changed_ms.map(timestamp),
        revision_number: d.revision,
    }
}

#[allow(deprecated)]
fn summary(
    name: &str,
    d: &Deployment,
    build_id: &str,
    v: &VersionRecord,
) -> WorkerDeploymentVersionSummary {
    let version = Version::new(name, build_id);
    WorkerDeploymentVersionSummary {
        version: version.canonical(),
        status: status(d, build_id, v) as i32,
        deployment_version: Some(version.to_proto()),
        create_time: Some(timestamp(v.create_time_ms)),
        current_since_time: v.current_since_ms.map(timestamp),
        ramping_since_time: v.ramping_since_ms.map(timestamp),
        routing_update_time: v.routing_update_ms.map(timestamp),
        first_activation_time: v.first_activation_ms.map(timestamp),
        last_current_time: v.last_current_ms.map(timestamp),
        last_deactivation_time: v.last_deactivation_ms.map(timestamp),
        ..Default::default()
    }
}

/// `DescribeWorkerDeployment`'s info.
pub(crate) fn deployment_info(name: &str, d: &Deployment) -> WorkerDeploymentInfo {
    WorkerDeploymentInfo {
        name: name.to_owned(),
        version_summaries: d
            .versions
            .iter()
            .map(|(b, v)| summary(name, d, b, v))
            .collect(),
        create_time: Some(timestamp(d.create_time_ms)),
        routing_config: Some(routing_config(name, d)),
        last_modifier_identity: d.last_modifier_identity.clone(),
        manager_identity: d.manager_identity.clone(),
        // Routing applies at once here: there is nothing to propagate.
        routing_config_update_state:
            temporalio_protos::temporal::api::enums::v1::RoutingConfigUpdateState::Completed as i32,
    }
}

/// One entry of `ListWorkerDeployments`.
pub(crate) fn deployment_summary(name: &str, d: &Deployment) -> WorkerDeploymentSummary {
    let find = |build: Option<&str>| {
        let build = build?;
        d.versions.get(build).map(|v| summary(name, d, build, v))
    };
    let latest = d
        .versions
        .iter()
        .max_by_key(|(_, v)| v.create_time_ms)
        .map(|(b, v)| summary(name, d, b, v));
    WorkerDeploymentSummary {
        name: name.to_owned(),
        create_time: Some(timestamp(d.create_time_ms)),
        routing_config: Some(routing_config(name, d)),
        latest_version_summary: latest,
        current_version_summary: find(d.routing.current.as_deref()),
        ramping_version_summary: find(d.routing.ramping.as_ref().map(|(b, _)| b.as_str())),
    }
}

/// `DescribeWorkerDeploymentVersion`'s info.
#[allow(deprecated)]
pub(crate) fn version_info(
    d: &Deployment,
    version: &Version,
    v: &VersionRecord,
) -> WorkerDeploymentVersionInfo {
    WorkerDeploymentVersionInfo {
        version: version.canonical(),
        status: status(d, &version.build_id, v) as i32,
        deployment_version: Some(version.to_proto()),
        deployment_name: version.deployment.clone(),
        create_time: Some(timestamp(v.create_time_ms)),
        routing_changed_time: v.routing_update_ms.map(timestamp),
        current_since_time: v.current_since_ms.map(timestamp),
        ramping_since_time: v.ramping_since_ms.map(timestamp),
        first_activation_time: v.first_activation_ms.map(timestamp),
        last_current_time: v.last_current_ms.map(timestamp),
        last_deactivation_time: v.last_deactivation_ms.map(timestamp),
        ramp_percentage: v.ramp_percentage,
        task_queue_infos: v
            .task_queues
            .iter()
            .map(|(name, kind)| VersionTaskQueueInfo {
                name: name.clone(),
                r#type: *kind,
            })
            .collect(),
        metadata: (!v.metadata.is_empty()).then(|| VersionMetadata {
            entries: v.metadata.clone(),
        }),
        last_modifier_identity: v.last_modifier_identity.clone(),
        ..Default::default()
    }
}
