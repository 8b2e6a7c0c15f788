"""Storage against real databases: SQLite in a temp dir (embedded) and a scratch PostgreSQL database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import select

import server.storage.tables
from server.storage.database import Database
from server.storage.migrate import (
    MIGRATION_LOCK_ID,
    alembic_config,
    downgrade_migrations,
    run_migrations,
    run_migrations_async,
)
from server.storage.models import Tenant, User, metadata

TABLES = {"tenant", "user"}
T = TypeVar("T")


def _schema_differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, metadata))


def _current_revisions(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def _on_sync_connection(url: str, check: Callable[[Connection], T]) -> T:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(check)
    finally:
        await engine.dispose()


# Every branch (identity, fleet, ...) is its own head; upgrades run to all of them.
HEADS = set(ScriptDirectory.from_config(alembic_config()).get_heads())


# -- migrations --------------------------------------------------------------------------------


async def test_migrations_produce_the_models_schema_and_are_idempotent(empty_database_url: str) -> None:
    await run_migrations_async(empty_database_url)
    await run_migrations_async(empty_database_url)  # second run: already at head, a no-op

    assert await _on_sync_connection(empty_database_url, _schema_differences) == []
    assert await _on_sync_connection(empty_database_url, _current_revisions) == HEADS


async def test_migrations_are_reversible(empty_database_url: str) -> None:
    await run_migrations_async(empty_database_url)
    await asyncio.to_thread(downgrade_migrations, empty_database_url, "base")
    assert not (await _on_sync_connection(empty_database_url, _table_names)) & TABLES

    await run_migrations_async(empty_database_url)
    assert await _on_sync_connection(empty_database_url, _schema_differences) == []


def test_run_migrations_is_synchronous_outside_an_event_loop(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    run_migrations(url)
    assert asyncio.run(_on_sync_connection(url, _current_revisions)) == HEADS


async def test_run_migrations_refuses_to_block_a_running_event_loop(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="run_migrations_async"):
        run_migrations(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")


async def test_concurrent_migrations_on_postgresql_serialise_on_the_advisory_lock(
    fresh_postgres_url: str,
) -> None:
    # Hold the migration lock from outside; a migration must wait for it rather than run alongside.
    engine = create_async_engine(fresh_postgres_url)
    try:
        async with engine.connect() as holder:
            await holder.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            blocked = asyncio.ensure_future(
                asyncio.gather(
                    run_migrations_async(fresh_postgres_url), run_migrations_async(fresh_postgres_url)
                )
            )
            await asyncio.sleep(0.5)
            assert not blocked.done(), "migration ran while another process held the lock"
            assert TABLES.isdisjoint(await holder.run_sync(_table_names))
            await holder.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
            await holder.commit()
        async with asyncio.timeout(30):
            await blocked  # both succeed: one migrates, the other finds the schema at head
    finally:
        await engine.dispose()
    assert await _on_sync_connection(fresh_postgres_url, _schema_differences) == []


# -- engine and sessions -----------------------------------------------------------------------


async def test_tables_round_trip_with_aware_utc_timestamps(database: Database) -> None:
    created = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2)))
    async with database.session() as session:
        tenant = Tenant(name="Acme", slug="acme", created_at=created)
        session.add(tenant)
        await session.commit()
        session.add(User(email="a@acme.test", tenant_id=tenant.id))
        await session.commit()
        assert tenant.slug == "acme"  # expire_on_commit=False: readable after commit without I/O

    async with database.session() as session:
        stored = (await session.exec(select(Tenant).where(Tenant.slug == "acme"))).one()
        user = (await session.exec(select(User))).one()
    assert stored.tier == "free"
    assert stored.created_at == created
    assert stored.created_at.tzinfo == UTC
    assert user.role == "none" and user.tenant_id == stored.id and user.external_subject is None
    assert user.created_at.tzinfo == UTC


async def test_constraints_are_enforced(database: Database) -> None:
    async with database.session() as session:
        session.add(User(email="ghost@nowhere.test", tenant_id="no-such-tenant"))
        with pytest.raises(IntegrityError):  # on SQLite too: foreign_keys is switched on per connection
            await session.commit()
    async with database.session() as session:
        session.add_all([Tenant(name="A", slug="same"), Tenant(name="B", slug="same")])
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_naive_datetimes_are_refused(database: Database) -> None:
    async with database.session() as session:
        session.add(Tenant(name="A", slug="naive", created_at=datetime(2026, 1, 1)))
        with pytest.raises(Exception, match="naive datetime"):
            await session.commit()


async def test_sqlite_uses_wal_journal(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'deep' / 'er' / 'hxtp.db'}")
    try:
        async with db.engine.connect() as connection:
            assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await db.dispose()


# -- ping --------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def live_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'live.db'}"
    url: str = request.getfixturevalue("postgres_url")  # the session's scratch database
    return url


async def test_ping_is_true_on_a_live_database(live_database_url: str) -> None:
    db = Database(live_database_url)
    try:
        assert await db.ping() is True
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://postgres@127.0.0.1:1/test",  # refused at once
        "postgresql+asyncpg://postgres@127.0.0.1:{silent}/test",  # accepted, never answered
    ],
    ids=["closed-port", "silent-server"],
)
async def test_ping_is_false_within_the_timeout_when_the_database_is_down(url: str, silent_port: int) -> None:
    db = Database(url.format(silent=silent_port))
    try:
        started = time.monotonic()
        assert await db.ping(timeout=0.5) is False
        assert time.monotonic() - started < 1.5
    finally:
        await db.dispose()


def test_the_table_registry_names_every_table_module() -> None:
    storage = Path(server.storage.tables.__file__).parent
    modules = {path.stem for path in storage.glob("*_tables.py")}
    registered = set(server.storage.tables.__dict__)
    assert modules <= registered, f"add to server/storage/tables.py: {sorted(modules - registered)}"
