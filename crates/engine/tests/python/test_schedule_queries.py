"""Schedules listed by query and their search attributes, through the official Python SDK on
the real dev server (the oracle) and the engine on SQLite and PostgreSQL: `ListSchedules`
filters by the schedule's own search attributes, `ScheduleId` and `TemporalSchedulePaused`
and refuses workflow attributes; updating a schedule's search attributes with none, empty,
new or fewer values leaves, clears, overwrites or replaces them; attributes come back typed,
the workflow action's too.
"""

import asyncio
import uuid
from typing import Any, Awaitable, Callable

import pytest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from backends import Server

KW = SearchAttributeKey.for_keyword("SchedKw")
TX = SearchAttributeKey.for_text("SchedTx")
ARGS = ["--search-attribute", "SchedKw=Keyword", "--search-attribute", "SchedTx=Text"]


async def eventually(check: Callable[[], Awaitable[Any]], within: float = 10.0) -> Any:
    """The real server lists and describes schedules' attributes through visibility, a
    moment after each change."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            return await check()
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


def attrs(*pairs) -> TypedSearchAttributes:
    return TypedSearchAttributes([SearchAttributePair(k, v) for k, v in pairs])


async def scenario(client: Client) -> None:
    prefix = f"s-{uuid.uuid4().hex[:6]}"
    action = ScheduleActionStartWorkflow("Nothing", id="w", task_queue="nobody-polls")
    made = {"0": (None, False), "1": ("a", False), "2": ("a", True), "3": ("b", True)}
    for suffix, (value, paused) in made.items():
        await client.create_schedule(
            f"{prefix}-{suffix}",
            Schedule(action=action, spec=ScheduleSpec(), state=ScheduleState(paused=paused)),
            search_attributes=attrs((KW, value)) if value else None,
        )

    async def listed(query: str | None) -> dict:
        return {e.id.removeprefix(f"{prefix}-"): dict(e.search_attributes) async for e in await client.list_schedules(query)}

    def expect(query: str | None, ids: set):
        async def check() -> None:
            got = await listed(query)
            assert set(got) == ids, (query, got)

        return check

    await eventually(expect(None, {"0", "1", "2", "3"}))
    everything = await listed(None)
    # The entries carry their own attributes only (no TemporalSchedulePaused).
    assert everything == {"0": {}, "1": {"SchedKw": ["a"]}, "2": {"SchedKw": ["a"]}, "3": {"SchedKw": ["b"]}}
    for query, ids in [
        ("SchedKw = 'a'", {"1", "2"}),
        ("TemporalSchedulePaused = true", {"2", "3"}),
        ("TemporalSchedulePaused = false", {"0", "1"}),
        ("SchedKw = 'a' AND TemporalSchedulePaused = false", {"1"}),
        (f"ScheduleId = '{prefix}-1' OR SchedKw = 'b'", {"1", "3"}),
        ("SchedKw IS NULL", {"0"}),
        (f"ScheduleId STARTS_WITH '{prefix}'", {"0", "1", "2", "3"}),
    ]:
        await eventually(expect(query, ids))
    for query, message in [
        ("WorkflowId = 'w'", 'invalid query filter for schedules: cannot filter on "WorkflowId"'),
        ("ExecutionStatus = 'Running'", 'invalid query filter for schedules: cannot filter on "ExecutionStatus"'),
        ("SchedKw = 'a' ORDER BY StartTime", 'invalid query filter for schedules: cannot filter on "StartTime"'),
        ("Bogus = 1", "invalid query: invalid search attribute: Bogus"),
    ]:
        with pytest.raises(RPCError) as refused:
            await listed(query)
        assert (refused.value.status, refused.value.message) == (RPCStatusCode.INVALID_ARGUMENT, message)

    # Updates of the schedule's attributes, each from KW and TX both set.
    handle = client.get_schedule_handle(f"{prefix}-2")
    cases = {
        "none": (None, {"SchedKw": ["a"], "SchedTx": ["t"]}),
        "empty": (TypedSearchAttributes.empty, {}),
        "overwrite": (attrs((KW, "n"), (TX, "tn")), {"SchedKw": ["n"], "SchedTx": ["tn"]}),
        "partial": (attrs((KW, "p")), {"SchedKw": ["p"]}),
    }
    for case, (given, expected) in cases.items():
        await handle.update(lambda i: ScheduleUpdate(i.description.schedule, search_attributes=attrs((KW, "a"), (TX, "t"))))

        async def both_set() -> None:
            d = await handle.describe()
            assert d.typed_search_attributes.get(KW) == "a" and d.typed_search_attributes.get(TX) == "t", case

        await eventually(both_set)

        def change(i: ScheduleUpdateInput, given=given) -> ScheduleUpdate:
            return ScheduleUpdate(i.description.schedule, search_attributes=given)

        await handle.update(change)

        async def updated(expected=expected) -> None:
            d = await handle.describe()
            assert dict(d.search_attributes) == expected, (case, dict(d.search_attributes))
            typed = {p.key.name: p.value for p in d.typed_search_attributes}
            assert typed == {k: v[0] for k, v in expected.items()}, (case, typed)

        await eventually(updated)
    await eventually(expect("SchedKw = 'p'", {"2"}))

    # The workflow action's attributes come back typed, given typed or not.
    typed_action = ScheduleActionStartWorkflow(
        "Nothing", id="w2", task_queue="nobody-polls", typed_search_attributes=attrs((TX, "typed"))
    )
    typed_action.untyped_search_attributes = {KW.name: ["untyped"]}
    acting = await client.create_schedule(f"{prefix}-4", Schedule(action=typed_action, spec=ScheduleSpec()))
    described = (await acting.describe()).schedule.action
    assert isinstance(described, ScheduleActionStartWorkflow)
    assert {p.key.name: p.value for p in described.typed_search_attributes} == {"SchedTx": "typed", "SchedKw": "untyped"}
    for suffix in ["0", "1", "2", "3", "4"]:
        await client.get_schedule_handle(f"{prefix}-{suffix}").delete()


def test_schedules_by_query_and_search_attributes(server: Server) -> None:
    server.run(scenario, extra_args=ARGS)
