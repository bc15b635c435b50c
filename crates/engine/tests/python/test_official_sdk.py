"""The official Python SDK launching our engine binary, unchanged.

`WorkflowEnvironment.start_time_skipping(test_server_existing_path=...)` runs it as the Java
test server (`<exe> <port>`); `WorkflowEnvironment.start_local(dev_server_existing_path=...)`
as the dev server (`<exe> server start-dev ...`). Run by scripts/test with the `temporalio`
wheel that scripts/setup installs into .venv; WORKFLOW_ENGINE_BIN overrides the binary
(default: target/debug/workflow-engine, built by scripts/test).
"""

import asyncio
import os
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import activity, workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

THIRTY_DAYS = timedelta(days=30)


@pytest.fixture(scope="module")
def engine() -> str:
    # Here, not at import: the workflow sandbox re-imports this module and refuses file access.
    root = Path(__file__).resolve().parents[4]
    default = root / "target" / "debug" / "workflow-engine"
    engine_path = Path(os.environ.get("WORKFLOW_ENGINE_BIN", default))
    if not engine_path.is_file():
        pytest.fail(
            f"the engine binary is not at {engine_path}: run `cargo build -p workflow-engine` "
            "(scripts/test does) or set WORKFLOW_ENGINE_BIN"
        )
    return str(engine_path)


@workflow.defn
class SleepThirtyDays:
    @workflow.run
    async def run(self) -> float:
        started = workflow.now()
        await asyncio.sleep(THIRTY_DAYS.total_seconds())
        return (workflow.now() - started).total_seconds()


@workflow.defn
class WaitForApproval:
    def __init__(self) -> None:
        self.approved = False

    @workflow.run
    async def run(self, timeout_secs: float) -> str:
        try:
            await workflow.wait_condition(lambda: self.approved, timeout=timeout_secs)
            return "approved"
        except asyncio.TimeoutError:
            return "timed out"

    @workflow.signal
    def approve(self) -> None:
        self.approved = True


@activity.defn
async def greet(name: str) -> str:
    return f"hello, {name}"


@workflow.defn
class Greeter:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=10)
        )


def test_time_skipping_server_sleeps_thirty_days_in_a_moment(engine: str) -> None:
    async def run() -> None:
        async with await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=engine
        ) as env:
            queue = f"py-skip-{uuid.uuid4()}"
            async with Worker(env.client, task_queue=queue, workflows=[SleepThirtyDays]):
                before = await env.get_current_time()
                wall = time.monotonic()
                slept = await env.client.execute_workflow(
                    SleepThirtyDays.run, id=f"sleep-{uuid.uuid4()}", task_queue=queue
                )
                elapsed = time.monotonic() - wall
                after = await env.get_current_time()
            assert slept >= THIRTY_DAYS.total_seconds()
            assert after - before >= THIRTY_DAYS
            assert elapsed < 10, f"30 days took {elapsed:.2f}s of wall time"
            print(f"30-day sleep through the Python SDK: {elapsed:.3f}s of wall time")

    asyncio.run(run())


def test_time_skipping_server_times_out_or_delivers_a_signal(engine: str) -> None:
    async def run() -> None:
        async with await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=engine
        ) as env:
            queue = f"py-signal-{uuid.uuid4()}"
            hour = timedelta(hours=1).total_seconds()
            async with Worker(env.client, task_queue=queue, workflows=[WaitForApproval]):
                wall = time.monotonic()
                timed_out = await env.client.execute_workflow(
                    WaitForApproval.run, hour, id=f"wait-{uuid.uuid4()}", task_queue=queue
                )
                assert timed_out == "timed out"
                assert time.monotonic() - wall < 10

                handle = await env.client.start_workflow(
                    WaitForApproval.run, hour, id=f"wait-{uuid.uuid4()}", task_queue=queue
                )
                # Half the timeout passes, then the signal comes in time.
                await env.sleep(timedelta(minutes=30))
                await handle.signal(WaitForApproval.approve)
                assert await handle.result() == "approved"

    asyncio.run(run())


def test_dev_server_runs_a_normal_workflow(engine: str, tmp_path: Path) -> None:
    async def run() -> None:
        async with await WorkflowEnvironment.start_local(
            dev_server_existing_path=engine,
            dev_server_database_filename=str(tmp_path / "dev.db"),
        ) as env:
            queue = f"py-dev-{uuid.uuid4()}"
            async with Worker(
                env.client, task_queue=queue, workflows=[Greeter], activities=[greet]
            ):
                result = await env.client.execute_workflow(
                    Greeter.run, "ann", id=f"greet-{uuid.uuid4()}", task_queue=queue
                )
            assert result == "hello, ann"
        assert (tmp_path / "dev.db").is_file()

    asyncio.run(run())
