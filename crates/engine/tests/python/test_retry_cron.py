"""Workflow retry policies and cron schedules through the official Python SDK, on both
backends: the real dev server (.venv/bin/temporal, the oracle) and our engine binary. A
failed or timed-out run with a retry policy is retried as the next run of its chain; a cron
workflow's runs follow one another at its schedule's slots. Both show in the histories the
same way.
"""

import asyncio
import time
import uuid
from datetime import timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio import workflow
from temporalio.api.enums.v1 import ContinueAsNewInitiator, EventType, RetryState
from temporalio.api.common.v1 import RetryPolicy as RawRetryPolicy, WorkflowType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import StartWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from backends import Server

Started = "workflow_execution_started_event_attributes"


@workflow.defn
class Flaky:
    """Fails until attempt `succeed_at` (negative: always, non-retryably), then reports what
    it saw of the chain."""

    @workflow.run
    async def run(self, succeed_at: int) -> list:
        info = workflow.info()
        if succeed_at < 0 or info.attempt < succeed_at:
            kind = "Fatal" if succeed_at < 0 else "Flake"
            raise ApplicationError(f"attempt {info.attempt} failed", type=kind)
        last = workflow.get_last_failure()
        assert last is None or isinstance(last, ApplicationError)
        return [info.attempt, last.message if last else None, info.first_execution_run_id]


@workflow.defn
class Ticker:
    """A cron workflow: counts its runs through the last completion result."""

    @workflow.run
    async def run(self) -> list:
        last = workflow.get_last_completion_result(list)
        count = (last[0] if last else 0) + 1
        return [count, workflow.info().cron_schedule]


async def events(client: Client, workflow_id: str, run_id: str) -> list:
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    return [e async for e in handle.fetch_history_events()]


def closing(history: list):
    """The attributes of a run's closing event."""
    last = history[-1]
    for name in [
        "workflow_execution_completed_event_attributes",
        "workflow_execution_failed_event_attributes",
        "workflow_execution_timed_out_event_attributes",
    ]:
        if last.HasField(name):
            return getattr(last, name)
    raise AssertionError(f"not closed by itself: {last}")


async def retries(client: Client, queue: str) -> None:
    policy = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=1.0)
    wid = f"retry-{uuid.uuid4()}"
    handle = await client.start_workflow(
        Flaky.run, 3, id=wid, task_queue=queue, retry_policy=policy
    )
    first_run = handle.result_run_id
    attempt, last_failure, first = await handle.result()
    assert (attempt, last_failure, first) == (3, "attempt 2 failed", first_run)

    # The first run failed, retry in progress, naming the second run, which starts after
    # the backoff as attempt 2 of the chain with the failure it follows.
    history = await events(client, wid, first_run)
    failed = closing(history)
    assert failed.retry_state == RetryState.RETRY_STATE_IN_PROGRESS
    assert failed.failure.message == "attempt 1 failed"
    second = (await events(client, wid, failed.new_execution_run_id))[0]
    attrs = getattr(second, Started)
    assert attrs.attempt == 2
    assert attrs.initiator == ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_RETRY
    assert attrs.continued_execution_run_id == first_run
    assert attrs.first_execution_run_id == first_run
    assert attrs.continued_failure.message == "attempt 1 failed"
    assert attrs.first_workflow_task_backoff.ToTimedelta() == timedelta(seconds=1)
    assert attrs.retry_policy.maximum_interval.ToTimedelta() == timedelta(seconds=100)
    assert attrs.input == getattr(history[0], Started).input

    async def final_retry_state(succeed_at: int, **options) -> tuple:
        wid = f"retry-stop-{uuid.uuid4()}"
        handle = await client.start_workflow(
            Flaky.run, succeed_at, id=wid, task_queue=queue, **options
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        last = (await handle.describe()).run_id
        history = await events(client, wid, last)
        return (
            closing(history).retry_state,
            getattr(history[0], Started).attempt,
            failed.value.cause.message,
        )

    outcomes = await asyncio.gather(
        # Maximum attempts: two, then the chain ends.
        final_retry_state(
            10, retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=2)
        ),
        # A non-retryable error type ends it at once.
        final_retry_state(
            -1, retry_policy=RetryPolicy(non_retryable_error_types=["Fatal"])
        ),
        # The execution timeout spans the chain: no attempt may start after it ends.
        final_retry_state(
            10,
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=60)),
            execution_timeout=timedelta(seconds=30),
        ),
        # No retry policy, no retry.
        final_retry_state(10),
    )
    assert outcomes == [
        (RetryState.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED, 2, "attempt 2 failed"),
        (RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE, 1, "attempt 1 failed"),
        (RetryState.RETRY_STATE_TIMEOUT, 1, "attempt 1 failed"),
        (RetryState.RETRY_STATE_RETRY_POLICY_NOT_SET, 1, "attempt 1 failed"),
    ]


async def refused(client: Client, queue: str, **fields) -> RPCError:
    request = StartWorkflowExecutionRequest(
        namespace=client.namespace,
        workflow_id=f"refused-{uuid.uuid4()}",
        workflow_type=WorkflowType(name="Ticker"),
        task_queue=TaskQueue(name=queue),
        request_id=str(uuid.uuid4()),
        **fields,
    )
    with pytest.raises(RPCError) as error:
        await client.workflow_service.start_workflow_execution(request)
    assert error.value.status == RPCStatusCode.INVALID_ARGUMENT
    return error.value


async def bad_starts(client: Client, queue: str) -> None:
    error = await refused(client, queue, retry_policy=RawRetryPolicy(backoff_coefficient=0.5))
    assert error.message == "BackoffCoefficient cannot be less than 1 on retry policy."
    error = await refused(client, queue, retry_policy=RawRetryPolicy(maximum_attempts=-1))
    assert error.message == "MaximumAttempts cannot be negative on retry policy."
    error = await refused(client, queue, cron_schedule="every minute")
    assert error.message == "invalid CronSchedule."
    error = await refused(
        client, queue, cron_schedule="@every 2s", workflow_start_delay=Duration(seconds=1)
    )
    assert error.message == "CronSchedule and WorkflowStartDelay may not be used together."


async def cron(client: Client, queue: str) -> None:
    wid = f"cron-{uuid.uuid4()}"
    began = time.monotonic()
    handle = await client.start_workflow(
        Ticker.run, id=wid, task_queue=queue, cron_schedule="@every 2s"
    )
    first_run = handle.result_run_id
    head = getattr((await events(client, wid, first_run))[0], Started)
    assert head.initiator == ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_CRON_SCHEDULE
    assert head.cron_schedule == "@every 2s"
    assert timedelta(0) < head.first_workflow_task_backoff.ToTimedelta() <= timedelta(seconds=2)

    # Follow the chain for two runs: each completes, naming the next, which carries the
    # result on.
    run_id, results = first_run, []
    while len(results) < 2:
        history = await events(client, wid, run_id)
        if history[-1].event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            assert time.monotonic() - began < 15, "the cron runs did not come"
            await asyncio.sleep(0.2)
            continue
        done = closing(history)
        results.append(await client.data_converter.decode(done.result.payloads))
        assert done.new_execution_run_id
        run_id = done.new_execution_run_id
    assert results == [[[1, "@every 2s"]], [[2, "@every 2s"]]]
    nxt = getattr((await events(client, wid, run_id))[0], Started)
    assert nxt.initiator == ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_CRON_SCHEDULE
    assert nxt.attempt == 1
    assert nxt.first_execution_run_id == first_run
    assert timedelta(0) < nxt.first_workflow_task_backoff.ToTimedelta() <= timedelta(seconds=2)

    # Terminating the waiting run (by now `run_id` or a later run of the chain: a slow
    # machine lets runs pass) ends the chain: no run follows it.
    await client.get_workflow_handle(wid).terminate("enough")
    terminated = await client.get_workflow_handle(wid).describe()
    assert terminated.status == WorkflowExecutionStatus.TERMINATED
    assert terminated.raw_description.workflow_execution_info.first_run_id == first_run
    await asyncio.sleep(2.5)
    description = await client.get_workflow_handle(wid).describe()
    assert (description.run_id, description.status) == (terminated.run_id, WorkflowExecutionStatus.TERMINATED)


@pytest.mark.backends("temporal", "engine")
def test_retry_and_cron(server: Server) -> None:

    async def scenario(client: Client) -> None:
        queue = f"py-retry-{uuid.uuid4()}"
        async with Worker(client, task_queue=queue, workflows=[Flaky, Ticker]):
            await bad_starts(client, queue)
            await asyncio.gather(retries(client, queue), cron(client, queue))

    server.run(scenario)
