#!/usr/bin/env python3
"""Project rules for rendered Kubernetes manifests that schema and security scanners don't know.

For every Deployment/StatefulSet: each container has readiness and liveness probes, CPU and
memory requests and limits, and an explicitly tagged image (not :latest). For the orders
workloads (label app.kubernetes.io/part-of=workflow-orders) also: readiness is GET /readyz
and liveness GET /healthz on port 9090, and terminationGracePeriodSeconds exceeds the preStop
sleep plus WORKFLOW_SHUTDOWN_GRACE_PERIOD (from the pod's env or its ConfigMaps; default 30s),
so Kubernetes never SIGKILLs a worker that is still draining.

Usage: check_manifests.py RENDERED.yaml...   (needs PyYAML; exits 1 on any violation)
"""

from __future__ import annotations

import re
import sys

import yaml

ORDERS_LABEL = ("app.kubernetes.io/part-of", "workflow-orders")
DEFAULT_GRACE_S = 30.0
HEALTH_PORT = 9090


def seconds(duration: str) -> float:
    """Parse a humantime-style duration such as 30s, 1m30s, 500ms."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration.replace(" ", ""):
        raise ValueError(f"unparseable duration {duration!r}")
    return sum(float(n) * units[u] for n, u in parts)


def port_number(container: dict, port) -> int | None:
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    return None


def check_workload(doc: dict, configmaps: dict[str, dict]) -> list[str]:
    pod = doc["spec"]["template"]["spec"]
    labels = doc["spec"]["template"]["metadata"].get("labels", {})
    orders = labels.get(ORDERS_LABEL[0]) == ORDERS_LABEL[1]
    problems = []
    for c in pod.get("containers", []):
        where = f"container {c['name']}"
        image = c.get("image", "")
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        if not tag or tag == "latest":
            problems.append(f"{where}: image {image!r} needs an explicit tag")
        for kind in ("requests", "limits"):
            for res in ("cpu", "memory"):
                if res not in c.get("resources", {}).get(kind, {}):
                    problems.append(f"{where}: no {kind}.{res}")
        for probe in ("readinessProbe", "livenessProbe"):
            if probe not in c:
                problems.append(f"{where}: no {probe}")
        if not orders:
            continue
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            get = c.get(probe, {}).get("httpGet", {})
            if get.get("path") != path or port_number(c, get.get("port")) != HEALTH_PORT:
                problems.append(f"{where}: {probe} must GET {path} on port {HEALTH_PORT}")
        env = {}
        for src in c.get("envFrom", []):
            ref = src.get("configMapRef", {}).get("name")
            env.update(configmaps.get(ref, {}))
        env.update({e["name"]: e["value"] for e in c.get("env", []) if "value" in e})
        drain = seconds(env["WORKFLOW_SHUTDOWN_GRACE_PERIOD"]) if "WORKFLOW_SHUTDOWN_GRACE_PERIOD" in env else DEFAULT_GRACE_S
        pre_stop = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        grace = pod.get("terminationGracePeriodSeconds", 30)
        if grace <= drain + pre_stop:
            problems.append(
                f"{where}: terminationGracePeriodSeconds {grace} must exceed preStop {pre_stop}s "
                f"+ WORKFLOW_SHUTDOWN_GRACE_PERIOD {drain:g}s"
            )
    return problems


def main(paths: list[str]) -> int:
    failed = 0
    for path in paths:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        configmaps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
        workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
        if not workloads:
            print(f"FAIL {path}: no workloads rendered")
            failed += 1
        for d in workloads:
            problems = check_workload(d, configmaps)
            name = f"{d['kind'].lower()}/{d['metadata']['name']}"
            if problems:
                failed += 1
                print(f"FAIL {path} {name}: " + "; ".join(problems))
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    sys.exit(main(sys.argv[1:]))
