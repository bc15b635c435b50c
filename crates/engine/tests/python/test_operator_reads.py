"""The read side an operator's tools call, and the RPCs the dev server refuses, through the
official Python SDK's raw services on both backends: the real dev server
(.venv/bin/temporal, the oracle) and our engine binary. Cluster info and the cluster list,
every search attribute, the gRPC health check, a history newest first, the list RPCs that
predate the query language (open, closed, scan), counting schedules, and the refusals:
archival, workflow pause and rules, the deprecated versioning and deployment APIs, worker
commands; and a deprecated namespace, where running workflows carry on and new ones are
refused.
"""

import asyncio
import time
import uuid

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.common.v1 import WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import EventType, NamespaceState, WorkflowExecutionStatus
from temporalio.api.filter.v1 import StatusFilter, WorkflowExecutionFilter, WorkflowTypeFilter
from temporalio.api.operatorservice.v1 import ListClustersRequest, RemoveRemoteClusterRequest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    CountSchedulesRequest,
    CreateWorkflowRuleRequest,
    DeprecateNamespaceRequest,
    DescribeNamespaceRequest,
    FetchWorkerConfigRequest,
    GetClusterInfoRequest,
    GetDeploymentReachabilityRequest,
    GetSearchAttributesRequest,
    GetWorkerBuildIdCompatibilityRequest,
    GetWorkerVersioningRulesRequest,
    GetWorkflowExecutionHistoryReverseRequest,
    ListArchivedWorkflowExecutionsRequest,
    ListClosedWorkflowExecutionsRequest,
    ListOpenWorkflowExecutionsRequest,
    ListWorkflowRulesRequest,
    PauseWorkflowExecutionRequest,
    RegisterNamespaceRequest,
    ScanWorkflowExecutionsRequest,
    SignalWorkflowExecutionRequest,
    StartWorkflowExecutionRequest,
    TerminateWorkflowExecutionRequest,
    UnpauseWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from backends import Server

S = RPCStatusCode


async def refused(call, status: RPCStatusCode, message: str) -> None:
    with pytest.raises(RPCError) as error:
        await call
    assert (error.value.status, error.value.message) == (status, message)


async def eventually(check, what: str):
    """Visibility on the dev server follows a moment later: retries `check` for 10 s."""
    deadline = time.monotonic() + 10
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)


async def start(client: Client, wid: str, workflow_type: str, queue: str) -> str:
    started = await client.workflow_service.start_workflow_execution(
        StartWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_id=wid,
            workflow_type=WorkflowType(name=workflow_type),
            task_queue=TaskQueue(name=queue),
            request_id=str(uuid.uuid4()),
        )
    )
    return started.run_id


async def cluster_and_search_attributes(client: Client) -> None:
    service = client.workflow_service
    info = await service.get_cluster_info(GetClusterInfoRequest())
    assert info.cluster_name == "active"
    assert info.history_shard_count == 1
    assert info.server_version
    assert info.supported_clients["temporal-cli"] == "<2.0.0"
    clusters = await client.operator_service.list_clusters(ListClustersRequest())
    assert [c.cluster_name for c in clusters.clusters] == ["active"]
    assert clusters.clusters[0].is_connection_enabled
    await refused(
        client.operator_service.remove_remote_cluster(RemoveRemoteClusterRequest(cluster_name="other")),
        S.NOT_FOUND,
        "The cluster to be deleted cannot be found in clusters cache.",
    )
    keys = (await service.get_search_attributes(GetSearchAttributesRequest())).keys
    for name in ["WorkflowId", "WorkflowType", "ExecutionStatus", "StartTime", "CloseTime"]:
        assert name in keys, name
    assert await client.service_client.check_health()


async def history_and_lists(client: Client) -> None:
    service, ns = client.workflow_service, client.namespace
    queue = f"reads-{uuid.uuid4()}"
    kind = f"Reads{uuid.uuid4().hex[:8]}"
    open_id, closed_id = f"open-{uuid.uuid4()}", f"closed-{uuid.uuid4()}"
    open_run = await start(client, open_id, kind, queue)
    await start(client, closed_id, kind, queue)
    await service.terminate_workflow_execution(
        TerminateWorkflowExecutionRequest(
            namespace=ns, workflow_execution=WorkflowExecution(workflow_id=closed_id), reason="done"
        )
    )

    # Newest first, one event a page: 3 (terminated), 2, 1.
    ids, token = [], b""
    for _ in range(5):
        page = await service.get_workflow_execution_history_reverse(
            GetWorkflowExecutionHistoryReverseRequest(
                namespace=ns,
                execution=WorkflowExecution(workflow_id=closed_id),
                maximum_page_size=1,
                next_page_token=token,
            )
        )
        ids += [e.event_id for e in page.history.events]
        token = page.next_page_token
        if not token:
            break
    assert ids == [3, 2, 1]
    whole = await service.get_workflow_execution_history_reverse(
        GetWorkflowExecutionHistoryReverseRequest(
            namespace=ns, execution=WorkflowExecution(workflow_id=closed_id)
        )
    )
    assert whole.history.events[0].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED

    by_type = WorkflowTypeFilter(name=kind)

    async def open_ids():
        listed = await service.list_open_workflow_executions(
            ListOpenWorkflowExecutionsRequest(namespace=ns, type_filter=by_type)
        )
        return [e.execution.workflow_id for e in listed.executions]

    assert await eventually(open_ids, "the open run is listed") == [open_id]
    listed = await service.list_open_workflow_executions(
        ListOpenWorkflowExecutionsRequest(
            namespace=ns, execution_filter=WorkflowExecutionFilter(workflow_id=open_id, run_id=open_run)
        )
    )
    assert [e.execution.run_id for e in listed.executions] == [open_run]

    async def closed_ids():
        listed = await service.list_closed_workflow_executions(
            ListClosedWorkflowExecutionsRequest(namespace=ns, type_filter=by_type)
        )
        return [e.execution.workflow_id for e in listed.executions]

    assert await eventually(closed_ids, "the closed run is listed") == [closed_id]
    terminated = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED
    completed = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED
    for status, expected in [(terminated, True), (completed, False)]:
        listed = await service.list_closed_workflow_executions(
            ListClosedWorkflowExecutionsRequest(namespace=ns, status_filter=StatusFilter(status=status))
        )
        assert (closed_id in [e.execution.workflow_id for e in listed.executions]) == expected

    scanned = await service.scan_workflow_executions(
        ScanWorkflowExecutionsRequest(namespace=ns, query=f"WorkflowType = '{kind}'")
    )
    assert sorted(e.execution.workflow_id for e in scanned.executions) == sorted([open_id, closed_id])
    counted = await service.count_schedules(CountSchedulesRequest(namespace=ns))
    assert counted.count == 0

    # Pause is off on the dev server; no run is paused, so unpause is refused.
    await refused(
        service.pause_workflow_execution(PauseWorkflowExecutionRequest(namespace=ns, workflow_id=open_id)),
        S.UNIMPLEMENTED,
        f"workflow pause is not enabled for namespace: {ns}",
    )
    await refused(
        service.unpause_workflow_execution(UnpauseWorkflowExecutionRequest(namespace=ns, workflow_id=open_id)),
        S.FAILED_PRECONDITION,
        "workflow is not paused.",
    )


async def refusals(client: Client) -> None:
    service, ns = client.workflow_service, client.namespace
    await refused(
        service.list_archived_workflow_executions(ListArchivedWorkflowExecutionsRequest(namespace=ns)),
        S.INVALID_ARGUMENT,
        "Cluster is not configured for visibility archival.",
    )
    v01 = "Worker versioning v0.1 (Version Set-based, deprecated) is disabled on this namespace."
    await refused(
        service.get_worker_build_id_compatibility(
            GetWorkerBuildIdCompatibilityRequest(namespace=ns, task_queue="q")
        ),
        S.PERMISSION_DENIED,
        v01,
    )
    v02 = "Worker versioning v0.2 (Rules-based, deprecated) is disabled on this namespace."
    await refused(
        service.get_worker_versioning_rules(GetWorkerVersioningRulesRequest(namespace=ns, task_queue="q")),
        S.PERMISSION_DENIED,
        v02,
    )
    await refused(
        service.get_deployment_reachability(GetDeploymentReachabilityRequest(namespace=ns)),
        S.UNIMPLEMENTED,
        "Deployments are deprecated and no longer supported, use Worker Deployments instead",
    )
    await refused(
        service.create_workflow_rule(CreateWorkflowRuleRequest(namespace=ns)),
        S.UNIMPLEMENTED,
        "method CreateWorkflowRule not supported",
    )
    await refused(
        service.list_workflow_rules(ListWorkflowRulesRequest(namespace=ns)),
        S.UNIMPLEMENTED,
        "method ListWorkflowRules not supported",
    )
    await refused(
        service.fetch_worker_config(FetchWorkerConfigRequest(namespace=ns)),
        S.UNIMPLEMENTED,
        "FetchWorkerConfig command is not enabled.",
    )
    # The namespace is checked first, as the dev server does.
    await refused(
        service.get_worker_versioning_rules(GetWorkerVersioningRulesRequest(namespace="nope")),
        S.NOT_FOUND,
        "Namespace nope is not found.",
    )


async def deprecated_namespace(client: Client) -> None:
    service = client.workflow_service
    ns = f"old-{uuid.uuid4().hex[:8]}"
    await service.register_namespace(
        RegisterNamespaceRequest(namespace=ns, workflow_execution_retention_period=Duration(seconds=86400))
    )
    other = await Client.connect(client.service_client.config.target_host, namespace=ns)

    async def started():
        # The dev server knows a new namespace a moment later.
        try:
            return await start(other, "running", "Old", "q")
        except RPCError as error:
            assert error.status == S.NOT_FOUND, error
            return None

    await eventually(started, "a workflow starts in the new namespace")
    await service.deprecate_namespace(DeprecateNamespaceRequest(namespace=ns))
    await refused(
        service.deprecate_namespace(DeprecateNamespaceRequest(namespace="nope")),
        S.NOT_FOUND, "Namespace nope is not found.",
    )

    async def deprecated():
        described = await service.describe_namespace(DescribeNamespaceRequest(namespace=ns))
        return described.namespace_info.state == NamespaceState.NAMESPACE_STATE_DEPRECATED

    await eventually(deprecated, "the namespace shows deprecated")

    async def start_refused():
        try:
            await start(other, f"new-{uuid.uuid4()}", "Old", "q")
        except RPCError as error:
            return (error.status, error.message)
        return None

    assert await eventually(start_refused, "a new workflow is refused") == (
        S.FAILED_PRECONDITION, "Namespace has invalid state: Deprecated. Must be Registered.",
    )
    await service.signal_workflow_execution(
        SignalWorkflowExecutionRequest(
            namespace=ns, workflow_execution=WorkflowExecution(workflow_id="running"), signal_name="still"
        )
    )


async def scenario(client: Client) -> None:
    await cluster_and_search_attributes(client)
    await history_and_lists(client)
    await refusals(client)
    await deprecated_namespace(client)


def test_operator_reads_and_refusals(server: Server) -> None:
    server.run(scenario)
