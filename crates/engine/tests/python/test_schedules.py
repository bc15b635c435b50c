"""Schedules through the official Python SDK, on both backends: the real dev server
(.venv/bin/temporal, the oracle) and our engine binary, each launched by
`WorkflowEnvironment.start_local`. Create, describe (with the calendar defaults the server
fills in), list, matching times, update, patch (trigger, pause, unpause, backfill), overlap
policy, delete, an action firing on its own, and the last completion result.
"""

import asyncio
import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Optional

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio import workflow
from temporalio.api.enums.v1 import ScheduleOverlapPolicy as RawOverlap
from temporalio.api.workflowservice.v1 import ListScheduleMatchingTimesRequest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from backends import Server


@workflow.defn
class Counting:
    """Returns one more than the last completion result the schedule passed it."""

    @workflow.run
    async def run(self) -> int:
        last = workflow.get_last_completion_result(int)
        return (last or 0) + 1


@workflow.defn
class Waiting:
    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.done)

    @workflow.signal
    def finish(self) -> None:
        self.done = True


async def eventually(check: Callable[[], Awaitable[Any]], what: str, within: float = 10.0) -> Any:
    """Polls `check` until it returns something truthy (the real server's scheduler and
    list are asynchronous)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def ts(text: str) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime.fromisoformat(text))
    return stamp


HOURLY = ScheduleIntervalSpec(every=timedelta(hours=1), offset=timedelta(minutes=15))


async def describe_list_update_patch(client: Client, queue: str) -> None:
    sid = f"sched-{uuid.uuid4()}"
    wid = f"counted-{uuid.uuid4()}"
    handle = await client.create_schedule(
        sid,
        Schedule(
            action=ScheduleActionStartWorkflow(
                Counting.run, id=wid, task_queue=queue, memo={"kind": "counting"}
            ),
            spec=ScheduleSpec(
                calendars=[
                    ScheduleCalendarSpec(hour=[ScheduleRange(2, 4)], day_of_week=[ScheduleRange(1)])
                ],
                cron_expressions=["0 12 * * MON-FRI"],
                intervals=[HOURLY],
                time_zone_name="America/New_York",
            ),
            state=ScheduleState(paused=True, note="created paused"),
        ),
        memo={"owner": "tests"},
    )
    with pytest.raises(ScheduleAlreadyRunningError):
        await client.create_schedule(
            sid,
            Schedule(
                action=ScheduleActionStartWorkflow(Counting.run, id=wid, task_queue=queue),
                spec=ScheduleSpec(),
            ),
        )

    # Describe: cron and calendar as structured calendars with every default filled in,
    # policies defaulted, the schedule's memo, ten future times.
    desc = await handle.describe()
    raw = desc.raw_description
    spec = raw.schedule.spec
    assert list(spec.cron_string) == [] and list(spec.calendar) == []
    assert len(spec.structured_calendar) == 2
    first, cron = spec.structured_calendar

    def ranges(field) -> list:
        return [(r.start, r.end, r.step) for r in field]

    assert ranges(first.second) == [(0, 0, 1)]
    assert ranges(first.minute) == [(0, 0, 1)]
    assert ranges(first.hour) == [(2, 4, 1)]
    assert ranges(first.day_of_month) == [(1, 31, 1)]
    assert ranges(first.month) == [(1, 12, 1)]
    assert ranges(first.day_of_week) == [(1, 1, 1)]
    assert ranges(first.year) == []
    assert ranges(cron.hour) == [(12, 12, 1)] and ranges(cron.day_of_week) == [(1, 5, 1)]
    assert spec.timezone_name == "America/New_York"
    assert raw.schedule.policies.overlap_policy == RawOverlap.SCHEDULE_OVERLAP_POLICY_SKIP
    assert raw.schedule.policies.catchup_window.ToTimedelta() == timedelta(days=365)
    assert desc.schedule.state.paused and desc.schedule.state.note == "created paused"
    assert await desc.memo_value("owner") == "tests"
    assert len(desc.info.next_action_times) == 10
    assert desc.info.num_actions == 0
    assert desc.info.created_at is not None
    token = raw.conflict_token
    assert token

    # Matching times of the hourly interval over three hours.
    matching = await client.workflow_service.list_schedule_matching_times(
        ListScheduleMatchingTimesRequest(
            namespace=client.namespace,
            schedule_id=sid,
            start_time=ts("2024-01-06T00:00:00+00:00"),
            end_time=ts("2024-01-06T03:00:00+00:00"),
        )
    )
    times = [t.ToDatetime().isoformat() for t in matching.start_time]
    assert times == ["2024-01-06T00:15:00", "2024-01-06T01:15:00", "2024-01-06T02:15:00"]

    # List: the schedule, its memo and its spec.
    async def listed() -> Optional[Any]:
        async for entry in await client.list_schedules():
            if entry.id == sid:
                return entry
        return None

    entry = await eventually(listed, "the schedule in the list")
    assert entry.schedule.state.paused and entry.schedule.state.note == "created paused"
    assert entry.schedule.action.workflow == "Counting"
    assert len(entry.info.next_action_times) == 5
    assert await entry.memo_value("owner") == "tests"

    # Update: a new note and interval, through describe and the conflict token.
    def change(input: ScheduleUpdateInput) -> ScheduleUpdate:
        schedule = input.description.schedule
        schedule.spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=2))])
        schedule.state.note = "updated"
        return ScheduleUpdate(schedule=schedule)

    await handle.update(change)
    desc = await handle.describe()
    assert desc.schedule.state.note == "updated"
    assert [i.every for i in desc.schedule.spec.intervals] == [timedelta(hours=2)]
    assert desc.info.last_updated_at is not None
    assert desc.raw_description.conflict_token != token

    # Trigger while paused: a manual action runs anyway; the next one gets the last result.
    await handle.trigger()
    first_id = await eventually(
        lambda: recent_ids(handle, 1), "the triggered workflow", within=15
    )
    assert re.fullmatch(rf"{wid}-\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first_id[0]), first_id
    first_run = client.get_workflow_handle(first_id[0])
    assert await first_run.result() == 1
    run_desc = await first_run.describe()
    assert run_desc.search_attributes.get("TemporalScheduledById") == [sid]
    assert "TemporalScheduledStartTime" in run_desc.search_attributes
    assert await run_desc.memo_value("kind") == "counting"
    # The next second, so the workflow id (whole seconds) differs.
    await asyncio.sleep(1.1)
    await handle.trigger()
    ids = await eventually(lambda: recent_ids(handle, 2), "the second workflow", within=15)
    assert await client.get_workflow_handle(ids[1]).result() == 2, "last completion result"

    # Pause and unpause with notes.
    await handle.unpause(note="running again")
    desc = await handle.describe()
    assert not desc.schedule.state.paused and desc.schedule.state.note == "running again"
    await handle.pause(note="held")
    desc = await handle.describe()
    assert desc.schedule.state.paused and desc.schedule.state.note == "held"

    # Backfill two hours of the 2-hour interval: the workflows are named by nominal time.
    await handle.backfill(
        ScheduleBackfill(
            start_at=datetime(2024, 1, 6, 0, 0, tzinfo=timezone.utc),
            end_at=datetime(2024, 1, 6, 4, 0, tzinfo=timezone.utc),
            overlap=ScheduleOverlapPolicy.ALLOW_ALL,
        )
    )
    for stamp in ["2024-01-06T00:00:00Z", "2024-01-06T02:00:00Z", "2024-01-06T04:00:00Z"]:
        backfilled = client.get_workflow_handle(f"{wid}-{stamp}")

        async def finished(h=backfilled) -> bool:
            try:
                await h.result()
                return True
            except RPCError as e:
                if e.status == RPCStatusCode.NOT_FOUND:
                    return False
                raise

        await eventually(finished, f"the backfilled workflow at {stamp}", within=15)
    desc = await handle.describe()
    assert desc.info.num_actions == 5

    # Delete: gone.
    await handle.delete()
    with pytest.raises(RPCError) as gone:
        await handle.describe()
    assert gone.value.status == RPCStatusCode.NOT_FOUND


async def recent_ids(handle, count: int) -> Optional[list]:
    desc = await handle.describe()
    ids = [a.action.workflow_id for a in desc.info.recent_actions]
    return ids if len(ids) >= count else None


async def overlap_and_firing(client: Client, queue: str) -> None:
    # SKIP: a trigger while one runs is skipped; ALLOW_ALL starts beside it.
    sid = f"overlap-{uuid.uuid4()}"
    handle = await client.create_schedule(
        sid,
        Schedule(
            action=ScheduleActionStartWorkflow(
                Waiting.run, id=f"waiting-{uuid.uuid4()}", task_queue=queue
            ),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=1))]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        ),
    )
    await handle.trigger()
    await eventually(lambda: recent_ids(handle, 1), "the first waiting workflow")
    await handle.trigger()

    async def skipped() -> bool:
        return (await handle.describe()).info.num_actions_skipped_overlap == 1

    await eventually(skipped, "the overlapping trigger skipped")
    await asyncio.sleep(1.1)
    await handle.trigger(overlap=ScheduleOverlapPolicy.ALLOW_ALL)
    await eventually(lambda: recent_ids(handle, 2), "the ALLOW_ALL workflow")
    desc = await handle.describe()
    # Workflows started under ALLOW_ALL are not watched: only the first one is running.
    first_id = desc.info.recent_actions[0].action.workflow_id
    assert [r.workflow_id for r in desc.info.running_actions] == [first_id]
    assert desc.info.num_actions == 2
    for action in desc.info.recent_actions:
        await client.get_workflow_handle(action.action.workflow_id).signal(Waiting.finish)
    await handle.delete()

    # An interval of one second fires on its own; each run is named by its nominal time.
    sid = f"firing-{uuid.uuid4()}"
    wid = f"fired-{uuid.uuid4()}"
    handle = await client.create_schedule(
        sid,
        Schedule(
            action=ScheduleActionStartWorkflow(Counting.run, id=wid, task_queue=queue),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))]),
        ),
    )
    ids = await eventually(lambda: recent_ids(handle, 2), "two scheduled actions", within=15)
    await handle.delete()
    for fired in ids[:2]:
        assert fired.startswith(f"{wid}-")
        assert await client.get_workflow_handle(fired).result() >= 1
    desc = await client.get_workflow_handle(ids[0]).describe()
    started = desc.search_attributes["TemporalScheduledStartTime"][0]
    assert started.microsecond == 0 and fired_time(ids[0], wid) == started


async def buffering_and_replacing(client: Client, queue: str) -> None:
    """BUFFER_ONE keeps one start behind the running workflow and drops the rest;
    TERMINATE_OTHER replaces the running workflow; CANCEL_OTHER cancels it first."""
    sid = f"buffer-{uuid.uuid4()}"
    handle = await client.create_schedule(
        sid,
        Schedule(
            action=ScheduleActionStartWorkflow(
                Waiting.run, id=f"buffered-{uuid.uuid4()}", task_queue=queue
            ),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=1))]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.BUFFER_ONE),
            state=ScheduleState(paused=True),
        ),
    )
    await handle.trigger()
    first = (await eventually(lambda: recent_ids(handle, 1), "the first workflow"))[0]
    for _ in range(2):
        await asyncio.sleep(1.1)
        await handle.trigger(overlap=ScheduleOverlapPolicy.BUFFER_ONE)

    async def buffered() -> Optional[Any]:
        info = (await handle.describe()).raw_description.info
        return info if info.overlap_skipped == 1 else None

    # The second start waits; the third finds the buffer full and counts as skipped.
    info = await eventually(buffered, "one start buffered, one skipped")
    assert info.buffer_size == 1 and info.action_count == 1 and info.buffer_dropped == 0
    assert len((await handle.describe()).info.next_action_times) == 10, "paused, still shown"
    await client.get_workflow_handle(first).signal(Waiting.finish)
    second = (await eventually(lambda: recent_ids(handle, 2), "the buffered workflow"))[1]

    # TERMINATE_OTHER: the running one is terminated and the new one starts.
    await asyncio.sleep(1.1)
    await handle.trigger(overlap=ScheduleOverlapPolicy.TERMINATE_OTHER)
    third = (await eventually(lambda: recent_ids(handle, 3), "the replacing workflow"))[2]
    assert (await client.get_workflow_handle(second).describe()).status == WorkflowExecutionStatus.TERMINATED

    # CANCEL_OTHER: the running one is cancelled, then the new one starts.
    await asyncio.sleep(1.1)
    await handle.trigger(overlap=ScheduleOverlapPolicy.CANCEL_OTHER)
    fourth = (await eventually(lambda: recent_ids(handle, 4), "the workflow after cancelling"))[3]
    assert (await client.get_workflow_handle(third).describe()).status == WorkflowExecutionStatus.CANCELED
    await client.get_workflow_handle(fourth).signal(Waiting.finish)
    await handle.delete()


def fired_time(workflow_id: str, prefix: str) -> datetime:
    return datetime.fromisoformat(workflow_id[len(prefix) + 1 :].replace("Z", "+00:00"))


@pytest.mark.backends("temporal", "engine")
def test_schedules(server: Server) -> None:

    async def scenario(client: Client) -> None:
        queue = f"py-schedules-{uuid.uuid4()}"
        async with Worker(client, task_queue=queue, workflows=[Counting, Waiting]):
            await describe_list_update_patch(client, queue)
            await overlap_and_firing(client, queue)
            await buffering_and_replacing(client, queue)

    server.run(scenario)
