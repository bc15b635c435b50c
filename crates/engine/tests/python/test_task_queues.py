"""Task queues as an operator sees them, through the official Python SDK's raw service and
the `temporal` CLI, on both backends: the real dev server (.venv/bin/temporal, the oracle)
and our engine binary. `DescribeTaskQueue` shows a running worker's pollers (also through
`temporal task-queue describe`) and, with `report_stats`, the backlog of a queue nobody
polls; `ListTaskQueuePartitions` names the queue; `UpdateTaskQueueConfig` sets a queue rate
limit that describe reads back and that dispatch honours.
"""

import asyncio
import subprocess
import time
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.api.common.v1 import WorkflowType
from temporalio.api.enums.v1 import RateLimitSource, TaskQueueType
from temporalio.api.taskqueue.v1 import RateLimit, TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    ListTaskQueuePartitionsRequest,
    StartWorkflowExecutionRequest,
    UpdateTaskQueueConfigRequest,
)
from temporalio.client import Client
from temporalio.worker import Worker

from backends import Server, backend_binary

WORKFLOW = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
ACTIVITY = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY


@activity.defn
async def stamp() -> float:
    return time.time()


@workflow.defn
class Fanout:
    @workflow.run
    async def run(self, count: int) -> list:
        return await asyncio.gather(
            *[
                workflow.execute_activity(stamp, start_to_close_timeout=timedelta(seconds=60))
                for _ in range(count)
            ]
        )


async def describe(client: Client, queue: str, ty=WORKFLOW, **options):
    return await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=queue), task_queue_type=ty, **options
        )
    )


async def pollers_and_cli(client: Client, queue: str, identity: str) -> None:
    deadline = time.monotonic() + 15
    while True:
        described = await describe(client, queue)
        if identity in [p.identity for p in described.pollers]:
            break
        assert time.monotonic() < deadline, f"no poller {identity}: {described}"
        await asyncio.sleep(0.2)
    poller = next(p for p in described.pollers if p.identity == identity)
    assert abs(poller.last_access_time.seconds - time.time()) < 120
    assert poller.rate_per_second > 0
    activities = await describe(client, queue, ACTIVITY)
    assert identity in [p.identity for p in activities.pollers]

    cli = backend_binary("temporal")
    shown = await asyncio.get_running_loop().run_in_executor(
        None,
        lambda: subprocess.run(
            [cli, "task-queue", "describe", "--task-queue", queue,
             "--address", client.service_client.config.target_host],
            capture_output=True, text=True, timeout=60,
        ),
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert identity in shown.stdout, shown.stdout


async def backlog_and_partitions(client: Client) -> None:
    queue = f"idle-{uuid.uuid4()}"
    for _ in range(3):
        await client.workflow_service.start_workflow_execution(
            StartWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_id=f"backlog-{uuid.uuid4()}",
                workflow_type=WorkflowType(name="Nobody"),
                task_queue=TaskQueue(name=queue),
                request_id=str(uuid.uuid4()),
            )
        )
    deadline = time.monotonic() + 15
    while True:
        stats = (await describe(client, queue, report_stats=True)).stats
        if stats.approximate_backlog_count == 3:
            break
        assert time.monotonic() < deadline, f"backlog: {stats}"
        await asyncio.sleep(0.2)
    assert stats.tasks_add_rate > 0
    assert stats.tasks_dispatch_rate == 0
    partitions = await client.workflow_service.list_task_queue_partitions(
        ListTaskQueuePartitionsRequest(namespace=client.namespace, task_queue=TaskQueue(name=queue))
    )
    assert partitions.workflow_task_queue_partitions[0].key == queue
    assert partitions.activity_task_queue_partitions[0].key == queue


# The dev server splits a task queue into four partitions, each with its share of the
# queue's rate limit and its own pollers; the engine has one. With one partition on both,
# the limit and describe's pollers mean the same thing on each.
ONE_PARTITION = [
    "--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
    "--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
]


async def set_rate_limit(client: Client, queue: str) -> None:
    """Limits `queue`'s activities to two a second."""
    limit = UpdateTaskQueueConfigRequest.RateLimitUpdate(
        rate_limit=RateLimit(requests_per_second=2), reason="slow down"
    )
    updated = await client.workflow_service.update_task_queue_config(
        UpdateTaskQueueConfigRequest(
            namespace=client.namespace, identity="operator", task_queue=queue,
            task_queue_type=ACTIVITY, update_queue_rate_limit=limit,
        )
    )
    assert updated.config.queue_rate_limit.rate_limit.requests_per_second == 2


async def rate_limit_holds(client: Client, queue: str) -> None:
    """The limit `set_rate_limit` set reads back, and dispatch honours it (a worker for
    `Fanout` polls `queue`)."""
    described = await describe(client, queue, ACTIVITY, report_config=True)
    config = described.config.queue_rate_limit
    assert config.rate_limit.requests_per_second == 2
    assert (config.metadata.reason, config.metadata.update_identity) == ("slow down", "operator")
    assert described.effective_rate_limit.requests_per_second == 2
    assert described.effective_rate_limit.rate_limit_source == RateLimitSource.RATE_LIMIT_SOURCE_API

    # Eight activities at two a second: at least two seconds from the first to the last
    # start whatever burst the server allows (the real server lets about three go at once);
    # unlimited, they start together.
    stamps = await client.execute_workflow(Fanout.run, 8, id=f"fanout-{uuid.uuid4()}", task_queue=queue)
    assert max(stamps) - min(stamps) >= 2.0, stamps


async def scenario(client: Client) -> None:
    queue = f"tq-{uuid.uuid4()}"
    identity = f"worker-{uuid.uuid4().hex[:8]}"
    # Eager activities skip matching, and with it the queue's rate limit, on the real server.
    async with Worker(client, task_queue=queue, workflows=[Fanout], activities=[stamp], identity=identity,
                      disable_eager_activity_execution=True):
        await pollers_and_cli(client, queue, identity)
        await backlog_and_partitions(client)
        await set_rate_limit(client, queue)
        await rate_limit_holds(client, queue)


def test_task_queues(server: Server) -> None:
    server.run(scenario, ONE_PARTITION)
