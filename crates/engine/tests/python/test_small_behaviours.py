"""Smaller behaviours the official Python SDK's own suite relies on, each on the real dev
server (the oracle) and the engine on SQLite and PostgreSQL: run ids are UUIDv7; a workflow
that sets and reads priorities (its own, its children's, its activity's).
"""

import time
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import Priority
from temporalio.worker import Worker

from backends import Server


@activity.defn
async def own_priority() -> int:
    return activity.info().priority.priority_key or 0


@workflow.defn
class Prioritised:
    @workflow.run
    async def run(self, depth: int) -> list:
        seen = [workflow.info().priority.priority_key]
        if depth > 0:
            return seen
        seen.append(
            await workflow.execute_child_workflow(
                Prioritised.run, 1, priority=Priority(priority_key=4, fairness_key="b", fairness_weight=1.5)
            )
        )
        seen.append(await workflow.execute_child_workflow(Prioritised.run, 1))  # inherits
        seen.append(
            await workflow.execute_activity(
                own_priority, start_to_close_timeout=timedelta(seconds=10),
                priority=Priority(priority_key=5, fairness_key="c", fairness_weight=3.0),
            )
        )
        seen.append(await workflow.execute_activity(own_priority, start_to_close_timeout=timedelta(seconds=10)))
        return seen


async def run_ids_and_priorities(client: Client) -> None:
    queue = f"small-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[Prioritised], activities=[own_priority]):
        before = time.time()
        handle = await client.start_workflow(
            Prioritised.run, 0, id=f"prio-{uuid.uuid4()}", task_queue=queue,
            priority=Priority(priority_key=2, fairness_key="a", fairness_weight=2.5),
        )
        # A child without a priority inherits its parent's; an activity without one sees none.
        assert await handle.result() == [2, [4], [2], 5, 0]
        plain = await client.start_workflow(Prioritised.run, 1, id=f"plain-{uuid.uuid4()}", task_queue=queue)
        assert await plain.result() == [None]

        # Run ids are UUIDv7: version 7, their first 48 bits the start time in milliseconds.
        for run_id in [handle.result_run_id, plain.result_run_id]:
            parsed = uuid.UUID(run_id)
            assert parsed.version == 7, run_id
            millis = parsed.int >> 80
            assert before - 60 < millis / 1000 < time.time() + 60, run_id
        assert uuid.UUID(handle.result_run_id).int >> 80 <= uuid.UUID(plain.result_run_id).int >> 80

        priorities = []
        async for event in handle.fetch_history_events():
            for name in [
                "workflow_execution_started_event_attributes",
                "start_child_workflow_execution_initiated_event_attributes",
                "activity_task_scheduled_event_attributes",
            ]:
                if event.HasField(name):
                    p = getattr(event, name).priority
                    priorities.append((name.split("_")[0], p.priority_key, p.fairness_key, p.fairness_weight))
        assert priorities == [
            ("workflow", 2, "a", 2.5),
            ("start", 4, "b", 1.5),
            ("start", 0, "", 0.0),
            ("activity", 5, "c", 3.0),
            ("activity", 0, "", 0.0),
        ], priorities


def test_run_ids_and_priorities(server: Server) -> None:
    server.run(run_ids_and_priorities)
