"""Batch operations (`StartBatchOperation`, `DescribeBatchOperation`,
`ListBatchOperations`, `StopBatchOperation`) through the official Python SDK's raw service
and the `temporal` CLI (`workflow terminate|delete|reset --query ... --yes`), on both
backends: the real dev server (.venv/bin/temporal, the oracle) and our engine binary. No
worker runs, except for reset: the targets are runs waiting for their first workflow task.
"""

import asyncio
import subprocess
import time
import uuid

import pytest
from temporalio import workflow
from temporalio.api.batch.v1 import BatchOperationSignal, BatchOperationTermination
from temporalio.api.common.v1 import WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import (
    BatchOperationState,
    BatchOperationType,
    EventType,
    WorkflowExecutionStatus,
)
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    CountWorkflowExecutionsRequest,
    DescribeBatchOperationRequest,
    DescribeWorkflowExecutionRequest,
    GetWorkflowExecutionHistoryRequest,
    ListBatchOperationsRequest,
    StartBatchOperationRequest,
    StartWorkflowExecutionRequest,
    StopBatchOperationRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from backends import Server, backend_binary

S = RPCStatusCode
RUNNING = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
TERMINATED = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED


async def refused(call, status: RPCStatusCode, message: str) -> None:
    with pytest.raises(RPCError) as error:
        await call
    assert (error.value.status, error.value.message) == (status, message)


async def start_runs(client: Client, kind: str, count: int) -> list:
    ids = [f"{kind}-{i}" for i in range(count)]
    for wid in ids:
        await client.workflow_service.start_workflow_execution(
            StartWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_id=wid,
                workflow_type=WorkflowType(name=kind),
                task_queue=TaskQueue(name=f"batch-{uuid.uuid4()}"),
                request_id=str(uuid.uuid4()),
            )
        )
    return ids


async def visible(client: Client, query: str, count: int) -> None:
    """Waits until visibility shows `count` runs for `query` (the dev server's lags)."""
    deadline = time.monotonic() + 10
    while True:
        counted = await client.workflow_service.count_workflow_executions(
            CountWorkflowExecutionsRequest(namespace=client.namespace, query=query)
        )
        if counted.count == count:
            return
        assert time.monotonic() < deadline, f"{query}: {counted.count} runs, not {count}"
        await asyncio.sleep(0.2)


async def status(client: Client, wid: str):
    described = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=wid)
        )
    )
    return described.workflow_execution_info.status


async def closed(client: Client, job_id: str):
    deadline = time.monotonic() + 20
    while True:
        job = await client.workflow_service.describe_batch_operation(
            DescribeBatchOperationRequest(namespace=client.namespace, job_id=job_id)
        )
        if job.state != BatchOperationState.BATCH_OPERATION_STATE_RUNNING:
            return job
        assert time.monotonic() < deadline, f"batch {job_id} still running: {job}"
        await asyncio.sleep(0.2)


async def terminate_by_query(client: Client) -> None:
    service, ns = client.workflow_service, client.namespace
    kind = f"Batch{uuid.uuid4().hex[:8]}"
    ids = await start_runs(client, kind, 5)
    query = f"WorkflowType = '{kind}'"
    await visible(client, query, 5)
    job_id = f"terminate-{uuid.uuid4()}"
    await service.start_batch_operation(
        StartBatchOperationRequest(
            namespace=ns,
            job_id=job_id,
            visibility_query=query,
            reason="cleaning up",
            termination_operation=BatchOperationTermination(identity="operator"),
        )
    )
    job = await closed(client, job_id)
    assert job.state == BatchOperationState.BATCH_OPERATION_STATE_COMPLETED
    assert job.operation_type == BatchOperationType.BATCH_OPERATION_TYPE_TERMINATE_WORKFLOW
    assert (job.total_operation_count, job.complete_operation_count, job.failure_operation_count) == (5, 5, 0)
    assert (job.reason, job.query) == ("cleaning up", query)
    assert job.start_time.seconds > 0 and job.close_time.seconds > 0
    for wid in ids:
        assert await status(client, wid) == TERMINATED, wid
    listed = await service.list_batch_operations(ListBatchOperationsRequest(namespace=ns))
    assert job_id in [info.job_id for info in listed.operation_info]
    await refused(
        service.describe_batch_operation(DescribeBatchOperationRequest(namespace=ns, job_id="nope")),
        S.NOT_FOUND,
        "workflow not found for ID: nope",
    )
    await refused(
        service.stop_batch_operation(StopBatchOperationRequest(namespace=ns, job_id=job_id, reason="late")),
        S.NOT_FOUND,
        "workflow execution already completed",
    )
    await refused(
        service.start_batch_operation(
            StartBatchOperationRequest(namespace=ns, job_id="no-operation", visibility_query=query, reason="r")
        ),
        S.INVALID_ARGUMENT,
        "must provide required parameters: BatchType,Reason,Namespace, AND one of (Query OR Executions OR TargetExecutions)",
    )


async def signal_then_stop(client: Client) -> None:
    """A signal batch over a list of executions delivers its signal; a long job blocks a
    second one (one at a time per namespace) until it is stopped, which fails it."""
    service, ns = client.workflow_service, client.namespace
    kind = f"Signal{uuid.uuid4().hex[:8]}"
    ids = await start_runs(client, kind, 2)
    job_id = f"signal-{uuid.uuid4()}"
    await service.start_batch_operation(
        StartBatchOperationRequest(
            namespace=ns,
            job_id=job_id,
            executions=[WorkflowExecution(workflow_id=wid) for wid in ids],
            reason="nudge",
            signal_operation=BatchOperationSignal(signal="nudge", identity="operator"),
        )
    )
    job = await closed(client, job_id)
    assert job.state == BatchOperationState.BATCH_OPERATION_STATE_COMPLETED
    assert job.operation_type == BatchOperationType.BATCH_OPERATION_TYPE_SIGNAL_WORKFLOW
    for wid in ids:
        history = await service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(namespace=ns, execution=WorkflowExecution(workflow_id=wid))
        )
        signals = [e for e in history.history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED]
        assert [e.workflow_execution_signaled_event_attributes.signal_name for e in signals] == ["nudge"], wid

    long_job = f"long-{uuid.uuid4()}"
    await service.start_batch_operation(
        StartBatchOperationRequest(
            namespace=ns,
            job_id=long_job,
            executions=[WorkflowExecution(workflow_id=ids[i % 2]) for i in range(300)],
            reason="many",
            max_operations_per_second=1,
            signal_operation=BatchOperationSignal(signal="again"),
        )
    )
    # The dev server counts running jobs through visibility, a moment later.
    await asyncio.sleep(1)
    await refused(
        service.start_batch_operation(
            StartBatchOperationRequest(
                namespace=ns,
                job_id=f"second-{uuid.uuid4()}",
                executions=[WorkflowExecution(workflow_id=ids[0])],
                reason="too many",
                termination_operation=BatchOperationTermination(),
            )
        ),
        S.RESOURCE_EXHAUSTED,
        "Max concurrent batch operations is reached",
    )
    await service.stop_batch_operation(StopBatchOperationRequest(namespace=ns, job_id=long_job, reason="enough"))
    job = await closed(client, long_job)
    assert job.state == BatchOperationState.BATCH_OPERATION_STATE_FAILED
    assert job.close_time.seconds > 0
    assert job.complete_operation_count < 300


def cli(client: Client, command: str, query: str, *extra: str) -> str:
    """Runs `temporal workflow <command> --query <query> --yes` and returns the job id it
    printed."""
    done = subprocess.run(
        [backend_binary("temporal"), "workflow", command, "--query", query, "--yes", *extra,
         "--address", client.service_client.config.target_host],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Started batch for job ID" in done.stdout, done.stdout
    return done.stdout.split("Started batch for job ID:")[1].split()[0]


async def cli_async(client: Client, command: str, query: str, *extra: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(None, cli, client, command, query, *extra)


async def cli_batch(client: Client) -> None:
    kind = f"Cli{uuid.uuid4().hex[:8]}"
    ids = await start_runs(client, kind, 4)
    query = f"WorkflowType = '{kind}'"
    await visible(client, query, 4)
    await cli_async(client, "terminate", query, "--reason", "cli")
    deadline = time.monotonic() + 20
    while [await status(client, wid) for wid in ids] != [TERMINATED] * 4:
        assert time.monotonic() < deadline, "the CLI's batch did not terminate every run"
        await asyncio.sleep(0.2)


async def cli_delete(client: Client) -> None:
    """`temporal workflow delete --query`: every matching run goes, closed ones too (the
    job counts them)."""
    service, ns = client.workflow_service, client.namespace
    kind = f"Delete{uuid.uuid4().hex[:8]}"
    ids = await start_runs(client, kind, 3)
    await client.get_workflow_handle(ids[0]).terminate("closed first")
    query = f"WorkflowType = '{kind}'"
    await visible(client, query, 3)
    job_id = await cli_async(client, "delete", query)
    job = await closed(client, job_id)
    assert job.state == BatchOperationState.BATCH_OPERATION_STATE_COMPLETED
    assert job.operation_type == BatchOperationType.BATCH_OPERATION_TYPE_DELETE_WORKFLOW
    assert (job.total_operation_count, job.complete_operation_count, job.failure_operation_count) == (3, 3, 0)
    # The dev server deletes in the background, a moment after the job; a run that was
    # already closed only half a minute later, so only the running ones are checked.
    for wid in ids[1:]:
        deadline = time.monotonic() + 10
        while True:
            try:
                await service.describe_workflow_execution(
                    DescribeWorkflowExecutionRequest(namespace=ns, execution=WorkflowExecution(workflow_id=wid))
                )
            except RPCError as error:
                assert (error.status, error.message) == (S.NOT_FOUND, f"workflow not found for ID: {wid}")
                break
            assert time.monotonic() < deadline, f"{wid} was not deleted"
            await asyncio.sleep(0.2)


@workflow.defn(name="BatchWaiter")
class Waiter:
    def __init__(self) -> None:
        self.done = False

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.done)
        return "done"


async def cli_reset(client: Client) -> None:
    """`temporal workflow reset --query --type FirstWorkflowTask`: each matching run starts
    again from its first workflow task as a new run, and the old one is terminated."""
    queue = f"reset-{uuid.uuid4()}"
    tag = uuid.uuid4().hex[:8]
    async with Worker(client, task_queue=queue, workflows=[Waiter]):
        handles = [
            await client.start_workflow(Waiter.run, id=f"reset-{tag}-{i}", task_queue=queue)
            for i in range(3)
        ]
        for handle in handles:
            deadline = time.monotonic() + 10
            while (await handle.describe()).raw_description.workflow_execution_info.history_length < 4:
                assert time.monotonic() < deadline, "the first workflow task did not complete"
                await asyncio.sleep(0.1)
        query = f"WorkflowId STARTS_WITH 'reset-{tag}-'"
        await visible(client, query, 3)
        job_id = await cli_async(client, "reset", query, "--type", "FirstWorkflowTask", "--reason", "again")
        job = await closed(client, job_id)
        assert job.state == BatchOperationState.BATCH_OPERATION_STATE_COMPLETED
        assert job.operation_type == BatchOperationType.BATCH_OPERATION_TYPE_RESET_WORKFLOW
        assert (job.total_operation_count, job.complete_operation_count, job.failure_operation_count) == (3, 3, 0)
        for handle in handles:
            old = await client.get_workflow_handle(handle.id, run_id=handle.result_run_id).describe()
            assert old.status.name == "TERMINATED", old.status
            current = client.get_workflow_handle(handle.id)
            assert (await current.describe()).run_id != handle.result_run_id
            await current.signal(Waiter.finish)
            assert await current.result() == "done"


async def scenario(client: Client) -> None:
    await terminate_by_query(client)
    await signal_then_stop(client)
    await cli_batch(client)
    await cli_delete(client)
    await cli_reset(client)


def test_batch_operations(server: Server) -> None:
    server.run(scenario)
