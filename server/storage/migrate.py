"""Bring a database schema to the newest Alembic revision.

Alembic is configured in code (no alembic.ini): the script directory is ``migrations/`` beside this file
and the connection comes from the same async engine the server uses, driven through
``AsyncConnection.run_sync``. No synchronous PostgreSQL driver is needed.

On PostgreSQL the upgrade runs in one transaction that first takes a transaction-scoped advisory lock,
so replicas starting together migrate one at a time: the first applies the revisions, the others wait,
then find the schema at head and do nothing. PostgreSQL has transactional DDL, so a failed migration
leaves no half-built schema behind. SQLite is the single-process embedded mode and needs no lock.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from server.storage.database import create_engine_for

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# One application-wide advisory lock id (a signed 64-bit integer). Derived from a name rather than
# picked at random so it is reproducible, and unlikely to collide with locks other applications take.
MIGRATION_LOCK_ID = int.from_bytes(
    hashlib.sha256(b"hxtp-cloud:schema-migrations").digest()[:8], "big", signed=True
)

AlembicAction = Callable[[Config], None]


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config for our script directory; env.py migrates ``connection`` when given."""
    config = Config()
    # ConfigParser interpolation treats "%" specially; a path may contain one.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    # Without it Alembic falls back to legacy path splitting and emits a DeprecationWarning.
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def _take_migration_lock(connection: AsyncConnection) -> None:
    lock = {"lock_id": MIGRATION_LOCK_ID}
    if not await connection.scalar(text("SELECT pg_try_advisory_xact_lock(:lock_id)"), lock):
        log.info("another process is migrating this database; waiting for it to finish")
        await connection.execute(text("SELECT pg_advisory_xact_lock(:lock_id)"), lock)


async def _apply(url: str, action: AlembicAction) -> None:
    engine = create_engine_for(url)
    try:
        async with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                await _take_migration_lock(connection)
            await connection.run_sync(lambda sync_connection: action(alembic_config(sync_connection)))
            # Commits the revisions and, on PostgreSQL, releases the advisory lock with the transaction.
            await connection.commit()
    finally:
        await engine.dispose()


def _run_outside_event_loop(url: str, action: AlembicAction, caller: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_apply(url, action))
        return
    raise RuntimeError(f"{caller}() cannot run inside an event loop; await run_migrations_async() instead")


def run_migrations(url: str) -> None:
    """Upgrade the database at ``url`` (an async SQLAlchemy URL) to the newest revision.

    Synchronous: for the CLI and for start-up before the event loop serves. Idempotent, and safe when
    several processes run it against one PostgreSQL database at once.
    """
    _run_outside_event_loop(url, lambda config: command.upgrade(config, "heads"), "run_migrations")


def downgrade_migrations(url: str, revision: str = "base") -> None:
    """Step the schema back to ``revision`` ("base" removes every table the migrations created)."""
    _run_outside_event_loop(url, lambda config: command.downgrade(config, revision), "downgrade_migrations")


async def run_migrations_async(url: str) -> None:
    """``run_migrations`` for callers inside an event loop: runs it in a worker thread.

    Cancelling the awaiting task does not stop a migration already under way; it completes (or rolls
    back) in its thread.
    """
    await asyncio.to_thread(run_migrations, url)
