"""Continue-as-new onto a newer worker deployment version, through the official Python SDK
on the real dev server (the oracle) and the engine on SQLite and PostgreSQL. A pinned run
on 1.0 learns that its target version changed (`is_target_worker_deployment_version_changed`,
from the workflow task's started event) and continues as new with AUTO_UPGRADE onto the new
current 2.0; another continues with USE_RAMPING_VERSION while 2.0 ramps at 0 %, and lands on
2.0. The first once looped for ever on the engine (the flag never came), so each runs in a
child process with a deadline.
"""

import asyncio
import uuid

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import RoutingConfigUpdateState
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentRampingVersionRequest,
)
from temporalio.client import Client, WorkflowHandle
from temporalio.common import VersioningBehavior
from temporalio.service import RPCError
from temporalio.worker import Worker, WorkerDeploymentConfig, WorkerDeploymentVersion

from backends import Server


@workflow.defn(name="Upgrades", versioning_behavior=VersioningBehavior.PINNED)
class UpgradesV1:
    @workflow.run
    async def run(self, continued: bool) -> str:
        if continued:
            return "1.0"
        while not workflow.info().is_target_worker_deployment_version_changed():
            await asyncio.sleep(0.05)  # each timer gives a new task, with a fresh flag
        workflow.continue_as_new(
            arg=True, initial_versioning_behavior=workflow.ContinueAsNewVersioningBehavior.AUTO_UPGRADE
        )


@workflow.defn(name="Upgrades", versioning_behavior=VersioningBehavior.PINNED)
class UpgradesV2:
    @workflow.run
    async def run(self, continued: bool) -> str:
        return "2.0"


@workflow.defn(name="Ramps", versioning_behavior=VersioningBehavior.PINNED)
class RampsV1:
    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self, continued: bool) -> str:
        if continued:
            return "1.0"
        await workflow.wait_condition(lambda: self.go)
        workflow.continue_as_new(
            arg=True, initial_versioning_behavior=workflow.ContinueAsNewVersioningBehavior.USE_RAMPING_VERSION
        )

    @workflow.signal
    def proceed(self) -> None:
        self.go = True


@workflow.defn(name="Ramps", versioning_behavior=VersioningBehavior.PINNED)
class RampsV2:
    @workflow.run
    async def run(self, continued: bool) -> str:
        return "2.0"


async def eventually(check, timeout: float = 20.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await check()
        except (AssertionError, RPCError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)


class Deployment:
    """Two versioned workers (1.0 and 2.0) of one deployment on one queue."""

    def __init__(self, client: Client, v1: list, v2: list) -> None:
        self.client, self.name = client, f"dep-{uuid.uuid4().hex[:8]}"
        self.queue = f"q-{uuid.uuid4().hex[:8]}"
        self.workers = [self.worker("1.0", v1), self.worker("2.0", v2)]
        self.token = b""

    def worker(self, build: str, workflows: list) -> Worker:
        config = WorkerDeploymentConfig(
            version=WorkerDeploymentVersion(self.name, build), use_worker_versioning=True
        )
        return Worker(self.client, task_queue=self.queue, workflows=workflows, deployment_config=config)

    async def describe(self):
        svc = self.client.workflow_service
        return await svc.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(namespace=self.client.namespace, deployment_name=self.name)
        )

    async def registered(self) -> None:
        async def both() -> None:
            d = await self.describe()
            builds = {s.deployment_version.build_id for s in d.worker_deployment_info.version_summaries}
            assert builds == {"1.0", "2.0"}, builds
            self.token = d.conflict_token

        await eventually(both)

    async def propagated(self) -> None:
        async def completed() -> None:
            d = await self.describe()
            state = d.worker_deployment_info.routing_config_update_state
            assert state == RoutingConfigUpdateState.ROUTING_CONFIG_UPDATE_STATE_COMPLETED, state

        await eventually(completed)

    async def set_current(self, build: str) -> None:
        r = await self.client.workflow_service.set_worker_deployment_current_version(
            SetWorkerDeploymentCurrentVersionRequest(
                namespace=self.client.namespace, deployment_name=self.name, build_id=build,
                conflict_token=self.token,
            )
        )
        self.token = r.conflict_token
        await self.propagated()

    async def set_ramping(self, build: str, percentage: float) -> None:
        r = await self.client.workflow_service.set_worker_deployment_ramping_version(
            SetWorkerDeploymentRampingVersionRequest(
                namespace=self.client.namespace, deployment_name=self.name, build_id=build,
                percentage=percentage, conflict_token=self.token,
            )
        )
        self.token = r.conflict_token
        await self.propagated()

    async def start(self, kind: str) -> WorkflowHandle:
        handle = await self.client.start_workflow(kind, False, id=f"{kind}-{uuid.uuid4()}", task_queue=self.queue)

        async def on_v1() -> None:
            info = (await handle.describe()).raw_description.workflow_execution_info.versioning_info
            assert info.deployment_version.build_id == "1.0", info

        await eventually(on_v1)
        return handle


async def upgrade(client: Client) -> None:
    dep = Deployment(client, [UpgradesV1], [UpgradesV2])
    async with dep.workers[0], dep.workers[1]:
        await dep.registered()
        await dep.set_current("1.0")
        handle = await dep.start("Upgrades")
        await dep.set_current("2.0")
        assert await handle.result() == "2.0"


async def ramp(client: Client) -> None:
    dep = Deployment(client, [RampsV1], [RampsV2])
    async with dep.workers[0], dep.workers[1]:
        await dep.registered()
        await dep.set_current("1.0")
        handle = await dep.start("Ramps")
        await dep.set_ramping("2.0", 0)
        await handle.signal(RampsV1.proceed)
        assert await handle.result() == "2.0"


@pytest.mark.parametrize("scenario", ["upgrade", "ramp"])
def test_continue_as_new_onto_a_newer_version(server: Server, scenario: str) -> None:
    server.run_bounded("test_versioning_continue", scenario, seconds=60)
