"""A workflow that cancels several things in one workflow task (two timers, one of them
shielded, an activity that runs, an activity nobody polls, and a child workflow), through
the official Python SDK on the real dev server (the oracle) and the engine on SQLite and
PostgreSQL. The engine once never answered this workflow's later tasks, and the SDK's
worker then waits for ever: each run is a child process with a deadline.
"""

import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.exceptions import ActivityError, CancelledError, ChildWorkflowError
from temporalio.worker import Worker
from temporalio.client import Client

from backends import Server


@activity.defn
async def waits_for_cancel() -> str:
    try:
        while True:
            activity.heartbeat()
            await asyncio.sleep(0.1)
    except asyncio.CancelledError:
        return "cancelled"


@workflow.defn
class Sleeper:
    @workflow.run
    async def run(self) -> None:
        await asyncio.sleep(600)


@workflow.defn
class CancelsMany:
    @workflow.run
    async def run(self) -> list[str]:
        seen: list[str] = []

        async def timer(name: str) -> None:
            try:
                await asyncio.sleep(1)
                seen.append(f"{name} fired")
            except asyncio.CancelledError:
                seen.append(f"{name} cancelled")

        async def run_activity(name: str, queue: str | None) -> None:
            try:
                await workflow.execute_activity(
                    waits_for_cancel, task_queue=queue, schedule_to_close_timeout=timedelta(seconds=30),
                    heartbeat_timeout=timedelta(seconds=5),
                )
                seen.append(f"{name} completed")
            except ActivityError as error:
                if isinstance(error.cause, CancelledError):
                    seen.append(f"{name} cancelled")

        async def child() -> None:
            try:
                await workflow.execute_child_workflow(Sleeper.run, id=f"{workflow.info().workflow_id}-child")
                seen.append("child completed")
            except ChildWorkflowError as error:
                if isinstance(error.cause, CancelledError):
                    seen.append("child cancelled")

        everything = asyncio.gather(
            timer("timer"),
            asyncio.shield(timer("shielded timer")),
            run_activity("activity", None),
            run_activity("unpolled activity", "nobody-polls-this"),
            child(),
            return_exceptions=True,
        )
        await asyncio.sleep(0.1)
        everything.cancel()
        await workflow.wait_condition(lambda: len(seen) == 5)
        try:
            await everything
        except asyncio.CancelledError:
            pass
        return sorted(seen)


async def scenario(client: Client) -> None:
    queue = "cancel-many"
    async with Worker(
        client, task_queue=queue, workflows=[CancelsMany, Sleeper], activities=[waits_for_cancel],
        max_heartbeat_throttle_interval=timedelta(milliseconds=100),
        default_heartbeat_throttle_interval=timedelta(milliseconds=100),
    ):
        seen = await client.execute_workflow(CancelsMany.run, id="cancel-many", task_queue=queue)
    assert seen == [
        "activity cancelled",
        "child cancelled",
        "shielded timer fired",
        "timer cancelled",
        "unpolled activity cancelled",
    ], seen


def test_cancelling_many_things_in_one_task(server: Server) -> None:
    server.run_bounded("test_cancel_many", "scenario", seconds=60)
