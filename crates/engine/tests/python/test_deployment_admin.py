"""Managing worker deployments ahead of their workers, through the official Python SDK's
raw service, on the real dev server (.venv/bin/temporal, the oracle) and on our engine on
SQLite and PostgreSQL: `CreateWorkerDeployment`, `CreateWorkerDeploymentVersion`,
`UpdateWorkerDeploymentVersionMetadata`, `SetWorkerDeploymentManager` (and the manager's
hold on the routing), and the compute config RPCs, with the real server's answers and
messages. No worker polls.
"""

import uuid

from temporalio.api.common.v1 import Payload
from temporalio.api.compute.v1 import ComputeConfig, ComputeConfigScalingGroup, ComputeProvider
from temporalio.api.deployment.v1 import WorkerDeploymentVersion
from temporalio.api.enums.v1 import WorkerDeploymentVersionStatus
from temporalio.api.workflowservice.v1 import (
    CreateWorkerDeploymentRequest,
    CreateWorkerDeploymentVersionRequest,
    DescribeWorkerDeploymentRequest,
    DescribeWorkerDeploymentVersionRequest,
    SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentManagerRequest,
    UpdateWorkerDeploymentVersionComputeConfigRequest,
    UpdateWorkerDeploymentVersionMetadataRequest,
    ValidateWorkerDeploymentVersionComputeConfigRequest,
)
from temporalio.client import Client
from temporalio.service import RPCStatusCode

from backends import Server
from test_batch import refused

S = RPCStatusCode


async def create(client: Client, d: str) -> None:
    service, ns = client.workflow_service, client.namespace
    created = await service.create_worker_deployment(
        CreateWorkerDeploymentRequest(namespace=ns, deployment_name=d, identity="me", request_id="r1")
    )
    assert created.conflict_token
    await refused(
        service.create_worker_deployment(
            CreateWorkerDeploymentRequest(namespace=ns, deployment_name=d, identity="me", request_id="r2")
        ),
        S.ALREADY_EXISTS, f'Worker Deployment with name "{d}" already exists',
    )
    await refused(
        service.create_worker_deployment(CreateWorkerDeploymentRequest(namespace=ns)),
        S.INVALID_ARGUMENT, "deployment name cannot be empty",
    )
    await refused(
        service.create_worker_deployment(CreateWorkerDeploymentRequest(namespace=ns, deployment_name="a.b")),
        S.INVALID_ARGUMENT, "worker deployment name cannot contain '.'",
    )
    described = await service.describe_worker_deployment(
        DescribeWorkerDeploymentRequest(namespace=ns, deployment_name=d)
    )
    info = described.worker_deployment_info
    assert (info.name, info.last_modifier_identity, info.manager_identity) == (d, "me", "")
    assert info.routing_config.current_version == "__unversioned__"
    assert described.conflict_token == created.conflict_token

    v1 = WorkerDeploymentVersion(deployment_name=d, build_id="b1")
    await service.create_worker_deployment_version(
        CreateWorkerDeploymentVersionRequest(namespace=ns, deployment_version=v1, identity="me")
    )
    await refused(
        service.create_worker_deployment_version(
            CreateWorkerDeploymentVersionRequest(namespace=ns, deployment_version=v1, identity="me")
        ),
        S.ALREADY_EXISTS, f'Worker Deployment Version "{d}.b1" already exists',
    )
    await refused(
        service.create_worker_deployment_version(
            CreateWorkerDeploymentVersionRequest(
                namespace=ns, deployment_version=WorkerDeploymentVersion(deployment_name=f"{d}x", build_id="b1")
            )
        ),
        S.NOT_FOUND, f"no Worker Deployment found with name '{d}x'; does your Worker Deployment have pollers?",
    )
    await refused(
        service.create_worker_deployment_version(
            CreateWorkerDeploymentVersionRequest(namespace=ns, deployment_version=WorkerDeploymentVersion(deployment_name=d))
        ),
        S.INVALID_ARGUMENT, "build ID cannot be empty",
    )
    version = await service.describe_worker_deployment_version(
        DescribeWorkerDeploymentVersionRequest(namespace=ns, deployment_version=v1)
    )
    info = version.worker_deployment_version_info
    assert info.status == WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_CREATED
    assert (info.version, info.last_modifier_identity) == (f"{d}.b1", "me")


async def metadata(client: Client, d: str) -> None:
    service, ns = client.workflow_service, client.namespace
    v1 = WorkerDeploymentVersion(deployment_name=d, build_id="b1")
    await refused(
        service.update_worker_deployment_version_metadata(
            UpdateWorkerDeploymentVersionMetadataRequest(namespace=ns, deployment_version=v1)
        ),
        S.INVALID_ARGUMENT, "At least one of remove_entries or upsert_entries must be provided",
    )
    entry = Payload(metadata={"encoding": b"json/plain"}, data=b'"v"')
    updated = await service.update_worker_deployment_version_metadata(
        UpdateWorkerDeploymentVersionMetadataRequest(
            namespace=ns, deployment_version=v1, upsert_entries={"k": entry}, identity="me"
        )
    )
    assert dict(updated.metadata.entries) == {"k": entry}
    removed = await service.update_worker_deployment_version_metadata(
        UpdateWorkerDeploymentVersionMetadataRequest(
            namespace=ns, deployment_version=v1, remove_entries=["k", "never"], identity="me"
        )
    )
    assert dict(removed.metadata.entries) == {}
    await refused(
        service.update_worker_deployment_version_metadata(
            UpdateWorkerDeploymentVersionMetadataRequest(
                namespace=ns, deployment_version=WorkerDeploymentVersion(deployment_name=d, build_id="b9"),
                upsert_entries={"k": entry},
            )
        ),
        S.NOT_FOUND, f"workflow not found for ID: temporal-sys-worker-deployment-version:{d}:b9",
    )


async def manager(client: Client, d: str) -> None:
    service, ns = client.workflow_service, client.namespace
    await refused(
        service.set_worker_deployment_manager(SetWorkerDeploymentManagerRequest(namespace=ns, deployment_name=d, self=True)),
        S.INVALID_ARGUMENT, "Identity is required",
    )
    await refused(
        service.set_worker_deployment_manager(
            SetWorkerDeploymentManagerRequest(namespace=ns, deployment_name=f"{d}zz", self=True, identity="me")
        ),
        S.NOT_FOUND, f"workflow not found for ID: temporal-sys-worker-deployment:{d}zz",
    )
    mine = await service.set_worker_deployment_manager(
        SetWorkerDeploymentManagerRequest(namespace=ns, deployment_name=d, self=True, identity="me")
    )
    assert mine.previous_manager_identity == "" and mine.conflict_token
    boss = await service.set_worker_deployment_manager(
        SetWorkerDeploymentManagerRequest(namespace=ns, deployment_name=d, manager_identity="boss", identity="me")
    )
    assert boss.previous_manager_identity == "me"
    assert boss.conflict_token != mine.conflict_token
    described = await service.describe_worker_deployment(DescribeWorkerDeploymentRequest(namespace=ns, deployment_name=d))
    assert described.worker_deployment_info.manager_identity == "boss"
    await refused(
        service.set_worker_deployment_current_version(
            SetWorkerDeploymentCurrentVersionRequest(namespace=ns, deployment_name=d, build_id="b1", identity="me")
        ),
        S.FAILED_PRECONDITION,
        "ManagerIdentity 'boss' is set and does not match user identity 'me'; to proceed, set your own identity "
        "as the ManagerIdentity, remove the ManagerIdentity, or wait for the other client to do so",
    )
    current = await service.set_worker_deployment_current_version(
        SetWorkerDeploymentCurrentVersionRequest(namespace=ns, deployment_name=d, build_id="b1", identity="boss")
    )
    assert current.previous_version == "__unversioned__"


async def compute_config(client: Client, d: str) -> None:
    service, ns = client.workflow_service, client.namespace
    v1 = WorkerDeploymentVersion(deployment_name=d, build_id="b1")
    await refused(
        service.validate_worker_deployment_version_compute_config(
            ValidateWorkerDeploymentVersionComputeConfigRequest(namespace=ns, deployment_version=v1)
        ),
        S.INVALID_ARGUMENT,
        "No prior compute config found, which means nothing can be removed and something needs to be added to be valid",
    )
    await refused(
        service.update_worker_deployment_version_compute_config(
            UpdateWorkerDeploymentVersionComputeConfigRequest(
                namespace=ns, deployment_version=WorkerDeploymentVersion(deployment_name=d, build_id="b9")
            )
        ),
        S.NOT_FOUND, f"build ID 'b9' not found in Worker Deployment '{d}'",
    )
    await refused(
        service.update_worker_deployment_version_compute_config(UpdateWorkerDeploymentVersionComputeConfigRequest(namespace=ns)),
        S.INVALID_ARGUMENT, "deployment name cannot be empty",
    )
    await service.update_worker_deployment_version_compute_config(
        UpdateWorkerDeploymentVersionComputeConfigRequest(
            namespace=ns, deployment_version=v1, remove_compute_config_scaling_groups=["g"]
        )
    )
    group = ComputeConfigScalingGroup(provider=ComputeProvider(type="aws-lambda"))
    await refused(
        service.create_worker_deployment_version(
            CreateWorkerDeploymentVersionRequest(
                namespace=ns, deployment_version=WorkerDeploymentVersion(deployment_name=d, build_id="b2"),
                compute_config=ComputeConfig(scaling_groups={"g": group}),
            )
        ),
        S.INVALID_ARGUMENT, "g: Could not instantiate compute provider with type 'aws-lambda'",
    )


async def scenario(client: Client) -> None:
    d = f"dep{uuid.uuid4().hex[:8]}"
    await create(client, d)
    await metadata(client, d)
    await manager(client, d)
    await compute_config(client, d)


def test_deployment_admin(server: Server) -> None:
    server.run(scenario)
