"""Waiting for a workflow's result across more than one history long poll, on the real dev
server (.venv/bin/temporal, the oracle) and on our engine on SQLite and PostgreSQL, both
with `history.longPollExpirationInterval` cut to 2 s: a long poll for the close event that
expires answers an empty page *with* a token to poll on with, so `handle.result()` outlives
it; polling on with the token brings the close event.
"""

import time
import uuid
from datetime import timedelta

from temporalio import workflow
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, HistoryEventFilterType
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client
from temporalio.worker import Worker

from backends import Server

LONG_POLL = ["--dynamic-config-value", 'history.longPollExpirationInterval="2s"']


@workflow.defn
class Sleeper:
    @workflow.run
    async def run(self, seconds: float) -> str:
        await workflow.sleep(seconds)
        return "awake"


async def scenario(client: Client) -> None:
    queue = f"lp-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[Sleeper]):
        began = time.monotonic()
        assert await client.execute_workflow(Sleeper.run, 5.0, id=f"sleeper-{uuid.uuid4()}", task_queue=queue) == "awake"
        assert time.monotonic() - began >= 5

        handle = await client.start_workflow(Sleeper.run, 3.0, id=f"raw-{uuid.uuid4()}", task_queue=queue)
        request = GetWorkflowExecutionHistoryRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=handle.id),
            wait_new_event=True,
            history_event_filter_type=HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
        )
        first = await client.workflow_service.get_workflow_execution_history(request, timeout=timedelta(seconds=30))
        assert list(first.history.events) == [] and first.next_page_token, first
        token, events = first.next_page_token, []
        while not events:
            request.next_page_token = token
            page = await client.workflow_service.get_workflow_execution_history(request, timeout=timedelta(seconds=30))
            events, token = list(page.history.events), page.next_page_token
            assert events or token, page
        assert [e.event_type for e in events] == [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED]


def test_result_outlives_history_long_polls(server: Server) -> None:
    server.run(scenario, LONG_POLL)
