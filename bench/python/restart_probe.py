"""Restart to first answer: starts the engine on an existing SQLite file (one growth_probe.py
left) and times spawn to the first list page, then one describe of a closed run long gone
from memory, and the RSS after.

    .venv/bin/python bench/python/restart_probe.py target/debug/workflow-engine /tmp/tmpXXXX/engine.db 17480
"""
import asyncio, subprocess, sys, time
from temporalio.client import Client
from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest, DescribeWorkflowExecutionRequest
from temporalio.api.common.v1 import WorkflowExecution

async def main():
    binary, db, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    t = time.perf_counter()
    proc = subprocess.Popen([binary, "--port", str(port), "--db-filename", db, "--log-level", "warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                client = await Client.connect(f"127.0.0.1:{port}")
                await client.workflow_service.list_workflow_executions(ListWorkflowExecutionsRequest(namespace="default", page_size=100))
                break
            except Exception:
                await asyncio.sleep(0.01)
        first = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        await client.workflow_service.describe_workflow_execution(DescribeWorkflowExecutionRequest(namespace="default", execution=WorkflowExecution(workflow_id="wf-7")))
        describe = (time.perf_counter() - t) * 1000
        with open(f"/proc/{proc.pid}/status") as f:
            rss = [l for l in f if l.startswith("VmRSS")][0].split()[1]
        print(f"restart to first list page {first:.0f} ms; describe of a cold closed run {describe:.1f} ms; RSS after {int(rss)/1024:.1f} MB")
    finally:
        proc.terminate(); proc.wait()

asyncio.run(main())
