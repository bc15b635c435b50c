//! Worker deployment RPCs: describe and list deployments and versions, set the current
//! and ramping versions, delete; create deployments and versions ahead of their workers,
//! a version's metadata and compute config, the deployment's manager; and the poller side
//! (`poller`), which registers the version a versioned worker polls with.

use temporalio_protos::temporal::api::{
    deployment::v1::VersionMetadata,
    deployment::v1::{WorkerDeploymentOptions, WorkerDeploymentVersion},
    enums::v1::TaskQueueType,
    workflowservice::v1::{
        CreateWorkerDeploymentRequest, CreateWorkerDeploymentResponse,
        CreateWorkerDeploymentVersionRequest, DeleteWorkerDeploymentRequest,
        DeleteWorkerDeploymentVersionRequest, DescribeWorkerDeploymentRequest,
        DescribeWorkerDeploymentResponse, DescribeWorkerDeploymentVersionRequest,
        DescribeWorkerDeploymentVersionResponse, ListWorkerDeploymentsRequest,
        ListWorkerDeploymentsResponse, SetWorkerDeploymentCurrentVersionRequest,
        SetWorkerDeploymentCurrentVersionResponse, SetWorkerDeploymentManagerRequest,
        SetWorkerDeploymentManagerResponse, SetWorkerDeploymentRampingVersionRequest,
        SetWorkerDeploymentRampingVersionResponse,
        UpdateWorkerDeploymentVersionComputeConfigRequest,
        UpdateWorkerDeploymentVersionMetadataRequest,
        UpdateWorkerDeploymentVersionMetadataResponse,
        ValidateWorkerDeploymentVersionComputeConfigRequest,
        describe_worker_deployment_version_response::VersionTaskQueue,
        set_worker_deployment_manager_request::NewManagerIdentity,
    },
};

use crate::{
    error::{EngineError, Result},
    history::{
        QueueKind,
        lifecycle::versioning::{Override, worker_version},
    },
    matching::deployments::{Route, RoutingChange, UNVERSIONED, Version, describe, manage},
    matching::{QueueKey, Worker},
    runtime::EngineRuntime,
};

/// The worker behind a poll; a versioned one registers its version on the queue.
pub(super) fn poller(
    rt: &EngineRuntime,
    key: &QueueKey,
    options: Option<&WorkerDeploymentOptions>,
    sticky: bool,
) -> Worker {
    let version = worker_version(options);
    if let Some(version) = version.as_ref().filter(|_| !sticky) {
        let queue_type = match key.kind {
            QueueKind::Workflow => TaskQueueType::Workflow,
            QueueKind::Activity => TaskQueueType::Activity,
            QueueKind::Nexus => TaskQueueType::Nexus,
        };
        rt.matching.deployments().register(
            &key.namespace,
            version,
            &key.name,
            queue_type as i32,
            rt.clock.now_ms(),
        );
    }
    Worker { version, sticky }
}

/// The version a run with `workflow_id` goes to on `queue` when nothing pins it: the
/// ramping version if the ramp takes the id, else the current one; `None` when unversioned.
pub(super) fn target_version(
    rt: &EngineRuntime,
    namespace: &str,
    queue: &str,
    workflow_id: &str,
) -> Option<Version> {
    let deployments = rt.matching.deployments();
    let route = Route {
        workflow_id: workflow_id.to_owned(),
        ..Default::default()
    };
    route.resolve(deployments.routing(namespace, queue), |v| {
        deployments.queue_has(namespace, queue, v)
    })
}

/// Refuses a pinned override to a version that has not polled `queue` for workflow tasks,
/// as the real server does.
pub(super) fn check_pinned(
    rt: &EngineRuntime,
    namespace: &str,
    queue: &str,
    pinned: Option<&Override>,
) -> Result<()> {
    let Some(Override::Pinned(version)) = pinned else {
        return Ok(());
    };
    let workflow = TaskQueueType::Workflow as i32;
    if rt
        .matching
        .deployments()
        .polls(namespace, queue, workflow, version)
    {
        return Ok(());
    }
    Err(EngineError::FailedPrecondition(format!(
        "Pinned version '{}:{}' is not present in task queue '{queue}' of type 'Workflow'",
        version.deployment, version.build_id
    )))
}

pub(super) fn describe_deployment(
    rt: &EngineRuntime,
    r: &DescribeWorkerDeploymentRequest,
) -> Result<DescribeWorkerDeploymentResponse> {
    namespace(rt, &r.namespace)?;
    let deployments = rt.matching.deployments();
    let d = deployments.get(&r.namespace, &r.deployment_name)?;
    Ok(DescribeWorkerDeploymentResponse {
        conflict_token: d.conflict_token(),
        worker_deployment_info: Some(describe::deployment_info(&r.deployment_name, d)),
    })
}

pub(super) fn list_deployments(
    rt: &EngineRuntime,
    r: &ListWorkerDeploymentsRequest,
) -> Result<ListWorkerDeploymentsResponse> {
    namespace(rt, &r.namespace)?;
    let deployments = rt.matching.deployments();
    Ok(ListWorkerDeploymentsResponse {
        next_page_token: Vec::new(),
        worker_deployments: deployments
            .list(&r.namespace)
            .map(|(name, d)| describe::deployment_summary(name, d))
            .collect(),
    })
}

/// The version a request names, in the new field or the deprecated string.
fn named_version(proto: Option<&WorkerDeploymentVersion>, canonical: &str) -> Result<Version> {
    proto
        .and_then(Version::from_proto)
        .or_else(|| Version::parse(canonical))
        .ok_or_else(|| {
            EngineError::invalid(
                "deployment_version is not set on request: give its deployment_name and build_id",
            )
        })
}

pub(super) fn describe_version(
    rt: &EngineRuntime,
    r: &DescribeWorkerDeploymentVersionRequest,
) -> Result<DescribeWorkerDeploymentVersionResponse> {
    namespace(rt, &r.namespace)?;
    #[allow(deprecated)]
    let version = named_version(r.deployment_version.as_ref(), &r.version)?;
    let deployments = rt.matching.deployments();
    let not_found = || EngineError::not_found("Worker Deployment Version not found");
    let d = deployments
        .get(&r.namespace, &version.deployment)
        .map_err(|_| not_found())?;
    let v = d.versions.get(&version.build_id).ok_or_else(not_found)?;
    Ok(DescribeWorkerDeploymentVersionResponse {
        worker_deployment_version_info: Some(describe::version_info(d, &version, v)),
        version_task_queues: v
            .task_queues
            .iter()
            .map(|(name, kind)| VersionTaskQueue {
                name: name.clone(),
                r#type: *kind,
                ..Default::default()
            })
            .collect(),
    })
}

/// The build id a set request names (`None`: unversioned), from `build_id` or the
/// deprecated `<deployment>.<build id>` version string.
fn named_build(deployment: &str, build_id: &str, version: &str) -> Option<String> {
    if !build_id.is_empty() {
        return Some(build_id.to_owned());
    }
    if version.is_empty() || version == UNVERSIONED {
        return None;
    }
    Some(
        version
            .strip_prefix(deployment)
            .and_then(|rest| rest.strip_prefix('.'))
            .unwrap_or(version)
            .to_owned(),
    )
}

#[allow(deprecated)]
fn previous(name: &str, change: &RoutingChange) -> (String, Option<WorkerDeploymentVersion>) {
    match change.previous.as_deref() {
        Some(b) => {
            let v = Version::new(name, b);
            (v.canonical(), Some(v.to_proto()))
        }
        None => (UNVERSIONED.to_owned(), None),
    }
}

#[allow(deprecated)]
pub(super) fn set_current(
    rt: &EngineRuntime,
    r: &SetWorkerDeploymentCurrentVersionRequest,
) -> Result<SetWorkerDeploymentCurrentVersionResponse> {
    namespace(rt, &r.namespace)?;
    let build = named_build(&r.deployment_name, &r.build_id, &r.version);
    let change = rt.matching.deployments().set_current(
        &r.namespace,
        &r.deployment_name,
        build.as_deref(),
        &r.conflict_token,
        &r.identity,
        rt.clock.now_ms(),
    )?;
    rt.matching.reroute(&r.namespace, &change.queues);
    let (previous_version, previous_deployment_version) = previous(&r.deployment_name, &change);
    Ok(SetWorkerDeploymentCurrentVersionResponse {
        conflict_token: change.conflict_token,
        previous_version,
        previous_deployment_version,
    })
}

#[allow(deprecated)]
pub(super) fn set_ramping(
    rt: &EngineRuntime,
    r: &SetWorkerDeploymentRampingVersionRequest,
) -> Result<SetWorkerDeploymentRampingVersionResponse> {
    namespace(rt, &r.namespace)?;
    let build = (!r.build_id.is_empty() || !r.version.is_empty())
        .then(|| named_build(&r.deployment_name, &r.build_id, &r.version))
        .flatten();
    let change = rt.matching.deployments().set_ramping(
        &r.namespace,
        &r.deployment_name,
        build.as_deref(),
        r.percentage,
        &r.conflict_token,
        &r.identity,
        rt.clock.now_ms(),
    )?;
    rt.matching.reroute(&r.namespace, &change.queues);
    let (previous_version, previous_deployment_version) = match change.previous {
        Some(_) => previous(&r.deployment_name, &change),
        None => (String::new(), None),
    };
    Ok(SetWorkerDeploymentRampingVersionResponse {
        conflict_token: change.conflict_token,
        previous_version,
        previous_deployment_version,
        previous_percentage: change.previous_percentage,
    })
}

pub(super) fn delete_version(
    rt: &EngineRuntime,
    r: &DeleteWorkerDeploymentVersionRequest,
) -> Result<()> {
    namespace(rt, &r.namespace)?;
    #[allow(deprecated)]
    let version = named_version(r.deployment_version.as_ref(), &r.version)?;
    Ok(rt
        .matching
        .deployments()
        .delete_version(&r.namespace, &version)?)
}

pub(super) fn delete_deployment(
    rt: &EngineRuntime,
    r: &DeleteWorkerDeploymentRequest,
) -> Result<()> {
    namespace(rt, &r.namespace)?;
    Ok(rt
        .matching
        .deployments()
        .delete_deployment(&r.namespace, &r.deployment_name)?)
}

fn namespace(rt: &EngineRuntime, namespace: &str) -> Result<()> {
    rt.read(|registry| registry.namespace(namespace).map(|_| ()))
}

/// The version a management request names, with the real server's checks.
fn managed_version(proto: Option<&WorkerDeploymentVersion>) -> Result<Version> {
    let proto = proto.cloned().unwrap_or_default();
    Ok(manage::check_version(
        &proto.deployment_name,
        &proto.build_id,
    )?)
}

pub(super) fn create_deployment(
    rt: &EngineRuntime,
    r: &CreateWorkerDeploymentRequest,
) -> Result<CreateWorkerDeploymentResponse> {
    namespace(rt, &r.namespace)?;
    let conflict_token = rt.matching.deployments().create_deployment(
        &r.namespace,
        &r.deployment_name,
        &r.identity,
        &r.request_id,
        rt.clock.now_ms(),
    )?;
    tracing::info!(namespace = %r.namespace, deployment = %r.deployment_name, "worker deployment created");
    Ok(CreateWorkerDeploymentResponse { conflict_token })
}

pub(super) fn create_version(
    rt: &EngineRuntime,
    r: &CreateWorkerDeploymentVersionRequest,
) -> Result<()> {
    namespace(rt, &r.namespace)?;
    let version = managed_version(r.deployment_version.as_ref())?;
    manage::refuse_scaling_groups(manage::config_groups(r.compute_config.as_ref()))?;
    rt.matching.deployments().create_version(
        &r.namespace,
        &version,
        &r.identity,
        &r.request_id,
        rt.clock.now_ms(),
    )?;
    Ok(())
}

/// No compute config is ever kept, so there is none to change or remove from: scaling
/// groups are refused (no compute provider here), and removals change nothing.
pub(super) fn update_compute_config(
    rt: &EngineRuntime,
    r: &UpdateWorkerDeploymentVersionComputeConfigRequest,
) -> Result<()> {
    namespace(rt, &r.namespace)?;
    let version = managed_version(r.deployment_version.as_ref())?;
    rt.matching
        .deployments()
        .version_mut(&r.namespace, &version)?;
    manage::refuse_scaling_groups(manage::update_groups(&r.compute_config_scaling_groups))?;
    Ok(())
}

/// What validating a change against a version's compute config answers: there is never a
/// prior config, and a new scaling group cannot be instantiated.
pub(super) fn validate_compute_config(
    rt: &EngineRuntime,
    r: &ValidateWorkerDeploymentVersionComputeConfigRequest,
) -> Result<()> {
    namespace(rt, &r.namespace)?;
    manage::refuse_scaling_groups(manage::update_groups(&r.compute_config_scaling_groups))?;
    Err(EngineError::invalid(
        "No prior compute config found, which means nothing can be removed and something needs to be added to be valid",
    ))
}

pub(super) fn update_metadata(
    rt: &EngineRuntime,
    r: &UpdateWorkerDeploymentVersionMetadataRequest,
) -> Result<UpdateWorkerDeploymentVersionMetadataResponse> {
    namespace(rt, &r.namespace)?;
    #[allow(deprecated)]
    let version = r
        .deployment_version
        .as_ref()
        .map(|v| Version::new(&v.deployment_name, &v.build_id))
        .or_else(|| Version::parse(&r.version))
        .unwrap_or_else(|| Version::new("", ""));
    let entries = rt.matching.deployments().update_metadata(
        &r.namespace,
        &version,
        &r.upsert_entries,
        &r.remove_entries,
    )?;
    Ok(UpdateWorkerDeploymentVersionMetadataResponse {
        metadata: Some(VersionMetadata { entries }),
    })
}

pub(super) fn set_manager(
    rt: &EngineRuntime,
    r: &SetWorkerDeploymentManagerRequest,
) -> Result<SetWorkerDeploymentManagerResponse> {
    namespace(rt, &r.namespace)?;
    let manager = match &r.new_manager_identity {
        Some(NewManagerIdentity::Self_(true)) => r.identity.as_str(),
        Some(NewManagerIdentity::ManagerIdentity(manager)) => manager.as_str(),
        Some(NewManagerIdentity::Self_(false)) | None => "",
    };
    let (conflict_token, previous_manager_identity) = rt.matching.deployments().set_manager(
        &r.namespace,
        &r.deployment_name,
        manager,
        &r.conflict_token,
        &r.identity,
    )?;
    // Deprecated, but the dev server still answers it.
    #[allow(deprecated)]
    let response = SetWorkerDeploymentManagerResponse {
        conflict_token,
        previous_manager_identity,
    };
    Ok(response)
}
