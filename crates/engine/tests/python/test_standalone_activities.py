"""Standalone activity executions (`client.start_activity`, no workflow around them) through
the official Python SDK on the real dev server (.venv/bin/temporal, the oracle, which serves
them by default) and on our engine binary, on SQLite and on PostgreSQL: start and result, a
failure after retries, id conflict and reuse, cancel, terminate, describe, list and count by
query, delete, pause, unpause, reset and options, the `temporal activity` CLI (start,
complete by id, result, count), and an activity that waits for its worker across a restart
of the server.
"""

import asyncio
import subprocess
import time
import uuid
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import (
    ActivityExecutionStatus,
    PendingActivityState,
    RetryState,
)
from temporalio.api.workflowservice.v1 import (
    CountActivityExecutionsRequest,
    DeleteActivityExecutionRequest,
    ResetActivityExecutionRequest,
    DescribeActivityExecutionRequest,
    ListActivityExecutionsRequest,
    TerminateActivityExecutionRequest,
)
from temporalio.client import ActivityFailureError, ActivityOptionsKeys, Client
from temporalio.common import ActivityIDConflictPolicy, ActivityIDReusePolicy, RetryPolicy
from temporalio.exceptions import (
    ActivityAlreadyStartedError,
    ApplicationError,
    CancelledError,
    TerminatedError,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from backends import Server, backend_binary, start_env

TIMEOUT = timedelta(seconds=30)


@activity.defn
async def greet(name: str) -> str:
    assert activity.info().workflow_id is None, "a standalone activity has no workflow"
    return f"hello {name}"


@activity.defn
async def boom(name: str) -> str:
    raise RuntimeError(f"{name} {activity.info().attempt}")


@activity.defn
async def linger(name: str) -> str:
    """Heartbeats until canceled (or terminated: then its heartbeats are refused)."""
    while True:
        activity.heartbeat(name)
        await asyncio.sleep(0.2)


async def describe(client: Client, activity_id: str, **flags: bool):
    return await client.workflow_service.describe_activity_execution(
        DescribeActivityExecutionRequest(
            namespace=client.namespace, activity_id=activity_id, **flags
        )
    )


async def until(what, check, seconds: float = 20):
    """Calls `what()` until `check` holds of its answer (visibility may lag on the dev
    server); returns the answer."""
    deadline = time.monotonic() + seconds
    while True:
        answer = await what()
        if check(answer):
            return answer
        assert time.monotonic() < deadline, answer
        await asyncio.sleep(0.1)


async def count(client: Client, query: str = "") -> int:
    answer = await client.workflow_service.count_activity_executions(
        CountActivityExecutionsRequest(namespace=client.namespace, query=query)
    )
    return answer.count


def test_lifecycle(server: Server) -> None:
    queue = f"q-{uuid.uuid4().hex[:8]}"
    S = ActivityExecutionStatus

    async def scenario(client: Client) -> None:
        async with Worker(client, task_queue=queue, activities=[greet, boom, linger]):
            # Start and result; describe shows the input and the outcome.
            handle = await client.start_activity(
                greet, "ann", id="greet", task_queue=queue, start_to_close_timeout=TIMEOUT
            )
            assert await handle.result() == "hello ann"
            done = await describe(client, "greet", include_input=True, include_outcome=True)
            assert done.run_id == handle.run_id
            assert done.info.status == S.ACTIVITY_EXECUTION_STATUS_COMPLETED
            assert (done.info.activity_type.name, done.info.task_queue) == ("greet", queue)
            assert done.info.attempt == 1 and done.info.start_to_close_timeout.seconds == 30
            assert done.input.payloads and done.outcome.result.payloads

            # A failure after every retry.
            failing = await client.start_activity(
                boom, "boom", id="boom", task_queue=queue, start_to_close_timeout=TIMEOUT,
                retry_policy=RetryPolicy(
                    maximum_attempts=2, initial_interval=timedelta(milliseconds=100)
                ),
            )
            with pytest.raises(ActivityFailureError) as failed:
                await failing.result()
            assert isinstance(failed.value.cause, ApplicationError)
            assert failed.value.cause.message == "boom 2"
            done = await describe(client, "boom", include_outcome=True)
            assert done.info.status == S.ACTIVITY_EXECUTION_STATUS_FAILED
            assert done.info.attempt == 2
            assert done.outcome.retry_state == RetryState.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED

            # The id of a running one is taken, unless the conflict policy says use it.
            held = await client.start_activity(
                linger, "held", id="held", task_queue=queue, start_to_close_timeout=TIMEOUT,
                heartbeat_timeout=timedelta(seconds=10),
            )
            with pytest.raises(ActivityAlreadyStartedError):
                await client.start_activity(
                    linger, "held", id="held", task_queue=queue, start_to_close_timeout=TIMEOUT
                )
            same = await client.start_activity(
                linger, "held", id="held", task_queue=queue, start_to_close_timeout=TIMEOUT,
                id_conflict_policy=ActivityIDConflictPolicy.USE_EXISTING,
            )
            assert same.run_id == held.run_id
            running = await until(
                lambda: describe(client, "held", include_heartbeat_details=True),
                lambda d: d.info.run_state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                and d.info.heartbeat_details.payloads,
            )
            assert running.info.status == S.ACTIVITY_EXECUTION_STATUS_RUNNING

            # Cancel: the worker learns of it from its next heartbeat.
            await held.cancel(reason="enough")
            with pytest.raises(ActivityFailureError) as canceled:
                await held.result()
            assert isinstance(canceled.value.cause, CancelledError)
            done = await describe(client, "held")
            assert done.info.status == S.ACTIVITY_EXECUTION_STATUS_CANCELED
            assert done.info.canceled_reason == "enough"
            with pytest.raises(RPCError) as again:
                await held.cancel()
            assert (again.value.status, again.value.message) == (
                RPCStatusCode.FAILED_PRECONDITION, "activity is in terminal state Canceled"
            )

            # Terminate.
            doomed = await client.start_activity(
                linger, "doomed", id="doomed", task_queue=queue, start_to_close_timeout=TIMEOUT
            )
            await doomed.terminate(reason="stop")
            with pytest.raises(ActivityFailureError) as terminated:
                await doomed.result()
            assert isinstance(terminated.value.cause, TerminatedError)
            assert terminated.value.cause.message == "stop"
            with pytest.raises(RPCError) as again:
                await client.workflow_service.terminate_activity_execution(
                    TerminateActivityExecutionRequest(
                        namespace=client.namespace, activity_id="held", reason="late"
                    )
                )
            assert (again.value.status, again.value.message) == (
                RPCStatusCode.FAILED_PRECONDITION, "invalid transition from Canceled"
            )

            # A closed id is reused by default, refused under REJECT_DUPLICATE.
            rerun = await client.start_activity(
                greet, "bob", id="greet", task_queue=queue, start_to_close_timeout=TIMEOUT
            )
            assert rerun.run_id != handle.run_id and await rerun.result() == "hello bob"
            with pytest.raises(ActivityAlreadyStartedError):
                await client.start_activity(
                    greet, "cy", id="greet", task_queue=queue, start_to_close_timeout=TIMEOUT,
                    id_reuse_policy=ActivityIDReusePolicy.REJECT_DUPLICATE,
                )

        # List and count by query; no workflow is listed.
        await until(lambda: count(client, "ExecutionStatus = 'Completed'"), lambda n: n == 2)
        assert await count(client) == 5
        assert await count(client, "ActivityType = 'linger'") == 2
        assert await count(client, f"ActivityId = 'boom' AND TaskQueue = '{queue}'") == 1
        grouped = await client.count_activities("GROUP BY ExecutionStatus")
        statuses = {g.group_values[0]: g.count for g in grouped.groups}
        assert statuses == {"Completed": 2, "Failed": 1, "Canceled": 1, "Terminated": 1}
        listed = [a.activity_id async for a in client.list_activities("", page_size=2)]
        assert listed == ["greet", "doomed", "held", "boom", "greet"]
        page = await client.workflow_service.list_activity_executions(
            ListActivityExecutionsRequest(namespace=client.namespace, query="ActivityId='boom'")
        )
        assert [e.status for e in page.executions] == [S.ACTIVITY_EXECUTION_STATUS_FAILED]
        assert [w async for w in client.list_workflows()] == []
        with pytest.raises(RPCError) as bad:
            await count(client, "Nope = 'x'")
        assert bad.value.message == "invalid query: invalid search attribute: Nope"

        # Delete: gone by id.
        await delete(client, "doomed")
        await until(
            lambda: missing(client, "doomed"), lambda m: m == "activity not found for ID: doomed"
        )

    server.run(scenario)


async def delete(client: Client, activity_id: str) -> None:
    await client.workflow_service.delete_activity_execution(
        DeleteActivityExecutionRequest(namespace=client.namespace, activity_id=activity_id)
    )


async def reset(client: Client, activity_id: str) -> None:
    await client.workflow_service.reset_activity_execution(
        ResetActivityExecutionRequest(namespace=client.namespace, activity_id=activity_id)
    )


async def missing(client: Client, activity_id: str) -> str:
    try:
        await describe(client, activity_id)
    except RPCError as e:
        assert e.status == RPCStatusCode.NOT_FOUND
        return e.message
    return ""


def test_pause_unpause_reset_and_options(server: Server) -> None:
    queue = f"q-{uuid.uuid4().hex[:8]}"
    S = ActivityExecutionStatus
    P = PendingActivityState

    async def refused(call) -> str:
        with pytest.raises(RPCError) as caught:
            await call
        assert caught.value.status == RPCStatusCode.FAILED_PRECONDITION
        return caught.value.message

    async def scenario(client: Client) -> None:
        handle = await client.start_activity(
            greet, "paused", id="paused", task_queue=queue,
            start_to_close_timeout=timedelta(seconds=5),
        )
        await handle.pause(reason="hold on")
        held = await describe(client, "paused")
        assert (held.info.status, held.info.run_state) == (
            S.ACTIVITY_EXECUTION_STATUS_PAUSED, P.PENDING_ACTIVITY_STATE_PAUSED
        )
        assert await refused(handle.pause()) == "activity is in non-pausable state Paused"
        updated = await handle.update_options(
            [ActivityOptionsKeys.start_to_close_timeout.value_set(timedelta(seconds=9))]
        )
        assert updated.start_to_close_timeout == timedelta(seconds=9)
        assert (await describe(client, "paused")).info.start_to_close_timeout.seconds == 9
        restored = await handle.restore_original_options()
        assert restored.start_to_close_timeout == timedelta(seconds=5)
        await handle.unpause()
        running = await describe(client, "paused")
        assert (running.info.status, running.info.run_state) == (
            S.ACTIVITY_EXECUTION_STATUS_RUNNING, P.PENDING_ACTIVITY_STATE_SCHEDULED
        )
        assert await refused(handle.unpause()) == (
            "activity is in non-unpausable state Scheduled"
        )
        await reset(client, "paused")
        async with Worker(client, task_queue=queue, activities=[greet]):
            assert await handle.result() == "hello paused"
        assert await refused(handle.pause()) == "activity is in non-pausable state Completed"
        assert await refused(handle.unpause()) == "activity is in terminal state Completed"
        assert await refused(reset(client, "paused")) == "activity execution is not running"
        assert await refused(handle.restore_original_options()) == (
            "Cannot update options for activity in state Completed"
        )

    server.run(scenario)


def test_across_a_restart(backend: str, database: str) -> None:
    """Started with no worker polling; the server restarts; the worker then gets it."""
    queue = f"q-{uuid.uuid4().hex[:8]}"

    async def before() -> None:
        async with await start_env(backend, database) as env:
            client = env.client
            done = await client.start_activity(
                greet, "early", id="early", task_queue=queue, start_to_close_timeout=TIMEOUT
            )
            async with Worker(client, task_queue=queue, activities=[greet]):
                assert await done.result() == "hello early"
            await client.start_activity(
                greet, "late", id="late", task_queue=queue, start_to_close_timeout=TIMEOUT,
                schedule_to_close_timeout=timedelta(minutes=5),
            )
            waiting = await describe(client, "late")
            assert waiting.info.run_state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED

    async def after() -> None:
        async with await start_env(backend, database) as env:
            client = env.client
            async with Worker(client, task_queue=queue, activities=[greet]):
                assert await client.get_activity_handle("late").result() == "hello late"
            finished = await describe(client, "early", include_outcome=True)
            assert finished.info.status == ActivityExecutionStatus.ACTIVITY_EXECUTION_STATUS_COMPLETED
            await until(lambda: count(client, "ExecutionStatus = 'Completed'"), lambda n: n == 2)

    asyncio.run(before())
    asyncio.run(after())


def cli(address: str, *args: str) -> str:
    done = subprocess.run(
        [backend_binary("temporal"), "--address", address, "activity", *args],
        capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_cli(backend: str, database: str) -> None:
    """`temporal activity start`, `complete` by id with no worker (the real server takes it
    as started), `result`, `describe` and `count`."""

    async def run() -> None:
        async with await start_env(backend, database) as env:
            address = env.client.service_client.config.target_host
            started = cli(address, "start", "--activity-id", "by-hand", "--type", "manual",
                          "--task-queue", "nobody", "--start-to-close-timeout", "30s")
            assert "by-hand" in started
            cli(address, "complete", "--activity-id", "by-hand", "--result", '"done"')
            result = cli(address, "result", "--activity-id", "by-hand")
            assert "COMPLETED" in result and '"done"' in result, result
            described = cli(address, "describe", "--activity-id", "by-hand", "-o", "json")
            assert "ACTIVITY_EXECUTION_STATUS_COMPLETED" in described, described
            assert "Total: 1" in cli(address, "count")

    asyncio.run(run())
