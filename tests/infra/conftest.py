"""Fixtures of the infrastructure tests."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from server.storage.database import Database
from server.storage.migrate import run_migrations_async


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port that accepts connections and never answers: the worst case for a client's timeout."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An async URL to a database with nothing in it, on each backend."""
    if request.param == "sqlite":
        # A directory that does not exist yet: the engine must create it.
        return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'hxtp.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


@pytest.fixture
async def database(empty_database_url: str) -> AsyncIterator[Database]:
    await run_migrations_async(empty_database_url)
    db = Database(empty_database_url)
    yield db
    await db.dispose()
