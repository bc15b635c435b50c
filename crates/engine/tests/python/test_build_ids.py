"""Build ids and deployments on workflow task events, through the official Python SDK on the
real dev server (the oracle) and the engine on SQLite and PostgreSQL. An unversioned worker
(with the SDK's own build id, a legacy `build_id`, or deployment options without
versioning) has its build id recorded on the task's started and completed events, and its
deployment name on the completed one; a versioned worker's completed events carry its
build id, version and behavior. The workflow reads its current build id
(`workflow.info().get_current_build_id()`) from them.
"""

import asyncio
import uuid

from temporalio import workflow
from temporalio.api.enums.v1 import VersioningBehavior as RawBehavior
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.client import Client
from temporalio.common import VersioningBehavior
from temporalio.service import RPCError
from temporalio.worker import Worker, WorkerDeploymentConfig, WorkerDeploymentVersion

from backends import Server


@workflow.defn
class Reports:
    @workflow.run
    async def run(self) -> str:
        await asyncio.sleep(0.05)  # a second workflow task
        return workflow.info().get_current_build_id()


@workflow.defn(name="ReportsVersioned", versioning_behavior=VersioningBehavior.PINNED)
class ReportsVersioned:
    @workflow.run
    async def run(self) -> str:
        await asyncio.sleep(0.05)
        version = workflow.info().get_current_deployment_version()
        return f"{workflow.info().get_current_build_id()} {version.deployment_name if version else None}"


async def task_events(handle) -> list:
    """(started build id, completed build id, deployment name, behavior, version build id)
    of each completed workflow task."""
    started, tasks = {}, []
    async for e in handle.fetch_history_events():
        if e.HasField("workflow_task_started_event_attributes"):
            started[e.event_id] = e.workflow_task_started_event_attributes.worker_version.build_id
        if e.HasField("workflow_task_completed_event_attributes"):
            a = e.workflow_task_completed_event_attributes
            tasks.append((
                started[a.started_event_id], a.worker_version.build_id, a.worker_deployment_name,
                a.versioning_behavior, a.deployment_version.build_id,
            ))
    return tasks


async def scenario(client: Client) -> None:
    unversioned = [
        ("sdk", {}),
        ("legacy", {"build_id": "b-legacy"}),
        ("options", {"deployment_config": WorkerDeploymentConfig(
            version=WorkerDeploymentVersion("dep-plain", "b-options"), use_worker_versioning=False)}),
    ]
    for label, options in unversioned:
        queue = f"build-{label}-{uuid.uuid4().hex[:6]}"
        async with Worker(client, task_queue=queue, workflows=[Reports], **options):
            handle = await client.start_workflow(Reports.run, id=queue, task_queue=queue)
            build_id = await handle.result()
        assert build_id, label
        if label != "sdk":
            assert build_id == {"legacy": "b-legacy", "options": "b-options"}[label]
        deployment = "dep-plain" if label == "options" else ""
        assert await task_events(handle) == [(build_id, build_id, deployment, 0, "")] * 2, label

    queue = f"build-versioned-{uuid.uuid4().hex[:6]}"
    deployment = f"dep-{uuid.uuid4().hex[:6]}"
    config = WorkerDeploymentConfig(version=WorkerDeploymentVersion(deployment, "b-v"), use_worker_versioning=True)
    async with Worker(client, task_queue=queue, workflows=[ReportsVersioned], deployment_config=config):
        svc, ns = client.workflow_service, client.namespace
        deadline = asyncio.get_running_loop().time() + 15
        while True:
            try:
                d = await svc.describe_worker_deployment(
                    DescribeWorkerDeploymentRequest(namespace=ns, deployment_name=deployment)
                )
                break
            except RPCError:
                assert asyncio.get_running_loop().time() < deadline, "the deployment never showed"
                await asyncio.sleep(0.2)
        await svc.set_worker_deployment_current_version(
            SetWorkerDeploymentCurrentVersionRequest(
                namespace=ns, deployment_name=deployment, build_id="b-v", conflict_token=d.conflict_token
            )
        )
        while (await svc.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(namespace=ns, deployment_name=deployment)
        )).worker_deployment_info.routing_config_update_state != 2:  # COMPLETED
            assert asyncio.get_running_loop().time() < deadline, "the routing change never propagated"
            await asyncio.sleep(0.2)
        handle = await client.start_workflow("ReportsVersioned", id=queue, task_queue=queue)
        assert await handle.result() == f"b-v {deployment}"
    pinned = RawBehavior.VERSIONING_BEHAVIOR_PINNED
    assert await task_events(handle) == [("", "b-v", deployment, pinned, "b-v")] * 2


def test_build_ids_on_workflow_task_events(server: Server) -> None:
    server.run(scenario)
