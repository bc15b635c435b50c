"""The real server's per-workflow limits through the official Python SDK, on both backends
(the real dev server, the oracle, and our engine), each started with the same small limits
through `--dynamic-config-value`: payload and memo sizes on every path, pending activities,
signals per run, history length and size, and the 4 MiB request limit. After each breach the
server is still up and the workflows beside it are unaffected.

The worker runs with `disable_payload_error_limit`, so the SDK sends what it would otherwise
refuse itself (it reads the limits from DescribeNamespace) and the server's checks are the
ones exercised.
"""

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from backends import Server

LIMITS = {
    "limit.blobSize.warn": 1000,
    "limit.blobSize.error": 2000,
    "limit.memoSize.warn": 1000,
    "limit.memoSize.error": 2000,
    "limit.numPendingActivities.error": 2,
    "history.maximumSignalsPerExecution": 5,
    "limit.historyCount.error": 40,
    "limit.historySize.error": 9000,
}
BIG = "x" * 3000
WAIT = timedelta(seconds=20)


@activity.defn
async def big_result() -> str:
    return BIG


@activity.defn
async def big_failure() -> str:
    raise ApplicationError(BIG)


@activity.defn
async def small() -> str:
    return "ok"


@workflow.defn
class CallsActivity:
    @workflow.run
    async def run(self, name: str) -> str:
        try:
            await workflow.execute_activity(
                name,
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(maximum_attempts=3, initial_interval=timedelta(milliseconds=10)),
            )
            return "completed"
        except ActivityError as e:
            return f"{type(e.cause).__name__}: {e.cause.message}"


@workflow.defn
class ManyActivities:
    @workflow.run
    async def run(self, count: int) -> None:
        opts = dict(start_to_close_timeout=timedelta(seconds=10))
        await asyncio.gather(*(workflow.execute_activity(small, **opts) for _ in range(count)))


@workflow.defn
class ReturnsBig:
    @workflow.run
    async def run(self) -> str:
        return BIG


@workflow.defn
class Sleeper:
    @workflow.run
    async def run(self, times: int) -> int:
        for _ in range(times):
            await asyncio.sleep(0.01)
        return times


@workflow.defn
class Inbox:
    def __init__(self) -> None:
        self.received: list[str] = []

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: "done" in self.received)
        return len(self.received)

    @workflow.signal
    def add(self, value: str) -> None:
        self.received.append(value)

    @workflow.query
    def count(self, _arg: str) -> int:
        return len(self.received)


async def refused(call) -> RPCError:
    with pytest.raises(RPCError) as caught:
        await call
    return caught.value


async def events(client: Client, workflow_id: str) -> list:
    return (await client.get_workflow_handle(workflow_id).fetch_history()).events


async def wait_status(client: Client, workflow_id: str, status: WorkflowExecutionStatus) -> None:
    handle = client.get_workflow_handle(workflow_id)
    for _ in range(200):
        if (await handle.describe()).status == status:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"{workflow_id} never reached {status}")


def terminated_reason(history: list) -> str:
    last = history[-1]
    assert last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED, last
    attributes = last.workflow_execution_terminated_event_attributes
    assert attributes.identity == "history-service"
    return attributes.reason


async def request_payloads(client: Client, queue: str) -> None:
    wid = f"inbox-{uuid.uuid4()}"
    error = await refused(client.start_workflow(CallsActivity.run, BIG, id=f"big-{wid}", task_queue=queue))
    assert (error.status, error.message) == (RPCStatusCode.INVALID_ARGUMENT, "Blob data size exceeds limit.")
    error = await refused(client.start_workflow(Inbox.run, id=f"memo-{wid}", task_queue=queue, memo={"m": BIG}))
    assert (error.status, error.message) == (RPCStatusCode.INVALID_ARGUMENT, "Memo size exceeds limit.")

    handle = await client.start_workflow(Inbox.run, id=wid, task_queue=queue)
    error = await refused(handle.signal(Inbox.add, BIG))
    assert (error.status, error.message) == (RPCStatusCode.INVALID_ARGUMENT, "Blob data size exceeds limit.")
    # The SDK reads any INVALID_ARGUMENT of a query as a failed query.
    with pytest.raises(WorkflowQueryFailedError, match="^Blob data size exceeds limit.$"):
        await handle.query(Inbox.count, BIG)
    error = await refused(
        client.start_workflow(
            Inbox.run, id=f"sws-{wid}", task_queue=queue, start_signal="add", start_signal_args=[BIG]
        )
    )
    assert error.message == "Blob data size exceeds limit."
    # Over gRPC's 4 MiB a request is refused before it is read (RESOURCE_EXHAUSTED on the
    # real server, OUT_OF_RANGE here).
    error = await refused(handle.signal(Inbox.add, "y" * (5 * 1024 * 1024)))
    assert error.status in (RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.OUT_OF_RANGE)

    # Signals per run: five are taken, the sixth is refused.
    for value in ["a", "b", "c", "d"]:
        await handle.signal(Inbox.add, value)
    assert await handle.query(Inbox.count, "") == 4
    await handle.signal(Inbox.add, "done")
    error = await refused(handle.signal(Inbox.add, "late"))
    assert (error.status, error.message) == (
        RPCStatusCode.INVALID_ARGUMENT,
        "exceeded workflow execution limit for signal events",
    )
    assert await handle.result() == 5


async def activity_payloads(client: Client, queue: str) -> None:
    run = lambda name: client.execute_workflow(  # noqa: E731
        CallsActivity.run, name, id=f"act-{uuid.uuid4()}", task_queue=queue, execution_timeout=WAIT
    )
    assert await run("big_result") == "ServerError: Complete result exceeds size limit."
    assert await run("big_failure") == "ServerError: Failure exceeds size limit."
    assert await run("small") == "completed"


async def commands(client: Client, queue: str) -> None:
    # An oversized workflow result fails the task and terminates the run.
    wid = f"returns-big-{uuid.uuid4()}"
    await client.start_workflow(ReturnsBig.run, id=wid, task_queue=queue)
    await wait_status(client, wid, WorkflowExecutionStatus.TERMINATED)
    history = await events(client, wid)
    failed = [e for e in history if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    cause = WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_SCHEDULE_ACTIVITY_ATTRIBUTES
    assert [e.workflow_task_failed_event_attributes.cause for e in failed] == [cause]
    assert terminated_reason(history) == (
        "BadScheduleActivityAttributes: "
        "CompleteWorkflowExecutionCommandAttributes.Result exceeds size limit."
    )

    # Three activities at once, two allowed: the task fails with the limit's cause.
    wid = f"many-{uuid.uuid4()}"
    handle = await client.start_workflow(ManyActivities.run, 3, id=wid, task_queue=queue)
    cause = WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_PENDING_ACTIVITIES_LIMIT_EXCEEDED
    for _ in range(200):
        failed = [
            e.workflow_task_failed_event_attributes
            for e in await events(client, wid)
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
        ]
        if failed:
            break
        await asyncio.sleep(0.05)
    assert failed and failed[0].cause == cause, failed
    assert failed[0].failure.message == (
        "PendingActivitiesLimitExceeded: "
        "the number of pending activities, 2, has reached the per-workflow limit of 2"
    )
    await handle.terminate("test over")
    assert await client.execute_workflow(ManyActivities.run, 2, id=f"two-{uuid.uuid4()}", task_queue=queue) is None


async def history_limits(client: Client, queue: str) -> None:
    # Each sleep adds five events: past 40 the run is terminated.
    wid = f"sleeper-{uuid.uuid4()}"
    await client.start_workflow(Sleeper.run, 20, id=wid, task_queue=queue)
    await wait_status(client, wid, WorkflowExecutionStatus.TERMINATED)
    history = await events(client, wid)
    assert terminated_reason(history) == "Workflow history count exceeds limit."
    # The real server drops the change that crossed the limit before terminating; this
    # engine keeps it, so its history may be a few events longer.
    assert 40 <= len(history) <= 46, len(history)
    assert await client.execute_workflow(Sleeper.run, 3, id=f"short-{uuid.uuid4()}", task_queue=queue) == 3

    # Signals of 1,900 bytes each: past 9,000 bytes of history the run is terminated.
    wid = f"heavy-{uuid.uuid4()}"
    handle = await client.start_workflow(Inbox.run, id=wid, task_queue=queue)
    for _ in range(5):
        try:
            await handle.signal(Inbox.add, "z" * 1900)
        except RPCError:
            break
        await asyncio.sleep(0.2)
    await wait_status(client, wid, WorkflowExecutionStatus.TERMINATED)
    assert terminated_reason(await events(client, wid)) == "Workflow history size exceeds limit."


@pytest.mark.backends("temporal", "engine")
def test_limits(server: Server) -> None:
    args = [a for key, value in LIMITS.items() for a in ("--dynamic-config-value", f"{key}={value}")]

    async def scenario(client: Client) -> None:
        described = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace="default")
        )
        assert described.namespace_info.limits.blob_size_limit_error == 2000
        assert described.namespace_info.limits.memo_size_limit_error == 2000
        queue = f"py-limits-{uuid.uuid4()}"
        async with Worker(
            client,
            task_queue=queue,
            workflows=[CallsActivity, ManyActivities, ReturnsBig, Sleeper, Inbox],
            activities=[big_result, big_failure, small],
            disable_payload_error_limit=True,
        ):
            await request_payloads(client, queue)
            await activity_payloads(client, queue)
            await commands(client, queue)
            await history_limits(client, queue)

    server.run(scenario, args)
