"""Update-with-start (`ExecuteMultiOperation`) through the official Python SDK, on both
backends: the real dev server (.venv/bin/temporal, the oracle) and our engine binary, each
launched by `WorkflowEnvironment.start_local`. The same scenarios run on each and must give
the same answers.
"""

import uuid

import pytest
from temporalio import workflow
from temporalio.api.common.v1 import Payloads, WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import (
    UpdateWorkflowExecutionLifecycleStage,
    WorkflowIdConflictPolicy as RawConflictPolicy,
)
from temporalio.api.errordetails.v1 import MultiOperationExecutionFailure
from temporalio.api.failure.v1 import MultiOperationExecutionAborted
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.update.v1 import Input, Meta, Request, WaitPolicy
from temporalio.api.workflowservice.v1 import (
    ExecuteMultiOperationRequest,
    StartWorkflowExecutionRequest,
    UpdateWorkflowExecutionRequest,
)
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from backends import Server

Op = ExecuteMultiOperationRequest.Operation
COMPLETED = UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED


@workflow.defn
class Counter:
    def __init__(self) -> None:
        self.total = 0
        self.done = False
        self.released = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.done)
        return self.total

    @workflow.update
    async def add(self, n: int) -> int:
        self.total += n
        return self.total

    @add.validator
    def check_add(self, n: int) -> None:
        if n < 0:
            raise ValueError(f"cannot add {n}")

    @workflow.update
    async def hold(self, n: int) -> int:
        await workflow.wait_condition(lambda: self.released)
        self.total += n
        return self.total

    @workflow.signal
    def release(self) -> None:
        self.released = True

    @workflow.signal
    def finish(self) -> None:
        self.done = True


@workflow.defn
class Quick:
    """Returns at once; its update waits for ever (and is left unfinished)."""

    @workflow.run
    async def run(self) -> str:
        return workflow.info().run_id

    @workflow.update(unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)
    async def stay(self, wait: bool) -> str:
        if wait:
            await workflow.wait_condition(lambda: False)
        return workflow.info().run_id


def with_start(wid: str, queue: str, policy: WorkflowIDConflictPolicy) -> WithStartWorkflowOperation:
    return WithStartWorkflowOperation(
        Counter.run, id=wid, task_queue=queue, id_conflict_policy=policy
    )


async def scenarios(client: Client, queue: str) -> None:
    wid = f"uws-{uuid.uuid4()}"

    # A new workflow: started, and the update's result comes back.
    first = with_start(wid, queue, WorkflowIDConflictPolicy.FAIL)
    assert await client.execute_update_with_start_workflow(
        Counter.add, 5, id="u1", start_workflow_operation=first
    ) == 5
    handle = await first.workflow_handle()
    run_id = handle.result_run_id
    assert run_id
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING

    # USE_EXISTING attaches a new update to the running workflow.
    existing = with_start(wid, queue, WorkflowIDConflictPolicy.USE_EXISTING)
    assert await client.execute_update_with_start_workflow(
        Counter.add, 3, id="u2", start_workflow_operation=existing
    ) == 8
    assert (await existing.workflow_handle()).result_run_id == run_id

    # The same update id attaches to the completed update, whatever the policy: no second
    # update runs.
    for policy in [WorkflowIDConflictPolicy.USE_EXISTING, WorkflowIDConflictPolicy.FAIL]:
        again = with_start(wid, queue, policy)
        assert await client.execute_update_with_start_workflow(
            Counter.add, 100, id="u1", start_workflow_operation=again
        ) == 5
        assert (await again.workflow_handle()).result_run_id == run_id

    # FAIL with a running workflow and a new update id: already started.
    refused = with_start(wid, queue, WorkflowIDConflictPolicy.FAIL)
    with pytest.raises(WorkflowAlreadyStartedError) as started:
        await client.execute_update_with_start_workflow(
            Counter.add, 1, id="u3", start_workflow_operation=refused
        )
    assert started.value.run_id == run_id
    with pytest.raises(WorkflowAlreadyStartedError):
        await refused.workflow_handle()

    # Start now, the result later: PollWorkflowExecutionUpdate on the returned handle.
    accepted = with_start(wid, queue, WorkflowIDConflictPolicy.USE_EXISTING)
    update = await client.start_update_with_start_workflow(
        Counter.add,
        10,
        id="u4",
        start_workflow_operation=accepted,
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    assert update.workflow_run_id == run_id
    assert await update.result() == 18
    assert await handle.get_update_handle("u4", workflow_run_id=run_id).result() == 18

    # A plain update naming the first execution run id of the started chain.
    by_first_run = client.get_workflow_handle(wid, first_execution_run_id=run_id)
    assert await by_first_run.execute_update(Counter.add, 2, id="u5") == 20

    # An update still in flight (accepted, waiting): the same update id attaches to it, even
    # under FAIL, and it runs once.
    held = []
    for policy in [WorkflowIDConflictPolicy.USE_EXISTING, WorkflowIDConflictPolicy.FAIL]:
        held.append(
            await client.start_update_with_start_workflow(
                Counter.hold,
                1,
                id="held",
                start_workflow_operation=with_start(wid, queue, policy),
                wait_for_stage=WorkflowUpdateStage.ACCEPTED,
            )
        )
    assert [h.workflow_run_id for h in held] == [run_id, run_id]
    await handle.signal(Counter.release)
    assert [await h.result() for h in held] == [21, 21]
    await handle.signal(Counter.finish)
    assert await handle.result() == 21, "each update id ran once"

    # An update its validator rejects: the update fails, the workflow stays started.
    rejected_id = f"uws-rejected-{uuid.uuid4()}"
    rejected = with_start(rejected_id, queue, WorkflowIDConflictPolicy.FAIL)
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await client.execute_update_with_start_workflow(
            Counter.add, -1, id="bad", start_workflow_operation=rejected
        )
    assert "cannot add -1" in str(failed.value.cause)
    rejected_handle = await rejected.workflow_handle()
    assert (await rejected_handle.describe()).status == WorkflowExecutionStatus.RUNNING

    # TERMINATE_EXISTING: the running workflow is terminated, the update goes to a new run.
    replacing = with_start(rejected_id, queue, WorkflowIDConflictPolicy.TERMINATE_EXISTING)
    assert await client.execute_update_with_start_workflow(
        Counter.add, 4, id="fresh", start_workflow_operation=replacing
    ) == 4
    replaced = await replacing.workflow_handle()
    assert replaced.result_run_id != rejected_handle.result_run_id
    old_run = client.get_workflow_handle(rejected_id, run_id=rejected_handle.result_run_id)
    assert (await old_run.describe()).status == WorkflowExecutionStatus.TERMINATED
    await replaced.terminate()


async def raw_requests(client: Client, queue: str) -> None:
    namespace = client.namespace
    service = client.workflow_service

    async def start(wid: str) -> StartWorkflowExecutionRequest:
        return StartWorkflowExecutionRequest(
            namespace=namespace,
            workflow_id=wid,
            workflow_type=WorkflowType(name="Counter"),
            task_queue=TaskQueue(name=queue),
            request_id=str(uuid.uuid4()),
            workflow_id_conflict_policy=RawConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
        )

    async def update(wid: str, n: int, **extra) -> UpdateWorkflowExecutionRequest:
        args = Payloads(payloads=await client.data_converter.encode([n]))
        return UpdateWorkflowExecutionRequest(
            namespace=namespace,
            workflow_execution=WorkflowExecution(workflow_id=wid, run_id=extra.pop("run_id", "")),
            request=Request(meta=Meta(update_id=str(uuid.uuid4())), input=Input(name="add", args=args)),
            wait_policy=WaitPolicy(lifecycle_stage=COMPLETED),
            **extra,
        )

    async def refused(operations: list) -> RPCError:
        with pytest.raises(RPCError) as error:
            await service.execute_multi_operation(
                ExecuteMultiOperationRequest(namespace=namespace, operations=operations)
            )
        return error.value

    def statuses(error: RPCError) -> list:
        failure = MultiOperationExecutionFailure()
        assert error.grpc_status.details[0].Unpack(failure), error
        aborted = [bool(s.details) and s.details[0].Is(MultiOperationExecutionAborted.DESCRIPTOR) for s in failure.statuses]
        return [(RPCStatusCode(s.code), a) for s, a in zip(failure.statuses, aborted)]

    def messages(error: RPCError) -> list:
        failure = MultiOperationExecutionFailure()
        assert error.grpc_status.details[0].Unpack(failure), error
        return [error.message] + [s.message for s in failure.statuses]

    aborted = "Operation was aborted."
    not_executed = "Update-with-Start could not be executed."

    wid = f"uws-raw-{uuid.uuid4()}"
    not_start_and_update = "Operations have to be exactly [Start, Update]."
    for operations in [
        [],
        [Op(start_workflow=await start(wid))],
        [Op(update_workflow=await update(wid, 1)), Op(start_workflow=await start(wid))],
    ]:
        error = await refused(operations)
        assert (error.status, error.message) == (RPCStatusCode.INVALID_ARGUMENT, not_start_and_update)

    # Per-operation failures: the failing one has its status, the other is aborted.
    error = await refused([Op(start_workflow=await start(wid)), Op(update_workflow=await update("other", 1))])
    assert error.status == RPCStatusCode.INVALID_ARGUMENT
    assert statuses(error) == [(RPCStatusCode.ABORTED, True), (RPCStatusCode.INVALID_ARGUMENT, False)]
    assert messages(error) == [not_executed, aborted, "WorkflowId is not consistent with previous operation(s)."]
    error = await refused([Op(start_workflow=await start(wid)), Op(update_workflow=await update(wid, 1, first_execution_run_id="x"))])
    assert statuses(error) == [(RPCStatusCode.ABORTED, True), (RPCStatusCode.INVALID_ARGUMENT, False)]
    assert messages(error) == [not_executed, aborted, "FirstExecutionRunId is not allowed."]
    no_type = await start(wid)
    no_type.ClearField("workflow_type")
    error = await refused([Op(start_workflow=no_type), Op(update_workflow=await update(wid, 1))])
    assert statuses(error) == [(RPCStatusCode.INVALID_ARGUMENT, False), (RPCStatusCode.ABORTED, True)]
    assert messages(error) == [not_executed, "WorkflowType is not set on request.", aborted]

    # Still serving, and nothing was started by the refused requests.
    with pytest.raises(RPCError) as missing:
        await client.get_workflow_handle(wid).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND
    response = await service.execute_multi_operation(
        ExecuteMultiOperationRequest(
            namespace=namespace,
            operations=[Op(start_workflow=await start(wid)), Op(update_workflow=await update(wid, 7))],
        )
    )
    started, updated = response.responses[0].start_workflow, response.responses[1].update_workflow
    assert started.run_id and started.started
    assert updated.stage == COMPLETED
    assert (await client.data_converter.decode(updated.outcome.success.payloads)) == [7]
    assert updated.update_ref.workflow_execution.run_id == started.run_id

    # FAIL against the running workflow: ALREADY_EXISTS for the start, the update aborted.
    error = await refused([Op(start_workflow=await start(wid)), Op(update_workflow=await update(wid, 1))])
    assert error.status == RPCStatusCode.ALREADY_EXISTS
    assert statuses(error) == [(RPCStatusCode.ALREADY_EXISTS, False), (RPCStatusCode.ABORTED, True)]
    running = f"Workflow execution is already running. WorkflowId: {wid}, RunId: {started.run_id}."
    assert messages(error) == [not_executed, running, aborted]
    await client.get_workflow_handle(wid).terminate()


@pytest.mark.backends("temporal", "engine")
def test_update_with_start(server: Server) -> None:

    async def scenario(client: Client) -> None:
        queue = f"py-uws-{uuid.uuid4()}"
        async with Worker(client, task_queue=queue, workflows=[Counter]):
            await scenarios(client, queue)
            await raw_requests(client, queue)

    server.run(scenario)


async def closed_with_update_in_flight(client: Client) -> None:
    """A workflow closed while its update was still in flight: an update-with-start naming
    the same update id never attaches to it, whatever the conflict policy; ALLOW_DUPLICATE
    starts a new run and runs the update there, REJECT_DUPLICATE refuses."""
    queue = f"py-uws-closed-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[Quick]):
        for conflict in [WorkflowIDConflictPolicy.USE_EXISTING, WorkflowIDConflictPolicy.FAIL]:
            for reuse in [WorkflowIDReusePolicy.ALLOW_DUPLICATE, WorkflowIDReusePolicy.REJECT_DUPLICATE]:
                wid = f"uws-closed-{uuid.uuid4()}"

                def op() -> WithStartWorkflowOperation:
                    return WithStartWorkflowOperation(
                        Quick.run, id=wid, task_queue=queue, id_conflict_policy=conflict, id_reuse_policy=reuse
                    )

                first = op()
                await client.start_update_with_start_workflow(
                    Quick.stay, True, id="same", start_workflow_operation=first,
                    wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                )
                first_handle = await first.workflow_handle()
                closed_run = await first_handle.result()
                assert (await first_handle.describe()).status == WorkflowExecutionStatus.COMPLETED
                second = op()
                if reuse == WorkflowIDReusePolicy.ALLOW_DUPLICATE:
                    ran_in = await client.execute_update_with_start_workflow(
                        Quick.stay, False, id="same", start_workflow_operation=second
                    )
                    assert ran_in != closed_run, (conflict, reuse)
                    assert (await second.workflow_handle()).first_execution_run_id == ran_in
                else:
                    with pytest.raises(WorkflowAlreadyStartedError):
                        await client.execute_update_with_start_workflow(
                            Quick.stay, False, id="same", start_workflow_operation=second
                        )
                    with pytest.raises(WorkflowAlreadyStartedError):
                        await second.workflow_handle()


def test_update_with_start_on_a_closed_workflow(server: Server) -> None:
    server.run(closed_with_update_in_flight)
