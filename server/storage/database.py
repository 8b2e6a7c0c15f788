"""The async engine and session factory for SQLite (embedded) or PostgreSQL (production)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.dialects import registry
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel.ext.asyncio.session import AsyncSession

from server.storage import sqlite_driver
from server.storage.checkpoints import WalCheckpointer

registry.register(sqlite_driver.DRIVER.replace("+", "."), sqlite_driver.__name__, "Dialect")

log = logging.getLogger(__name__)

# PostgreSQL pool: enough connections for concurrent RPCs of one replica without exhausting a small
# server's max_connections (100 by default) when a few replicas share it.
_PG_POOL_SIZE = 10
_PG_MAX_OVERFLOW = 10
_PG_POOL_TIMEOUT_S = 10.0
_PG_POOL_RECYCLE_S = 1800  # below common idle-connection cut-offs of proxies and load balancers
_PG_CONNECT_TIMEOUT_S = 10.0
# A writer waits this long for SQLite's single write lock before "database is locked" is raised.
_SQLITE_BUSY_TIMEOUT_MS = 5000


def _is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def _sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL, or None for an in-memory database."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


_SQLITE_POOL_TIMEOUT_S = 30.0


def _enable_sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Per connection, because SQLite forgets foreign_keys (and busy_timeout) on every new connection.
    # WAL lets readers proceed while one writer commits; it is persistent but cheap to re-assert.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL syncs at checkpoints instead of on every commit: a crash of the process
        # loses nothing, only a power cut can lose the last commits. It turns each commit from an
        # fsync (milliseconds) into a write, which is what lets the embedded default keep up.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _leave_checkpoints_to_the_checkpointer(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA wal_autocheckpoint=0")  # see server/storage/checkpoints.py
    finally:
        cursor.close()


def create_engine_for(url: str) -> AsyncEngine:
    """An async engine configured for the URL's backend (also used by the migration runner)."""
    parsed = make_url(url)
    if _is_sqlite(parsed):
        if parsed.drivername == "sqlite+aiosqlite":
            parsed = parsed.set(drivername=sqlite_driver.DRIVER)
        database_file = _sqlite_file(parsed)
        if database_file is not None:
            database_file.parent.mkdir(parents=True, exist_ok=True)
        # One connection: SQLite has a single writer, and several connections contending for it wait
        # in SQLite's busy handler (sleeps of up to 100 ms), while one connection makes callers queue
        # in the pool, on the event loop, and lets each write go through at once.
        engine = create_async_engine(parsed, pool_size=1, max_overflow=0, pool_timeout=_SQLITE_POOL_TIMEOUT_S)
        event.listen(engine.sync_engine, "connect", _enable_sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_async_engine(
            parsed,
            pool_size=_PG_POOL_SIZE,
            max_overflow=_PG_MAX_OVERFLOW,
            pool_timeout=_PG_POOL_TIMEOUT_S,
            pool_recycle=_PG_POOL_RECYCLE_S,
            # A server restart leaves dead connections in the pool; test each before handing it out.
            pool_pre_ping=True,
            connect_args={"timeout": _PG_CONNECT_TIMEOUT_S},
        )
    return create_async_engine(parsed)


class Database:
    """One engine per process; sessions are short-lived, one per unit of work."""

    def __init__(self, url: str, background_checkpoints: bool = False) -> None:
        """`background_checkpoints` (a serving process): a file SQLite database's WAL is checkpointed
        by a thread of its own once `start` has run, never by a commit."""
        self.engine: AsyncEngine = create_engine_for(url)
        database_file = _sqlite_file(self.engine.url) if _is_sqlite(self.engine.url) else None
        self._checkpointer: WalCheckpointer | None = None
        if background_checkpoints and database_file is not None:
            event.listen(self.engine.sync_engine, "connect", _leave_checkpoints_to_the_checkpointer)
            self._checkpointer = WalCheckpointer(database_file, _SQLITE_BUSY_TIMEOUT_MS)
        # expire_on_commit=False: objects stay readable after commit without an implicit (async-unsafe)
        # lazy refresh.
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    def session(self) -> AsyncSession:
        """A new session; use it as ``async with db.session() as s:``.

        It is SQLModel's AsyncSession: query with ``await s.exec(select(...))`` (it also takes
        ``text(...)``). SQLModel marks ``execute()`` deprecated, and the DeprecationWarning it emits is
        an error under the test suite's warning filter.
        """
        return self._sessions()

    # The timeout is a parameter, not the caller's asyncio.timeout: a health check must answer False
    # on time instead of raising, so it bounds itself.
    async def ping(self, timeout: float = 1.0) -> bool:  # noqa: ASYNC109
        """True when ``SELECT 1`` succeeds within ``timeout`` seconds; never raises, never hangs."""
        try:
            async with asyncio.timeout(timeout):
                async with self.engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
        except Exception as exc:
            # Health checks ask "is it up?"; the reason belongs in the log, not in the caller.
            log.debug("database ping failed: %r", exc)
            return False
        return True

    def start(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.start()

    async def dispose(self) -> None:
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.stop)
        await self.engine.dispose()
