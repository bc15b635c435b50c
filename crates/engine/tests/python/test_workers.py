"""Workers as an operator sees them: the official Python SDK's worker heartbeats (sent
because the namespace says `worker_heartbeats`), read back through `ListWorkers`,
`CountWorkers`, `DescribeWorker` and `temporal worker list`, on every backend: the real dev
server (.venv/bin/temporal, the oracle) and our engine on SQLite and on PostgreSQL.
"""

import asyncio
import subprocess
import time
import uuid
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import WorkerStatus
from temporalio.api.workflowservice.v1 import (
    CountWorkersRequest,
    DescribeNamespaceRequest,
    DescribeWorkerRequest,
    ListWorkersRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.worker import Worker

from backends import Server, backend_binary


@workflow.defn
class Idle:
    @workflow.run
    async def run(self) -> None:
        return None


async def scenario(client: Client) -> None:
    service, ns = client.workflow_service, client.namespace
    described = await service.describe_namespace(DescribeNamespaceRequest(namespace=ns))
    assert described.namespace_info.capabilities.worker_heartbeats
    queue = f"workers-{uuid.uuid4()}"
    identity = f"worker-{uuid.uuid4().hex[:8]}"
    # Heartbeats every second instead of the SDK's default minute.
    runtime = Runtime(telemetry=TelemetryConfig(), worker_heartbeat_interval=timedelta(seconds=1))
    beating = await Client.connect(client.service_client.config.target_host, namespace=ns, runtime=runtime)
    async with Worker(beating, task_queue=queue, workflows=[Idle], identity=identity):
        deadline = time.monotonic() + 15
        while True:
            listed = await service.list_workers(ListWorkersRequest(namespace=ns))
            mine = [w for w in listed.workers if w.worker_identity == identity]
            if mine:
                break
            assert time.monotonic() < deadline, f"the worker never showed: {listed}"
            await asyncio.sleep(0.2)
        worker = mine[0]
        assert worker.task_queue == queue
        assert worker.sdk_name == "temporal-python"
        assert worker.status == WorkerStatus.WORKER_STATUS_RUNNING
        counted = await service.count_workers(
            CountWorkersRequest(namespace=ns, query=f"WorkerIdentity = '{identity}'")
        )
        assert counted.count == 1
        one = await service.describe_worker(
            DescribeWorkerRequest(namespace=ns, worker_instance_key=worker.worker_instance_key)
        )
        assert one.worker_info.worker_heartbeat.worker_identity == identity
        with pytest.raises(RPCError) as missing:
            await service.describe_worker(DescribeWorkerRequest(namespace=ns, worker_instance_key="nope"))
        assert (missing.value.status, missing.value.message) == (RPCStatusCode.NOT_FOUND, "Worker nope not found")

        cli = backend_binary("temporal")
        shown = await asyncio.get_running_loop().run_in_executor(
            None,
            lambda: subprocess.run(
                [cli, "worker", "list", "--address", client.service_client.config.target_host],
                capture_output=True, text=True, timeout=60,
            ),
        )
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert identity in shown.stdout, shown.stdout


def test_workers(server: Server) -> None:
    server.run(scenario)
