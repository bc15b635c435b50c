"""Pausing, unpausing and resetting a running activity from outside its worker, and
updating its options (`PauseActivity`, `UnpauseActivity`, `ResetActivity`,
`UpdateActivityOptions`) through the official Python SDK, on
both backends: the real dev server (.venv/bin/temporal, the oracle) and our engine binary.
The worker learns of a pause or reset through its heartbeats and sees it in the activity's
cancellation details; describe shows the pause.
"""

import asyncio
import time
import uuid
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from temporalio.api.activity.v1 import ActivityOptions
from temporalio.api.common.v1 import RetryPolicy as RawRetryPolicy, WorkflowExecution
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    PauseActivityRequest,
    ResetActivityRequest,
    UnpauseActivityRequest,
    UpdateActivityOptionsRequest,
)
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from backends import Server

# What each activity saw when it was cancelled, by key: (attempt, paused, reset).
seen: dict = {}


@activity.defn
async def patient(key: str) -> str:
    """Heartbeats until cancelled the first time; done on any later attempt."""
    attempt = activity.info().attempt
    if key in seen:
        return f"done at attempt {attempt}"
    try:
        while True:
            activity.heartbeat()
            await asyncio.sleep(0.05)
    except asyncio.CancelledError:
        details = activity.cancellation_details()
        seen[key] = (attempt, details.paused, details.reset)
        raise


@workflow.defn
class RunsPatient:
    @workflow.run
    async def run(self, key: str) -> str:
        return await workflow.execute_activity(
            patient,
            key,
            activity_id="patient",
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1)),
        )


async def pending(client: Client, wid: str):
    response = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=wid)
        )
    )
    return response.pending_activities[0] if response.pending_activities else None


async def until(client: Client, wid: str, check, what: str):
    deadline = time.monotonic() + 15
    while True:
        activity_info = await pending(client, wid)
        if activity_info is not None and check(activity_info):
            return activity_info
        assert time.monotonic() < deadline, f"{what}: {activity_info}"
        await asyncio.sleep(0.1)


def execution(wid: str) -> WorkflowExecution:
    return WorkflowExecution(workflow_id=wid)


async def pause_and_unpause(client: Client, queue: str) -> None:
    service, ns = client.workflow_service, client.namespace
    key = f"pause-{uuid.uuid4()}"
    handle = await client.start_workflow(RunsPatient.run, key, id=key, task_queue=queue)
    started = PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
    await until(client, key, lambda a: a.state == started, "never started")

    await service.pause_activity(
        PauseActivityRequest(
            namespace=ns, execution=execution(key), id="patient",
            identity="operator", reason="looking into it", request_id="p1",
        )
    )
    # The same request again is accepted; another pause is refused.
    await service.pause_activity(
        PauseActivityRequest(namespace=ns, execution=execution(key), id="patient", request_id="p1")
    )
    with pytest.raises(RPCError) as again:
        await service.pause_activity(
            PauseActivityRequest(namespace=ns, execution=execution(key), id="patient", request_id="p2")
        )
    assert (again.value.status, again.value.message) == (
        RPCStatusCode.FAILED_PRECONDITION,
        "activity is already paused",
    )

    # The running attempt learns of the pause through its heartbeat, is cancelled with
    # "paused" details and fails; the next attempt waits, paused.
    paused = PendingActivityState.PENDING_ACTIVITY_STATE_PAUSED
    info = await until(
        client, key, lambda a: a.state == paused and a.attempt == 2, "never paused"
    )
    assert info.paused
    assert info.pause_info.manual.identity == "operator"
    assert info.pause_info.manual.reason == "looking into it"
    assert "activity pause" in info.last_failure.message
    assert seen[key] == (1, True, False)
    await asyncio.sleep(1.5)
    info = await pending(client, key)
    assert (info.state, info.attempt) == (paused, 2), "a paused activity is not dispatched"

    # A reset that keeps it paused: back to attempt 1, still paused.
    await service.reset_activity(
        ResetActivityRequest(namespace=ns, execution=execution(key), id="patient", keep_paused=True)
    )
    info = await pending(client, key)
    assert (info.state, info.attempt, info.paused) == (paused, 1, True)

    # Unpaused, it runs again and the workflow completes.
    await service.unpause_activity(
        UnpauseActivityRequest(namespace=ns, execution=execution(key), id="patient")
    )
    assert await handle.result() == "done at attempt 1"

    # On a closed workflow: not found.
    with pytest.raises(RPCError) as closed:
        await service.pause_activity(
            PauseActivityRequest(namespace=ns, execution=execution(key), id="patient")
        )
    assert closed.value.status == RPCStatusCode.NOT_FOUND


async def reset_running(client: Client, queue: str) -> None:
    key = f"reset-{uuid.uuid4()}"
    handle = await client.start_workflow(RunsPatient.run, key, id=key, task_queue=queue)
    started = PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
    await until(client, key, lambda a: a.state == started, "never started")
    await client.workflow_service.reset_activity(
        ResetActivityRequest(
            namespace=client.namespace, execution=execution(key), type="patient"
        )
    )
    # The heartbeat answers "reset": the attempt is cancelled and fails, and is retried.
    assert await handle.result() == "done at attempt 2"
    assert seen[key] == (1, False, True)


async def update_options(client: Client, queue: str) -> None:
    service, ns = client.workflow_service, client.namespace
    key = f"options-{uuid.uuid4()}"
    handle = await client.start_workflow(RunsPatient.run, key, id=key, task_queue=queue)
    started = PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
    await until(client, key, lambda a: a.state == started, "never started")

    def update(**fields) -> UpdateActivityOptionsRequest:
        return UpdateActivityOptionsRequest(namespace=ns, execution=execution(key), id="patient", **fields)

    response = await service.update_activity_options(
        update(
            activity_options=ActivityOptions(
                heartbeat_timeout=Duration(seconds=5),
                retry_policy=RawRetryPolicy(maximum_attempts=4),
            ),
            update_mask=FieldMask(paths=["heartbeat_timeout", "retry_policy.maximum_attempts"]),
        )
    )
    options = response.activity_options
    assert options.task_queue.name == queue
    assert options.start_to_close_timeout.ToSeconds() == 60
    assert options.heartbeat_timeout.ToSeconds() == 5
    assert options.retry_policy.maximum_attempts == 4
    assert options.retry_policy.initial_interval.ToSeconds() == 1
    assert (await pending(client, key)).maximum_attempts == 4

    for fields, message in [
        (dict(restore_original=True, update_mask=FieldMask(paths=["heartbeat_timeout"])),
         "Both UpdateMask and RestoreOriginal are provided"),
        (dict(update_mask=FieldMask(paths=["heartbeat_timeout"])), "ActivityOptions are not provided"),
        (dict(activity_options=ActivityOptions()), "UpdateMask is not provided"),
    ]:
        with pytest.raises(RPCError) as refused:
            await service.update_activity_options(update(**fields))
        assert (refused.value.status, refused.value.message) == (RPCStatusCode.INVALID_ARGUMENT, message)

    restored = await service.update_activity_options(update(restore_original=True))
    assert restored.activity_options.heartbeat_timeout.ToSeconds() == 10
    assert (await pending(client, key)).maximum_attempts == 0

    # A start-to-close timeout the running attempt has already outlived: it times out, and
    # the next attempt completes.
    await asyncio.sleep(1.2)
    await service.update_activity_options(
        update(
            activity_options=ActivityOptions(start_to_close_timeout=Duration(seconds=1)),
            update_mask=FieldMask(paths=["start_to_close_timeout"]),
        )
    )
    assert await handle.result() == "done at attempt 2"


async def bad_requests(client: Client, queue: str) -> None:
    service, ns = client.workflow_service, client.namespace
    key = f"bad-{uuid.uuid4()}"
    handle = await client.start_workflow(RunsPatient.run, key, id=key, task_queue=queue)
    started = PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
    await until(client, key, lambda a: a.state == started, "never started")
    with pytest.raises(RPCError) as unknown:
        await service.pause_activity(
            PauseActivityRequest(namespace=ns, execution=execution(key), id="nope")
        )
    assert (unknown.value.status, unknown.value.message) == (
        RPCStatusCode.NOT_FOUND,
        "Can't find pending activity with such ID. Invalid activityID or activity already completed",
    )
    with pytest.raises(RPCError) as neither:
        await service.pause_activity(PauseActivityRequest(namespace=ns, execution=execution(key)))
    assert (neither.value.status, neither.value.message) == (
        RPCStatusCode.INVALID_ARGUMENT,
        "Either Activity.Id or Activity.Type should be set on request.",
    )
    # Unpausing an activity that is not paused changes nothing.
    await service.unpause_activity(
        UnpauseActivityRequest(namespace=ns, execution=execution(key), unpause_all=True)
    )
    info = await pending(client, key)
    assert (info.state, info.paused) == (started, False)
    await handle.terminate()


@pytest.mark.backends("temporal", "engine")
def test_activity_pause_and_reset(server: Server) -> None:

    async def scenario(client: Client) -> None:
        queue = f"py-pause-{uuid.uuid4()}"
        async with Worker(
            client,
            task_queue=queue,
            workflows=[RunsPatient],
            activities=[patient],
            max_heartbeat_throttle_interval=timedelta(milliseconds=100),
            default_heartbeat_throttle_interval=timedelta(milliseconds=100),
        ):
            await asyncio.gather(
                pause_and_unpause(client, queue),
                reset_running(client, queue),
                bad_requests(client, queue),
                update_options(client, queue),
            )

    server.run(scenario)
