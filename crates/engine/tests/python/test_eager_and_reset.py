"""Eager workflow start, eager activity dispatch and `ResetWorkflowExecution` through the
official Python SDK, on both backends: the real dev server (.venv/bin/temporal, the oracle)
and our engine binary, each launched by `WorkflowEnvironment.start_local`. The same
scenarios run on each and must give the same answers.
"""

import asyncio
import uuid
from datetime import timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio import activity, workflow
from temporalio.api.command.v1 import Command, ScheduleActivityTaskCommandAttributes
from temporalio.api.common.v1 import ActivityType, WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import (
    CommandType,
    EventType,
    PendingActivityState,
    ResetReapplyType,
    WorkflowTaskFailedCause,
)
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    GetWorkflowExecutionHistoryRequest,
    ResetWorkflowExecutionRequest,
    RespondWorkflowTaskCompletedRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from backends import Server


@activity.defn
async def shout(text: str) -> str:
    return text.upper()


@workflow.defn
class Greet:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            shout, name, start_to_close_timeout=timedelta(seconds=10)
        )


@workflow.defn
class Collect:
    """Collects signals until "done"; ends with a random number, which changes on reset."""

    def __init__(self) -> None:
        self.items: list = []

    @workflow.run
    async def run(self) -> list:
        await workflow.wait_condition(lambda: "done" in self.items)
        return self.items + [workflow.random().randint(0, 1_000_000)]

    @workflow.signal
    def add(self, item: str) -> None:
        self.items.append(item)


async def history(client: Client, wid: str, run_id: str = "") -> list:
    response = await client.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=wid, run_id=run_id),
        )
    )
    return list(response.history.events)


async def eager_start_through_the_sdk(client: Client, queue: str) -> None:
    # A worker of this client polls the queue: the first task comes back with the start.
    handle = await client.start_workflow(
        Greet.run, "ada", id=f"eager-{uuid.uuid4()}", task_queue=queue, request_eager_start=True
    )
    assert getattr(handle, "__temporal_eagerly_started") is True
    assert await handle.result() == "ADA"
    events = await history(client, handle.id)
    assert events[0].workflow_execution_started_event_attributes.eager_execution_accepted
    assert [e.event_type for e in events[:3]] == [
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    ]


async def eager_raw(client: Client) -> None:
    """Eager start and eager activities by hand, with no worker: what the responses hold."""
    service, namespace = client.workflow_service, client.namespace
    queue, wid = f"eager-raw-{uuid.uuid4()}", f"eager-raw-{uuid.uuid4()}"
    started = await service.start_workflow_execution(
        StartWorkflowExecutionRequest(
            namespace=namespace,
            workflow_id=wid,
            workflow_type=WorkflowType(name="Raw"),
            task_queue=TaskQueue(name=queue),
            request_id=str(uuid.uuid4()),
            identity="eager-worker",
            request_eager_execution=True,
        )
    )
    task = started.eager_workflow_task
    assert started.HasField("eager_workflow_task")
    assert task.started_event_id == 3 and task.attempt == 1
    assert task.history.events[2].workflow_task_started_event_attributes.identity == "eager-worker"

    def schedule(activity_id: str, eager: bool) -> Command:
        return Command(
            command_type=CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
            schedule_activity_task_command_attributes=ScheduleActivityTaskCommandAttributes(
                activity_id=activity_id,
                activity_type=ActivityType(name="Act"),
                task_queue=TaskQueue(name=queue),
                start_to_close_timeout=Duration(seconds=30),
                request_eager_execution=eager,
            ),
        )

    completed = await service.respond_workflow_task_completed(
        RespondWorkflowTaskCompletedRequest(
            task_token=task.task_token,
            identity="eager-worker",
            commands=[schedule("e1", True), schedule("q1", False), schedule("e2", True)],
        )
    )
    assert [(t.activity_id, t.attempt) for t in completed.activity_tasks] == [("e1", 1), ("e2", 1)]
    assert all(t.workflow_execution.run_id == started.run_id for t in completed.activity_tasks)
    described = await service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=namespace, execution=WorkflowExecution(workflow_id=wid)
        )
    )
    states = {p.activity_id: (p.state, p.last_worker_identity) for p in described.pending_activities}
    started_state = PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
    assert states["e1"] == (started_state, "eager-worker")
    assert states["e2"] == (started_state, "eager-worker")
    assert states["q1"][0] == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED
    await client.get_workflow_handle(wid).terminate()


async def reset(client: Client, queue: str) -> None:
    service, namespace = client.workflow_service, client.namespace
    wid = f"reset-{uuid.uuid4()}"
    # "a" comes with the start (before the first workflow task), the others after it.
    handle = await client.start_workflow(
        Collect.run, id=wid, task_queue=queue, start_signal="add", start_signal_args=["a"]
    )
    await asyncio.sleep(0.3)
    for item in ["b", "done"]:
        await handle.signal(Collect.add, item)
        await asyncio.sleep(0.3)
    first = await handle.result()
    assert first[:3] == ["a", "b", "done"]
    events = await history(client, wid)
    completed = [
        e.event_id
        for e in events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    ]
    info = (
        await service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=namespace, execution=WorkflowExecution(workflow_id=wid)
            )
        )
    ).workflow_execution_info
    assert [p.first_workflow_task_completed_id for p in info.auto_reset_points.points] == completed[:1]

    async def reset_to(point: int, reapply: int) -> str:
        response = await service.reset_workflow_execution(
            ResetWorkflowExecutionRequest(
                namespace=namespace,
                workflow_execution=WorkflowExecution(workflow_id=wid, run_id=handle.result_run_id),
                reason="try again",
                workflow_task_finish_event_id=point,
                request_id=str(uuid.uuid4()),
                reset_reapply_type=reapply,
            )
        )
        return response.run_id

    # Reset to the first completed task: the signals after it are reapplied, the workflow
    # replays to the same items and draws a new random number (the seed changes).
    run_id = await reset_to(completed[0], ResetReapplyType.RESET_REAPPLY_TYPE_SIGNAL)
    assert run_id != handle.result_run_id
    again = await client.get_workflow_handle(wid, run_id=run_id).result()
    assert again[:3] == first[:3]
    assert again[3] != first[3]
    new_events = await history(client, wid, run_id)
    failed = new_events[completed[0] - 1]
    assert failed.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    attributes = failed.workflow_task_failed_event_attributes
    assert attributes.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW
    assert (attributes.base_run_id, attributes.new_run_id) == (handle.result_run_id, run_id)
    assert attributes.failure.message == "try again"
    assert attributes.failure.HasField("reset_workflow_failure_info")
    started = new_events[0].workflow_execution_started_event_attributes
    assert started.original_execution_run_id == handle.result_run_id
    new_info = (
        await service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=namespace, execution=WorkflowExecution(workflow_id=wid)
            )
        )
    ).workflow_execution_info
    assert new_info.execution.run_id == run_id
    assert new_info.first_run_id == handle.result_run_id

    # Without reapplied signals the reset run waits for "done" again; a reset of a closed run
    # leaves it as it was, a reset of the open one terminates it.
    bare = await reset_to(completed[0], ResetReapplyType.RESET_REAPPLY_TYPE_NONE)
    bare_handle = client.get_workflow_handle(wid, run_id=bare)
    assert (await bare_handle.describe()).status == WorkflowExecutionStatus.RUNNING
    previous = client.get_workflow_handle(wid, run_id=run_id)
    assert (await previous.describe()).status == WorkflowExecutionStatus.COMPLETED
    original = client.get_workflow_handle(wid, run_id=handle.result_run_id)
    assert (await original.describe()).status == WorkflowExecutionStatus.COMPLETED
    response = await service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=namespace,
            workflow_execution=WorkflowExecution(workflow_id=wid, run_id=bare),
            reason="once more",
            workflow_task_finish_event_id=completed[0],
            request_id=str(uuid.uuid4()),
        )
    )
    terminated = await bare_handle.describe()
    assert terminated.status == WorkflowExecutionStatus.TERMINATED
    last = (await history(client, wid, bare))[-1]
    assert last.workflow_execution_terminated_event_attributes.reason == "once more"
    latest = client.get_workflow_handle(wid, run_id=response.run_id)
    await latest.signal(Collect.add, "done")
    assert (await latest.result())[:2] == ["a", "done"]


@pytest.mark.backends("temporal", "engine")
def test_eager_and_reset(server: Server) -> None:

    async def scenario(client: Client) -> None:
        queue = f"py-eager-{uuid.uuid4()}"
        async with Worker(
            client, task_queue=queue, workflows=[Greet, Collect], activities=[shout]
        ):
            await eager_start_through_the_sdk(client, queue)
            await eager_raw(client)
            await reset(client, queue)

    server.run(scenario)
