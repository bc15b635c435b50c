"""Calls on a workflow that has closed, through the official Python SDK on the real dev
server (the oracle) and the engine on SQLite and PostgreSQL: a cancel request succeeds and
changes nothing (the SDK's client interceptor test cancels a completed workflow and expects
no error); terminate and signal are refused NOT_FOUND.
"""

import uuid

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from backends import Server


@workflow.defn
class Returns:
    @workflow.run
    async def run(self) -> str:
        return "done"


async def calls_on_a_closed_workflow(client: Client) -> None:
    queue = f"closed-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[Returns]):
        handle = await client.start_workflow(Returns.run, id=queue, task_queue=queue)
        assert await handle.result() == "done"
    for h in [handle, client.get_workflow_handle(queue)]:
        await h.cancel()
        for refused in [h.terminate(), h.signal("anything")]:
            with pytest.raises(RPCError) as error:
                await refused
            assert (error.value.status, error.value.message) == (
                RPCStatusCode.NOT_FOUND, "workflow execution already completed"
            )
    with pytest.raises(RPCError) as missing:
        await client.get_workflow_handle(f"never-{uuid.uuid4()}").cancel()
    assert missing.value.status == RPCStatusCode.NOT_FOUND


def test_calls_on_a_closed_workflow(server: Server) -> None:
    server.run(calls_on_a_closed_workflow)
