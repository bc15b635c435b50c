"""Priorities order dispatch: 50 low-priority (key 5) then 5 high-priority (key 1)
workflows started on a queue nobody polls; a worker that takes one workflow task at a time
then starts the five high ones first: by the time they have completed (the worker stops
then), no low one had started before them (the dev server keeps only roughly to FIFO
within a band, so the test does not ask for more). Describe reports the backlog per priority key. On
every backend: the real dev server (.venv/bin/temporal, the oracle, with one partition per
queue so that one poller sees the whole backlog) and our engine on SQLite and PostgreSQL.
"""

import asyncio
import time
import uuid

from temporalio import workflow
from temporalio.api.common.v1 import Priority as RawPriority, WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    GetWorkflowExecutionHistoryRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.worker import Worker

from backends import Server

ONE_PARTITION = [
    "--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
    "--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
]


@workflow.defn
class Prioritised:
    @workflow.run
    async def run(self) -> None:
        return None


async def start(client: Client, queue: str, wid: str, key: int) -> None:
    await client.workflow_service.start_workflow_execution(
        StartWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_id=wid,
            workflow_type=WorkflowType(name="Prioritised"),
            task_queue=TaskQueue(name=queue),
            request_id=str(uuid.uuid4()),
            priority=RawPriority(priority_key=key),
        )
    )


async def first_task_started(client: Client, wid: str) -> tuple | None:
    """When the run's first workflow task started, if it has."""
    history = await client.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(namespace=client.namespace, execution=WorkflowExecution(workflow_id=wid))
    )
    started = next(
        (e for e in history.history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED), None
    )
    return started and (started.event_time.seconds, started.event_time.nanos)


async def scenario(client: Client) -> None:
    queue = f"prio-{uuid.uuid4()}"
    low = [f"low-{i}-{uuid.uuid4()}" for i in range(50)]
    high = [f"high-{i}-{uuid.uuid4()}" for i in range(5)]
    for wid in low:
        await start(client, queue, wid, 5)
    for wid in high:
        await start(client, queue, wid, 1)

    deadline = time.monotonic() + 20
    while True:
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace, task_queue=TaskQueue(name=queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, report_stats=True,
            )
        )
        by_key = {k: v.approximate_backlog_count for k, v in described.stats_by_priority_key.items()}
        if by_key.get(1) == 5 and by_key.get(5) == 50:
            break
        assert time.monotonic() < deadline, f"backlog by priority: {by_key}"
        await asyncio.sleep(0.2)

    async with Worker(
        client, task_queue=queue, workflows=[Prioritised],
        max_concurrent_workflow_tasks=1, max_concurrent_workflow_task_polls=1, max_cached_workflows=0,
    ):
        # The five high ones complete; the worker stops before it works through the rest.
        await asyncio.wait_for(
            asyncio.gather(*(client.get_workflow_handle(wid).result() for wid in high)), timeout=60
        )
    high_started = [await first_task_started(client, wid) for wid in high]
    low_started = [when for when in [await first_task_started(client, wid) for wid in low] if when]
    # Every run whose first task started did so after all five high ones: the first five
    # to start were the high ones.
    assert all(when > max(high_started) for when in low_started), (high_started, low_started)
    assert len(low_started) < len(low)


def test_high_priority_runs_first(server: Server) -> None:
    server.run(scenario, ONE_PARTITION if server.backend == "temporal" else None)
