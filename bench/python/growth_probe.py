"""Growth probe, as a new user would try it: the standalone engine on a fresh SQLite file,
the official Python client and worker, short workflows up to each checkpoint; at each, the
engine's RSS, the median of 7 list pages (100), lists by type and counts, and the database
size. The database is left in a temporary folder for restart_probe.py.

    .venv/bin/python bench/python/growth_probe.py target/debug/workflow-engine 1000,5000,20000
"""

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta

from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker, UnsandboxedWorkflowRunner
from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest


@workflow.defn
class Echo:
    @workflow.run
    async def run(self, x: int) -> int:
        return x


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


async def timed(coro):
    t = time.perf_counter()
    r = await coro
    return (time.perf_counter() - t) * 1000, r


async def measure(client, pid, n, db):
    lists, types, counts = [], [], []
    for _ in range(7):
        t = time.perf_counter()
        page = await client.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(
                namespace="default", page_size=100
            )
        )
        lists.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        await client.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(
                namespace="default", page_size=100, query="WorkflowType = 'Echo'"
            )
        )
        types.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        c = await client.count_workflows()
        counts.append((time.perf_counter() - t) * 1000)
    med = lambda v: sorted(v)[len(v) // 2]
    size = sum(os.path.getsize(db + s) for s in ("", "-wal") if os.path.exists(db + s)) / 1e6
    print(
        f"{n:>7} closed: rss {rss_mb(pid):6.1f} MB  list {med(lists):6.1f} ms  by type {med(types):6.1f} ms  "
        f"count {med(counts):6.1f} ms (={c.count})  db {size:.1f} MB",
        flush=True,
    )


async def main():
    binary = sys.argv[1]
    checkpoints = [int(x) for x in sys.argv[2].split(",")]
    port = int(sys.argv[3]) if len(sys.argv) > 3 else 17455
    tmp = tempfile.mkdtemp()
    db = os.path.join(tmp, "engine.db")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--db-filename", db, "--log-level", "warn"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                client = await Client.connect(f"127.0.0.1:{port}")
                break
            except Exception:
                await asyncio.sleep(0.1)
        async with Worker(client, task_queue="q", workflows=[Echo], max_cached_workflows=100, workflow_runner=UnsandboxedWorkflowRunner()):
            done = 0
            print(f"      0 closed: rss {rss_mb(proc.pid):6.1f} MB", flush=True)
            for target in checkpoints:
                while done < target:
                    batch = min(200, target - done)
                    handles = await asyncio.gather(
                        *[
                            client.start_workflow(
                                Echo.run, done + i, id=f"wf-{done + i}", task_queue="q",
                                execution_timeout=timedelta(minutes=5),
                            )
                            for i in range(batch)
                        ]
                    )
                    await asyncio.gather(*[h.result() for h in handles])
                    done += batch
                await measure(client, proc.pid, done, db)
    finally:
        proc.terminate()
        proc.wait()


asyncio.run(main())
