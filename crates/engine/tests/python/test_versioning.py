"""Worker deployments and versioning through the official Python SDK, on both backends:
the real dev server (.venv/bin/temporal, the oracle) and our engine binary, each launched
by `WorkflowEnvironment.start_local`. Two versioned workers (build ids 1.0 and 2.0 of one
deployment) share a queue; the current and ramping versions decide where new and
auto-upgrade workflows go, pinned ones stay; an unversioned worker on another queue is
untouched.
"""

import asyncio
import uuid
from datetime import timedelta

import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from temporalio import activity, workflow
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.deployment.v1 import WorkerDeploymentVersion as RawVersion
from temporalio.api.enums.v1 import (
    RoutingConfigUpdateState,
    TaskQueueType,
    VersioningBehavior as RawBehavior,
    WorkerDeploymentVersionStatus as Status,
)
from temporalio.api.workflow.v1 import VersioningOverride, WorkflowExecutionOptions
from temporalio.api.workflowservice.v1 import (
    DeleteWorkerDeploymentVersionRequest,
    DescribeWorkerDeploymentRequest,
    DescribeWorkerDeploymentResponse,
    DescribeWorkerDeploymentVersionRequest,
    ListWorkerDeploymentsRequest,
    SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentRampingVersionRequest,
    UpdateWorkflowExecutionOptionsRequest,
)
from temporalio.client import Client
from temporalio.common import PinnedVersioningOverride, VersioningBehavior
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker, WorkerDeploymentConfig, WorkerDeploymentVersion

from backends import Server


class Waits:
    """Waits for `finish`; each version answers its own name."""

    answer = ""

    def __init__(self) -> None:
        self.done = False

    async def wait_and_answer(self) -> str:
        await workflow.wait_condition(lambda: self.done)
        return self.answer

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.query
    def state(self) -> str:
        return self.answer


@workflow.defn(name="Pinned", versioning_behavior=VersioningBehavior.PINNED)
class PinnedV1(Waits):
    answer = "v1"

    @workflow.run
    async def run(self) -> str:
        return await self.wait_and_answer()


@workflow.defn(name="Pinned", versioning_behavior=VersioningBehavior.PINNED)
class PinnedV2(Waits):
    answer = "v2"

    @workflow.run
    async def run(self) -> str:
        return await self.wait_and_answer()


@workflow.defn(name="Auto", versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class AutoV1(Waits):
    answer = "v1"

    @workflow.run
    async def run(self) -> str:
        return await self.wait_and_answer()


@workflow.defn(name="Auto", versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class AutoV2(Waits):
    answer = "v2"

    @workflow.run
    async def run(self) -> str:
        return await self.wait_and_answer()


class Chain(Waits):
    """Pinned; after `finish`, continues as new once (as auto-upgrade if asked), and the
    new run answers its version."""

    async def chain(self, upgrade: bool, continued: bool) -> str:
        if continued:
            return self.answer
        await self.wait_and_answer()
        behavior = workflow.ContinueAsNewVersioningBehavior
        workflow.continue_as_new(
            args=[upgrade, True],
            initial_versioning_behavior=behavior.AUTO_UPGRADE if upgrade else None,
        )


@workflow.defn(name="Chain", versioning_behavior=VersioningBehavior.PINNED)
class ChainV1(Chain):
    answer = "v1"

    @workflow.run
    async def run(self, upgrade: bool, continued: bool) -> str:
        return await self.chain(upgrade, continued)


@workflow.defn(name="Chain", versioning_behavior=VersioningBehavior.PINNED)
class ChainV2(Chain):
    answer = "v2"

    @workflow.run
    async def run(self, upgrade: bool, continued: bool) -> str:
        return await self.chain(upgrade, continued)


@activity.defn
async def greet(name: str) -> str:
    return f"hello {name}"


@workflow.defn
class Unversioned:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=10)
        )


async def eventually(check, timeout: float = 15.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await check()
        except (AssertionError, RPCError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


async def scenarios(client: Client) -> None:
    svc, ns = client.workflow_service, client.namespace
    dep = f"dep-{uuid.uuid4().hex[:8]}"
    queue = f"versioned-{uuid.uuid4().hex[:8]}"
    v1, v2 = WorkerDeploymentVersion(dep, "1.0"), WorkerDeploymentVersion(dep, "2.0")

    async def describe() -> DescribeWorkerDeploymentResponse:
        return await svc.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(namespace=ns, deployment_name=dep)
        )

    # Before any poller names it, the deployment does not exist.
    with pytest.raises(RPCError) as missing:
        await describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND

    async def both_registered() -> DescribeWorkerDeploymentResponse:
        d = await describe()
        builds = {s.deployment_version.build_id for s in d.worker_deployment_info.version_summaries}
        assert builds == {"1.0", "2.0"}, builds
        return d

    def worker(version, workflows) -> Worker:
        config = WorkerDeploymentConfig(version=version, use_worker_versioning=True)
        return Worker(client, task_queue=queue, workflows=workflows, deployment_config=config)

    async with worker(v1, [PinnedV1, AutoV1, ChainV1]), worker(v2, [PinnedV2, AutoV2, ChainV2]):
        d = await eventually(both_registered)
        info = d.worker_deployment_info
        assert info.routing_config.current_version == "__unversioned__"
        assert all(s.status == Status.WORKER_DEPLOYMENT_VERSION_STATUS_INACTIVE for s in info.version_summaries)

        async def propagated() -> None:
            # The real server hands a routing change to the task queues in the background
            # (the RPC answers first); tasks follow it once the state says COMPLETED.
            state = (await describe()).worker_deployment_info.routing_config_update_state
            assert state == RoutingConfigUpdateState.ROUTING_CONFIG_UPDATE_STATE_COMPLETED, state

        async def set_current(build: str, token: bytes) -> bytes:
            r = await svc.set_worker_deployment_current_version(
                SetWorkerDeploymentCurrentVersionRequest(
                    namespace=ns, deployment_name=dep, build_id=build, conflict_token=token, identity="test"
                )
            )
            await eventually(propagated)
            return r.conflict_token

        async def set_ramping(build: str, percentage: float, token: bytes = b"") -> bytes:
            r = await svc.set_worker_deployment_ramping_version(
                SetWorkerDeploymentRampingVersionRequest(
                    namespace=ns,
                    deployment_name=dep,
                    build_id=build,
                    percentage=percentage,
                    conflict_token=token,
                    identity="test",
                )
            )
            await eventually(propagated)
            return r.conflict_token

        token = await set_current("1.0", d.conflict_token)
        with pytest.raises(RPCError) as stale:
            await set_current("2.0", d.conflict_token)
        assert (stale.value.status, stale.value.message) == (RPCStatusCode.FAILED_PRECONDITION, "conflict token mismatch")
        with pytest.raises(RPCError) as unknown:
            await set_current("9.9", token)
        assert unknown.value.status == RPCStatusCode.NOT_FOUND
        assert unknown.value.message == f"build ID '9.9' not found in Worker Deployment '{dep}'"

        async def start(kind: str, **extra):
            return await client.start_workflow(kind, id=f"{kind}-{uuid.uuid4()}", task_queue=queue, **extra)

        pinned, auto = await start("Pinned"), await start("Auto")
        kept = await start("Chain", args=[False, False])
        upgraded = await start("Chain", args=[True, False])
        assert await pinned.query("state") == "v1"
        assert await auto.query("state") == "v1"
        vinfo = (await pinned.describe()).raw_description.workflow_execution_info.versioning_info
        assert vinfo.behavior == RawBehavior.VERSIONING_BEHAVIOR_PINNED
        assert vinfo.deployment_version == RawVersion(deployment_name=dep, build_id="1.0")
        assert vinfo.version == f"{dep}.1.0"

        # A new current version: the pinned run stays on 1.0, the auto-upgrade one moves.
        token = await set_current("2.0", token)
        await pinned.signal("finish")
        await auto.signal("finish")
        assert await pinned.result() == "v1"
        assert await auto.result() == "v2"
        # Continue-as-new: a pinned run's next run stays on 1.0 unless it asks to upgrade.
        for run, expected in ((kept, "v1"), (upgraded, "v2")):
            assert await run.query("state") == "v1"
            await run.signal("finish")
            assert await run.result() == expected

        # A pinned override sends a new run to 1.0 although 2.0 is current.
        overridden = await start("Auto", versioning_override=PinnedVersioningOverride(v1))
        await overridden.signal("finish")
        assert await overridden.result() == "v1"
        vinfo = (await overridden.describe()).raw_description.workflow_execution_info.versioning_info
        assert vinfo.versioning_override.pinned.version.build_id == "1.0"
        with pytest.raises(RPCError) as absent:
            await start("Auto", versioning_override=PinnedVersioningOverride(WorkerDeploymentVersion(dep, "9.9")))
        assert absent.value.status == RPCStatusCode.FAILED_PRECONDITION
        assert absent.value.message == (
            f"Pinned version '{dep}:9.9' is not present in task queue '{queue}' of type 'Workflow'"
        )

        # Ramping: 100% of new runs go to the ramping version, 0% to none of them.
        with pytest.raises(RPCError) as ramp_current:
            await set_ramping("2.0", 10)
        assert ramp_current.value.status == RPCStatusCode.FAILED_PRECONDITION
        assert ramp_current.value.message == f"requested ramping version {dep}.2.0 is already current"
        with pytest.raises(RPCError) as too_much:
            await set_ramping("1.0", 150)
        assert too_much.value.status == RPCStatusCode.INVALID_ARGUMENT
        token = await set_ramping("1.0", 100, token)
        ramped = await start("Auto")
        await ramped.signal("finish")
        assert await ramped.result() == "v1"
        token = await set_ramping("1.0", 0, token)
        unramped = await start("Auto")
        assert await unramped.query("state") == "v2"

        # An override set on a running workflow moves its next task to the pinned version.
        await svc.update_workflow_execution_options(
            UpdateWorkflowExecutionOptionsRequest(
                namespace=ns,
                workflow_execution=WorkflowExecution(workflow_id=unramped.id),
                workflow_execution_options=WorkflowExecutionOptions(
                    versioning_override=PinnedVersioningOverride(v1)._to_proto()
                ),
                update_mask=FieldMask(paths=["versioning_override"]),
            )
        )
        await unramped.signal("finish")
        assert await unramped.result() == "v1"

        d = await describe()
        routing = d.worker_deployment_info.routing_config
        assert routing.current_deployment_version.build_id == "2.0"
        assert routing.ramping_deployment_version.build_id == "1.0"
        assert routing.ramping_version_percentage == 0
        assert d.worker_deployment_info.last_modifier_identity == "test"
        statuses = {s.deployment_version.build_id: s.status for s in d.worker_deployment_info.version_summaries}
        assert statuses == {
            "1.0": Status.WORKER_DEPLOYMENT_VERSION_STATUS_RAMPING,
            "2.0": Status.WORKER_DEPLOYMENT_VERSION_STATUS_CURRENT,
        }
        listed = await svc.list_worker_deployments(ListWorkerDeploymentsRequest(namespace=ns))
        assert dep in [s.name for s in listed.worker_deployments]
        version = await svc.describe_worker_deployment_version(
            DescribeWorkerDeploymentVersionRequest(
                namespace=ns, deployment_version=RawVersion(deployment_name=dep, build_id="2.0")
            )
        )
        queues = [(q.name, q.type) for q in version.version_task_queues]
        assert (queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW) in queues
        with pytest.raises(RPCError) as in_use:
            await svc.delete_worker_deployment_version(
                DeleteWorkerDeploymentVersionRequest(
                    namespace=ns, deployment_version=RawVersion(deployment_name=dep, build_id="2.0")
                )
            )
        assert in_use.value.status == RPCStatusCode.FAILED_PRECONDITION

    # An unversioned worker on another queue is not affected by any of it.
    plain = f"plain-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=plain, workflows=[Unversioned], activities=[greet]):
        result = await client.execute_workflow(Unversioned.run, "you", id=f"plain-{uuid.uuid4()}", task_queue=plain)
        assert result == "hello you"


@pytest.mark.backends("temporal", "engine")
def test_versioning(server: Server) -> None:

    async def scenario(client: Client) -> None:
        await scenarios(client)

    server.run(scenario)
