"""An empty, migrated database on each backend, and an AuditLog over it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.domain.audit.log import AuditLog
from server.storage.database import Database
from server.storage.migrate import run_migrations
from tests.schema_template import migrated_sqlite


# Synchronous: the PostgreSQL fixture creates its database with asyncio.run, which cannot nest.
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return migrated_sqlite(tmp_path / "hxtp.db")
    url: str = request.getfixturevalue("fresh_postgres_url")
    run_migrations(url)
    return url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


@pytest.fixture
def audit(database: Database) -> AuditLog:
    return AuditLog(database)
