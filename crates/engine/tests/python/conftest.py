"""The backends every test here runs on, as one parametrised fixture.

A test that takes `backend` (or `server`, or `database`) runs once on each backend of
`backends.ALL`: the real dev server (the oracle), the engine on SQLite and the engine on
PostgreSQL; `@pytest.mark.backends("temporal", "engine")` narrows it to those named.
`server` runs a scenario against a fresh server of that backend; `database` is where such a
server keeps its state, for tests that start one themselves (a restart, extra flags)."""

from pathlib import Path

import pytest

from backends import ALL, Server, database_for


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "backends(*names): run only on these backends (default: all)")


def _parametrized_by_hand(metafunc: pytest.Metafunc) -> bool:
    """A test that still names its backends with `@pytest.mark.parametrize("backend", ...)`."""
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else ""
        if "backend" in ([n.strip() for n in names.split(",")] if isinstance(names, str) else names):
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames and not _parametrized_by_hand(metafunc):
        marker = metafunc.definition.get_closest_marker("backends")
        names = list(marker.args) if marker else ALL
        unknown = [n for n in names if n not in ALL]
        if unknown:
            raise pytest.UsageError(f"unknown backends {unknown}: the backends are {ALL}")
        metafunc.parametrize("backend", names)


@pytest.fixture
def server(backend: str, tmp_path: Path) -> Server:
    return Server(backend, tmp_path)


@pytest.fixture
def database(backend: str, tmp_path: Path) -> str:
    """Where the backend keeps its state: a SQLite file, or a fresh PostgreSQL database."""
    return database_for(backend, tmp_path)
