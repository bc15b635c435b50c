"""Cancelling an activity from its workflow, in each cancellation type (TRY_CANCEL,
WAIT_CANCELLATION_COMPLETED, ABANDON) and each shape (running and heartbeating, running
without heartbeats, not started yet, waiting out a retry backoff), through the official
Python SDK on both backends: the real dev server (.venv/bin/temporal, the oracle) and our
engine binary. Both must resolve each the same way, with the same activity events.
"""

import asyncio
import time
import uuid
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError
from temporalio.worker import Worker

from backends import Server


@activity.defn
async def slow(heartbeats: bool) -> str:
    if not heartbeats:
        # Long enough to finish well after the cancel request, even on a loaded machine
        # (the race of the two is covered by the engine's unit tests).
        await asyncio.sleep(8)
        return "finished"
    try:
        while True:
            activity.heartbeat()
            await asyncio.sleep(0.05)
    except asyncio.CancelledError:
        await asyncio.sleep(0.5)
        raise


@activity.defn
async def fails_once() -> str:
    if activity.info().attempt == 1:
        raise RuntimeError("first attempt")
    return "second"


@workflow.defn
class CancelsActivity:
    """Starts an activity, and cancels it when told to (once it is in the wanted shape)."""

    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def cancel_now(self) -> None:
        self.go = True

    @workflow.run
    async def run(self, kind: str, shape: str) -> str:
        cancellation_type = workflow.ActivityCancellationType[kind]
        timeout = timedelta(seconds=30)
        if shape == "unstarted":
            handle = workflow.start_activity(
                slow, True, start_to_close_timeout=timeout, task_queue="nobody-polls",
                cancellation_type=cancellation_type,
            )
        elif shape == "backoff":
            handle = workflow.start_activity(
                fails_once, start_to_close_timeout=timeout, cancellation_type=cancellation_type,
                retry_policy=RetryPolicy(initial_interval=timedelta(seconds=10)),
            )
        else:
            heartbeats = shape == "heartbeating"
            handle = workflow.start_activity(
                slow, heartbeats, start_to_close_timeout=timeout,
                heartbeat_timeout=timedelta(seconds=5) if heartbeats else None,
                cancellation_type=cancellation_type,
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        await workflow.wait_condition(lambda: self.go)
        handle.cancel()
        try:
            return f"result {await handle}"
        except ActivityError as error:
            return type(error.cause).__name__


REQUESTED, CANCELED = "ACTIVITY_TASK_CANCEL_REQUESTED", "ACTIVITY_TASK_CANCELED"
STARTED, COMPLETED = "ACTIVITY_TASK_STARTED", "ACTIVITY_TASK_COMPLETED"

# What the real server gives (the SDK resolves TRY_CANCEL and ABANDON at once; an
# unstarted activity's cancellation is dropped when the same completion closes the run).
EXPECTED = {
    ("TRY_CANCEL", "heartbeating"): ("CancelledError", [REQUESTED]),
    ("TRY_CANCEL", "silent"): ("CancelledError", [REQUESTED]),
    ("TRY_CANCEL", "unstarted"): ("CancelledError", [REQUESTED]),
    ("TRY_CANCEL", "backoff"): ("CancelledError", [REQUESTED]),
    ("WAIT_CANCELLATION_COMPLETED", "heartbeating"): ("CancelledError", [REQUESTED, STARTED, CANCELED]),
    ("WAIT_CANCELLATION_COMPLETED", "silent"): ("result finished", [REQUESTED, STARTED, COMPLETED]),
    ("WAIT_CANCELLATION_COMPLETED", "unstarted"): ("CancelledError", [REQUESTED, CANCELED]),
    ("WAIT_CANCELLATION_COMPLETED", "backoff"): ("CancelledError", [REQUESTED, CANCELED]),
    ("ABANDON", "heartbeating"): ("CancelledError", []),
    ("ABANDON", "silent"): ("CancelledError", []),
    ("ABANDON", "unstarted"): ("CancelledError", []),
    ("ABANDON", "backoff"): ("CancelledError", []),
}


@pytest.mark.backends("temporal", "engine")
def test_cancelling_an_activity(server: Server) -> None:

    async def scenario(client: Client) -> None:
        queue = f"py-cancel-{uuid.uuid4()}"

        async def one(kind: str, shape: str) -> tuple:
            handle = await client.start_workflow(
                CancelsActivity.run, args=[kind, shape], id=f"{kind}-{shape}-{uuid.uuid4()}",
                task_queue=queue, execution_timeout=timedelta(seconds=30),
            )
            started = PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            ready = {
                "unstarted": lambda a: True,
                "backoff": lambda a: a.attempt == 2,
            }.get(shape, lambda a: a.state == started)
            deadline = time.monotonic() + 20
            while True:
                description = await handle.describe()
                pending = description.raw_description.pending_activities
                if pending and ready(pending[0]):
                    break
                assert time.monotonic() < deadline, f"{kind} {shape}: {pending}"
                await asyncio.sleep(0.1)
            await handle.signal(CancelsActivity.cancel_now)
            try:
                result = await handle.result()
            except Exception as error:
                result = f"workflow failed: {error.cause!r}"  # type: ignore[attr-defined]
            names = [
                EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
                async for e in handle.fetch_history_events()
            ]
            after_schedule = names[names.index("ACTIVITY_TASK_SCHEDULED") + 1 :]
            return result, [n for n in after_schedule if n.startswith("ACTIVITY_TASK")]

        async with Worker(
            client, task_queue=queue, workflows=[CancelsActivity], activities=[slow, fails_once],
            max_heartbeat_throttle_interval=timedelta(milliseconds=100),
            default_heartbeat_throttle_interval=timedelta(milliseconds=100),
        ):
            outcomes = await asyncio.gather(*[one(kind, shape) for kind, shape in EXPECTED])
        assert dict(zip(EXPECTED, outcomes)) == EXPECTED

    server.run(scenario)
