"""A terminate that races a workflow task's completion, through the official Python SDK on
both backends: the real dev server (.venv/bin/temporal, the oracle) and our engine binary.
The task the worker holds fails first (FORCE_CLOSE_COMMAND), then the run is terminated;
the worker's late completion changes nothing.
"""

import asyncio
import time
import uuid

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType, PendingWorkflowTaskState, WorkflowTaskFailedCause
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import TerminatedError
from temporalio.worker import Worker

from backends import Server


@workflow.defn(sandboxed=False)
class Busy:
    @workflow.run
    async def run(self) -> str:
        time.sleep(1.5)  # holds the workflow task while the test terminates the run
        return "done"


@pytest.mark.backends("temporal", "engine")
def test_terminate_races_a_completion(server: Server) -> None:

    async def scenario(client: Client) -> None:
        queue = f"py-terminate-{uuid.uuid4()}"
        async with Worker(client, task_queue=queue, workflows=[Busy]):
            handle = await client.start_workflow(Busy.run, id=queue, task_queue=queue)
            started = PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED
            deadline = time.monotonic() + 20
            while (await handle.describe()).raw_description.pending_workflow_task.state != started:
                assert time.monotonic() < deadline, "the workflow task never started"
                await asyncio.sleep(0.05)
            await handle.terminate("race")
            with pytest.raises(WorkflowFailureError) as failed:
                await handle.result()
            assert isinstance(failed.value.cause, TerminatedError)
            await asyncio.sleep(2)  # the worker's late completion
            events = [e async for e in handle.fetch_history_events()]
        names = [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in events]
        assert names[-3:] == [
            "WORKFLOW_TASK_STARTED",
            "WORKFLOW_TASK_FAILED",
            "WORKFLOW_EXECUTION_TERMINATED",
        ]
        failed_task = events[-2].workflow_task_failed_event_attributes
        assert failed_task.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_FORCE_CLOSE_COMMAND
        assert failed_task.identity == "history-service"

    server.run(scenario)
