"""Nexus through the official Python SDK on the real dev server (.venv/bin/temporal, the
oracle) and on our engine binary, on SQLite and on PostgreSQL. A caller workflow in
`default` calls operations of a service whose handler worker polls a queue in `handler-ns`,
through an endpoint: a sync operation, an async workflow-run operation (completed through
the callback the server attaches to the handler's workflow), a failing handler (an
operation error and a non-retryable handler error), a cancelled operation, a timed-out one;
the pending operation in describe; the same async operation across a restart of the
server; and endpoint CRUD from the `temporal` CLI with the real server's errors.
"""

import asyncio
import subprocess
import time
import uuid
from datetime import timedelta

import nexusrpc
import nexusrpc.handler
import pytest
from temporalio import nexus, workflow
from temporalio.api.enums.v1 import EventType, PendingNexusOperationState
from temporalio.api.nexus.v1 import EndpointSpec, EndpointTarget
from temporalio.api.workflowservice.v1 import (
    StartActivityExecutionRequest,
    StartNexusOperationExecutionRequest,
)
from temporalio.api.operatorservice.v1 import (
    CreateNexusEndpointRequest,
    DeleteNexusEndpointRequest,
    GetNexusEndpointRequest,
    ListNexusEndpointsRequest,
    UpdateNexusEndpointRequest,
)
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from backends import backend_binary, start_env

HANDLER_NS = "handler-ns"


@nexusrpc.service
class Greeting:
    echo: nexusrpc.Operation[str, str]
    refuse: nexusrpc.Operation[str, str]
    reject: nexusrpc.Operation[str, str]
    run: nexusrpc.Operation[str, str]


@workflow.defn
class Greeter:
    """The workflow behind the async operation: answers at once, or waits for `finish`."""

    def __init__(self) -> None:
        self.finished = False

    @workflow.signal
    def finish(self) -> None:
        self.finished = True

    @workflow.run
    async def run(self, name: str) -> str:
        if name.startswith("wait"):
            await workflow.wait_condition(lambda: self.finished)
        return f"hello {name}"


@nexusrpc.handler.service_handler(service=Greeting)
class GreetingHandler:
    @nexusrpc.handler.sync_operation
    async def echo(self, ctx: nexusrpc.handler.StartOperationContext, name: str) -> str:
        return f"echo {name}"

    @nexusrpc.handler.sync_operation
    async def refuse(self, ctx: nexusrpc.handler.StartOperationContext, name: str) -> str:
        raise nexusrpc.OperationError(f"no {name}", state=nexusrpc.OperationErrorState.FAILED)

    @nexusrpc.handler.sync_operation
    async def reject(self, ctx: nexusrpc.handler.StartOperationContext, name: str) -> str:
        raise nexusrpc.HandlerError(f"bad {name}", type=nexusrpc.HandlerErrorType.BAD_REQUEST)

    @nexus.workflow_run_operation
    async def run(
        self, ctx: nexus.WorkflowRunOperationContext, name: str
    ) -> nexus.WorkflowHandle[str]:
        return await ctx.start_workflow(Greeter.run, name, id=f"greeter-{name}")


@workflow.defn
class Caller:
    """Calls one operation of `Greeting` as `how` says and reports what came back."""

    @workflow.run
    async def run(self, endpoint: str, how: str, name: str) -> str:
        client = workflow.create_nexus_client(service=Greeting, endpoint=endpoint)
        try:
            if how == "cancel":
                handle = await client.start_operation(
                    Greeting.run, name, schedule_to_close_timeout=timedelta(seconds=60)
                )
                handle.cancel()
                return await handle
            if how == "timeout":
                return await client.execute_operation(
                    Greeting.run, name, schedule_to_close_timeout=timedelta(seconds=8)
                )
            return await client.execute_operation(
                getattr(Greeting, how), name, schedule_to_close_timeout=timedelta(seconds=60)
            )
        except Exception as error:
            cause = error.__cause__
            return f"{type(error).__name__} / {type(cause).__name__}: {cause}"


S, ST, C = "SCHEDULED", "STARTED", "COMPLETED"
# What the real server gives: the caller's result and its Nexus events, in order.
EXPECTED = {
    "echo": ("echo a", [S, C]),
    "refuse": (
        "NexusOperationError / ApplicationError: OperationError: no a",
        [S, "FAILED"],
    ),
    "reject": ("NexusOperationError / HandlerError: bad a", [S, "FAILED"]),
    "run": ("hello a", [S, ST, C]),
    "cancel": (
        "NexusOperationError / CancelledError: operation canceled",
        [S, ST, "CANCEL_REQUESTED", "CANCEL_REQUEST_COMPLETED", "CANCELED"],
    ),
    "timeout": ("NexusOperationError / TimeoutError: operation timed out", [S, ST, "TIMED_OUT"]),
}


async def start(backend: str, database: str, *extra: str) -> WorkflowEnvironment:
    return await start_env(backend, database, ["--namespace", HANDLER_NS, *extra])


async def create_endpoint(client: Client, name: str, queue: str) -> str:
    response = await client.operator_service.create_nexus_endpoint(
        CreateNexusEndpointRequest(
            spec=EndpointSpec(
                name=name,
                target=EndpointTarget(
                    worker=EndpointTarget.Worker(namespace=HANDLER_NS, task_queue=queue)
                ),
            )
        )
    )
    return response.endpoint.id


def workers(client: Client, handler: Client, caller_queue: str, handler_queue: str):
    return (
        Worker(handler, task_queue=handler_queue, nexus_service_handlers=[GreetingHandler()],
               workflows=[Greeter]),
        Worker(client, task_queue=caller_queue, workflows=[Caller]),
    )


async def nexus_events(handle: WorkflowHandle) -> list:
    names = [EventType.Name(e.event_type) async for e in handle.fetch_history_events()]
    prefix = "EVENT_TYPE_NEXUS_OPERATION_"
    return [n.removeprefix(prefix) for n in names if n.startswith(prefix)]


def test_operations(backend: str, database: str) -> None:

    async def run() -> None:
        async with await start(backend, database) as env:
            client = env.client
            handler = await Client.connect(
                client.service_client.config.target_host, namespace=HANDLER_NS
            )
            tag = uuid.uuid4().hex[:8]
            endpoint, handler_queue, caller_queue = f"ep-{tag}", f"h-{tag}", f"c-{tag}"
            await create_endpoint(client, endpoint, handler_queue)

            async def one(how: str) -> tuple:
                name = "a" if how in ("echo", "refuse", "reject", "run") else f"wait-{how}-{tag}"
                handle = await client.start_workflow(
                    Caller.run, args=[endpoint, how, name], id=f"caller-{how}-{tag}",
                    task_queue=caller_queue, execution_timeout=timedelta(seconds=60),
                )
                return await handle.result(), await nexus_events(handle)

            a, b = workers(client, handler, caller_queue, handler_queue)
            async with a, b:
                outcomes = await asyncio.gather(*[one(how) for how in EXPECTED])
            got = dict(zip(EXPECTED, outcomes))
            assert got == EXPECTED, got
            # The handler's workflow ran in the handler's namespace.
            greeter = handler.get_workflow_handle("greeter-a")
            assert await greeter.result() == "hello a"
            # A cancelled operation's workflow was cancelled by the handler.
            cancelled = handler.get_workflow_handle(f"greeter-wait-cancel-{tag}")
            description = await cancelled.describe()
            assert description.status.name == "CANCELED", description.status

    asyncio.run(run())


def test_async_operation_across_a_restart(backend: str, database: str) -> None:
    tag = uuid.uuid4().hex[:8]
    endpoint, handler_queue, caller_queue = f"ep-{tag}", f"h-{tag}", f"c-{tag}"
    name = f"wait-restart-{tag}"
    caller_id = f"caller-restart-{tag}"

    async def before() -> None:
        async with await start(backend, database) as env:
            client = env.client
            handler = await Client.connect(
                client.service_client.config.target_host, namespace=HANDLER_NS
            )
            await create_endpoint(client, endpoint, handler_queue)
            handle = await client.start_workflow(
                Caller.run, args=[endpoint, "run", name], id=caller_id,
                task_queue=caller_queue, execution_timeout=timedelta(seconds=120),
            )
            a, b = workers(client, handler, caller_queue, handler_queue)
            async with a, b:
                deadline = time.monotonic() + 30
                while True:
                    pending = (await handle.describe()).raw_description.pending_nexus_operations
                    started = PendingNexusOperationState.PENDING_NEXUS_OPERATION_STATE_STARTED
                    if pending and pending[0].state == started:
                        break
                    assert time.monotonic() < deadline, pending
                    await asyncio.sleep(0.1)
                operation = pending[0]
                assert (operation.endpoint, operation.service, operation.operation) == (
                    endpoint, "Greeting", "run",
                )
                assert operation.operation_token
                assert operation.schedule_to_close_timeout.ToSeconds() == 60

    async def after() -> None:
        async with await start(backend, database) as env:
            client = env.client
            handler = await Client.connect(
                client.service_client.config.target_host, namespace=HANDLER_NS
            )
            listed = await client.operator_service.list_nexus_endpoints(
                ListNexusEndpointsRequest(name=endpoint)
            )
            assert [e.spec.name for e in listed.endpoints] == [endpoint]
            a, b = workers(client, handler, caller_queue, handler_queue)
            async with a, b:
                await handler.get_workflow_handle(f"greeter-{name}").signal(Greeter.finish)
                handle = client.get_workflow_handle(caller_id)
                assert await handle.result() == f"hello {name}"
                assert await nexus_events(handle) == [S, ST, C]

    asyncio.run(before())
    asyncio.run(after())


def cli(address: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [backend_binary("temporal"), "--address", address, "operator", "nexus",
         "endpoint", *args],
        capture_output=True, text=True, timeout=30,
    )


def test_endpoint_crud(backend: str, database: str) -> None:

    async def run() -> None:
        async with await start(backend, database) as env:
            client = env.client
            address = client.service_client.config.target_host
            loop = asyncio.get_running_loop()

            async def temporal(*args: str) -> subprocess.CompletedProcess:
                return await loop.run_in_executor(None, lambda: cli(address, *args))

            created = await temporal(
                "create", "--name", "orders", "--target-namespace", HANDLER_NS,
                "--target-task-queue", "q1", "--description", "the *orders* service",
            )
            assert created.returncode == 0, created.stderr
            assert "Endpoint orders successfully created." in created.stdout
            again = await temporal(
                "create", "--name", "orders", "--target-namespace", HANDLER_NS,
                "--target-task-queue", "q1",
            )
            assert again.returncode == 1
            assert "Endpoint with name orders already registered" in again.stderr
            external = await temporal("create", "--name", "far", "--target-url", "https://x.example/n")
            assert external.returncode == 0, external.stderr

            listed = await temporal("list", "-o", "json")
            assert listed.returncode == 0, listed.stderr
            assert '"name": "orders"' in listed.stdout and '"name": "far"' in listed.stdout
            got = await temporal("get", "--name", "orders", "-o", "json")
            assert got.returncode == 0, got.stderr
            assert '"taskQueue": "q1"' in got.stdout and '"version": "1"' in got.stdout
            missing = await temporal("get", "--name", "nope")
            assert missing.returncode == 1 and 'endpoint not found: "nope"' in missing.stderr

            updated = await temporal("update", "--name", "orders", "--target-task-queue", "q2")
            assert updated.returncode == 0, updated.stderr
            got = await temporal("get", "--name", "orders", "-o", "json")
            assert '"taskQueue": "q2"' in got.stdout and '"version": "2"' in got.stdout
            assert "lastModifiedTime" in got.stdout

            deleted = await temporal("delete", "--name", "orders")
            assert deleted.returncode == 0, deleted.stderr
            assert "Endpoint orders successfully deleted" in deleted.stdout
            gone = await temporal("delete", "--name", "orders")
            assert gone.returncode == 1 and 'endpoint not found: "orders"' in gone.stderr
            listed = await temporal("list", "-o", "json")
            assert '"name": "orders"' not in listed.stdout and '"name": "far"' in listed.stdout

            # The real server's validation, status by status.
            operator = client.operator_service

            def worker(namespace: str, queue: str) -> EndpointTarget:
                return EndpointTarget(
                    worker=EndpointTarget.Worker(namespace=namespace, task_queue=queue)
                )

            async def refused(call) -> tuple:
                with pytest.raises(RPCError) as caught:
                    await call
                return caught.value.status, caught.value.message

            def create(spec: EndpointSpec):
                return operator.create_nexus_endpoint(CreateNexusEndpointRequest(spec=spec))

            invalid = RPCStatusCode.INVALID_ARGUMENT
            assert await refused(create(EndpointSpec())) == (
                invalid, "endpoint name not set, empty target variant",
            )
            assert await refused(create(EndpointSpec(name="bad name", target=worker(HANDLER_NS, "q")))) == (
                invalid, 'endpoint name must match the regex: "^[a-zA-Z][a-zA-Z0-9\\\\-]*[a-zA-Z0-9]$"',
            )
            assert await refused(create(EndpointSpec(name="a" * 201, target=worker(HANDLER_NS, "q")))) == (
                invalid, "endpoint name exceeds length limit of 200",
            )
            assert await refused(create(EndpointSpec(name="x1", target=worker(HANDLER_NS, "")))) == (
                invalid, 'invalid target task queue: "taskQueue is not set"',
            )
            assert await refused(create(EndpointSpec(name="x1", target=worker("", "q")))) == (
                invalid, "target namespace not set",
            )
            assert await refused(create(EndpointSpec(name="x1", target=worker("nowhere", "q")))) == (
                RPCStatusCode.FAILED_PRECONDITION,
                "could not verify namespace referenced by target exists: Namespace nowhere is not found.",
            )
            external = EndpointTarget(external=EndpointTarget.External(url="ftp://x"))
            assert await refused(create(EndpointSpec(name="x1", target=external))) == (
                invalid, 'invalid target URL scheme: "ftp", expected http or https',
            )
            zero = "00000000-0000-0000-0000-000000000000"
            assert await refused(operator.get_nexus_endpoint(GetNexusEndpointRequest(id=zero))) == (
                RPCStatusCode.NOT_FOUND, f"Nexus endpoint with ID `{zero}` not found",
            )
            assert await refused(operator.get_nexus_endpoint(GetNexusEndpointRequest(id=""))) == (
                invalid, "endpoint ID not set",
            )
            assert await refused(operator.delete_nexus_endpoint(DeleteNexusEndpointRequest(id=zero, version=1))) == (
                RPCStatusCode.NOT_FOUND, f"error deleting nexus endpoint with ID: {zero}",
            )
            assert await refused(operator.delete_nexus_endpoint(DeleteNexusEndpointRequest(id=""))) == (
                invalid, "endpoint ID not set, endpoint version is non-positive",
            )
            ident = await create_endpoint(client, "versioned", "q")
            stale = UpdateNexusEndpointRequest(
                id=ident, version=5, spec=EndpointSpec(name="versioned", target=worker(HANDLER_NS, "q3"))
            )
            assert await refused(operator.update_nexus_endpoint(stale)) == (
                RPCStatusCode.FAILED_PRECONDITION, "nexus endpoint version mismatch. received: 5 expected 1",
            )
            stale.id = zero
            assert await refused(operator.update_nexus_endpoint(stale)) == (
                RPCStatusCode.NOT_FOUND, f"error updating Nexus endpoint. endpoint ID {zero} not found",
            )
            # Pages follow the id order.
            page = await operator.list_nexus_endpoints(ListNexusEndpointsRequest(page_size=1))
            assert len(page.endpoints) == 1 and page.next_page_token
            rest = await operator.list_nexus_endpoints(
                ListNexusEndpointsRequest(page_size=1000, next_page_token=page.next_page_token)
            )
            ids = [page.endpoints[0].id] + [e.id for e in rest.endpoints]
            assert ids == sorted(ids) and len(ids) == 2, ids

    asyncio.run(run())


@pytest.mark.backends("temporal", "engine")
def test_standalone_executions_are_refused(backend: str, database: str) -> None:
    """Standalone Nexus operations are off on a default dev server; standalone activities are
    on there (test_standalone_activities.py), and off with `activity.enableStandalone=false`
    on both servers."""

    async def run() -> None:
        flag = ("--dynamic-config-value", "activity.enableStandalone=false")
        async with await start(backend, database, *flag) as env:
            service = env.client.workflow_service
            namespace = env.client.namespace
            with pytest.raises(RPCError) as caught:
                await service.start_nexus_operation_execution(
                    StartNexusOperationExecutionRequest(namespace=namespace)
                )
            assert (caught.value.status, caught.value.message) == (
                RPCStatusCode.UNIMPLEMENTED, "Standalone Nexus operation is disabled",
            )
            with pytest.raises(RPCError) as caught:
                await service.start_activity_execution(
                    StartActivityExecutionRequest(namespace=namespace, activity_id="a")
                )
            assert (caught.value.status, caught.value.message) == (
                RPCStatusCode.UNIMPLEMENTED, "Standalone activity is disabled",
            )

    asyncio.run(run())
