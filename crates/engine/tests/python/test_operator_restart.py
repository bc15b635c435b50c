"""What an operator set up survives a restart of the server, on the real dev server
(.venv/bin/temporal, the oracle, restarted on the same database file) and on our engine on
SQLite and on PostgreSQL: a batch job that was running carries on and completes, a finished
one is still listed and described, and a task queue's rate limit (`UpdateTaskQueueConfig`)
reads back with its metadata and still holds dispatch to its rate.
"""

import asyncio
import time
import uuid

from temporalio.api.batch.v1 import BatchOperationSignal
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import BatchOperationState, EventType
from temporalio.api.workflowservice.v1 import (
    DescribeBatchOperationRequest,
    GetWorkflowExecutionHistoryRequest,
    ListBatchOperationsRequest,
    StartBatchOperationRequest,
)
from temporalio.client import Client
from temporalio.worker import Worker

from backends import start_env
from test_batch import closed, start_runs
from test_task_queues import ONE_PARTITION, Fanout, rate_limit_holds, set_rate_limit, stamp

COMPLETED = BatchOperationState.BATCH_OPERATION_STATE_COMPLETED
RUNNING = BatchOperationState.BATCH_OPERATION_STATE_RUNNING
LONG_JOB_RUNS = 24


async def signal_job(client: Client, job_id: str, ids: list, count: int, signal: str, rps: float = 0) -> None:
    await client.workflow_service.start_batch_operation(
        StartBatchOperationRequest(
            namespace=client.namespace,
            job_id=job_id,
            executions=[WorkflowExecution(workflow_id=wid) for wid in ids[:count]],
            reason=signal,
            max_operations_per_second=rps,
            signal_operation=BatchOperationSignal(signal=signal, identity="operator"),
        )
    )


async def signals(client: Client, wid: str, name: str) -> int:
    history = await client.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(namespace=client.namespace, execution=WorkflowExecution(workflow_id=wid))
    )
    signaled = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    return sum(
        1 for e in history.history.events
        if e.event_type == signaled and e.workflow_execution_signaled_event_attributes.signal_name == name
    )


async def before(client: Client, backend: str, tag: str) -> None:
    await set_rate_limit(client, f"tq-{tag}")
    ids = await start_runs(client, f"Restart{tag}", LONG_JOB_RUNS)
    await signal_job(client, f"done-{tag}", ids, 2, "first")
    assert (await closed(client, f"done-{tag}")).state == COMPLETED
    await signal_job(client, f"long-{tag}", ids, LONG_JOB_RUNS, "again", rps=4)
    if backend == "temporal":
        # The dev server reports counts only once a job closes; it may also finish first.
        await asyncio.sleep(1)
        return
    # The engine stops in the middle of the job.
    deadline = time.monotonic() + 10
    while True:
        job = await client.workflow_service.describe_batch_operation(
            DescribeBatchOperationRequest(namespace=client.namespace, job_id=f"long-{tag}")
        )
        if job.complete_operation_count >= 2:
            break
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.1)
    assert job.state == RUNNING and job.complete_operation_count < LONG_JOB_RUNS, job


async def after(client: Client, tag: str) -> None:
    service, ns = client.workflow_service, client.namespace
    listed = await service.list_batch_operations(ListBatchOperationsRequest(namespace=ns))
    jobs = {info.job_id: info for info in listed.operation_info}
    assert {f"done-{tag}", f"long-{tag}"} <= set(jobs), jobs
    assert jobs[f"done-{tag}"].state == COMPLETED
    done = await service.describe_batch_operation(DescribeBatchOperationRequest(namespace=ns, job_id=f"done-{tag}"))
    assert (done.state, done.total_operation_count, done.complete_operation_count) == (COMPLETED, 2, 2)
    assert done.reason == "first" and done.close_time.seconds > 0

    long = await closed(client, f"long-{tag}")
    assert long.state == COMPLETED, long
    assert (long.total_operation_count, long.complete_operation_count, long.failure_operation_count) == (
        LONG_JOB_RUNS, LONG_JOB_RUNS, 0,
    )
    ids = [f"Restart{tag}-{i}" for i in range(LONG_JOB_RUNS)]
    # Every run was signalled; one in flight at the stop may have been signalled twice.
    sent = [await signals(client, wid, "again") for wid in ids]
    assert min(sent) >= 1 and sum(sent) <= LONG_JOB_RUNS + 1, sent
    assert [await signals(client, wid, "first") for wid in ids[:2]] == [1, 1]

    queue = f"tq-{tag}"
    async with Worker(client, task_queue=queue, workflows=[Fanout], activities=[stamp],
                      disable_eager_activity_execution=True):
        await rate_limit_holds(client, queue)


def test_batch_jobs_and_queue_config_survive_a_restart(backend: str, database: str) -> None:
    tag = uuid.uuid4().hex[:8]

    async def run() -> None:
        async with await start_env(backend, database, ONE_PARTITION) as env:
            await before(env.client, backend, tag)
        async with await start_env(backend, database, ONE_PARTITION) as env:
            await after(env.client, tag)

    asyncio.run(run())
