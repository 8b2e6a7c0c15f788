"""SQLAlchemy's aiosqlite dialect with one thread handoff per statement instead of four.

aiosqlite runs every call on its connection's thread, and SQLAlchemy's adapter makes four calls
per statement: create a cursor, execute, fetch the rows, close the cursor. Each is a handoff to that
thread and back to the event loop (a queue put, a wake-up, a call_soon_threadsafe), so a group
commit of five statements was some twenty handoffs, and at a fixed rate a command waited for two
such transactions. Here the cursor does all four in one function on the thread: the statement runs,
its rows (if any) are read, and the cursor is closed before the result comes back; what the adapter
asks of the cursor afterwards (description, rows, rowcount, lastrowid) is answered from what came
back. Server-side (streaming) cursors keep SQLAlchemy's own class.

It relies on aiosqlite's private `Connection._execute` and `_conn` (the version is pinned), as
SQLAlchemy's own adapter reaches into `_conn` and `_tx` to set the isolation level.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)

DRIVER = "sqlite+hxtp_aiosqlite"  # the URL scheme create_engine_for gives file and memory databases


class _Outcome:
    __slots__ = ("description", "lastrowid", "rowcount", "rows")

    def __init__(self, cursor: sqlite3.Cursor, rows: list[Any]) -> None:
        self.description = cursor.description
        self.rowcount = cursor.rowcount
        self.lastrowid = cursor.lastrowid
        self.rows = rows


def _run(connection: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        return _Outcome(cursor, cursor.fetchall() if cursor.description else [])
    finally:
        cursor.close()


class _OneHopCursor:
    """What SQLAlchemy's adapter expects of an aiosqlite cursor, each statement one call on the
    connection's thread."""

    arraysize = 1

    def __init__(self, connection: Any) -> None:
        self._connection = connection  # aiosqlite.Connection
        self._outcome: _Outcome | None = None

    async def execute(self, operation: str, parameters: Any = None) -> _OneHopCursor:
        return await self._on_thread(operation, parameters, many=False)

    async def executemany(self, operation: str, parameters: Sequence[Any]) -> _OneHopCursor:
        return await self._on_thread(operation, parameters, many=True)

    async def _on_thread(self, operation: str, parameters: Any, many: bool) -> _OneHopCursor:
        connection = self._connection
        self._outcome = await connection._execute(_run, connection._conn, operation, parameters, many)
        return self

    async def fetchall(self) -> list[Any]:
        outcome, rows = self._outcome, []
        if outcome is not None:
            rows, outcome.rows = outcome.rows, []
        return rows

    def close(self) -> None:
        """Nothing to close: the statement's cursor was closed on the thread."""

    @property
    def description(self) -> Any:
        return self._outcome.description if self._outcome is not None else None

    @property
    def rowcount(self) -> int:
        return self._outcome.rowcount if self._outcome is not None else -1

    @property
    def lastrowid(self) -> int | None:
        return self._outcome.lastrowid if self._outcome is not None else None


class _Cursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()

    _awaitable_cursor_close = False

    def _make_new_cursor(self, connection: Any) -> Any:
        return _OneHopCursor(connection)

    def _aenter_cursor(self, cursor: Any) -> Any:
        return cursor


class _Connection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    _cursor_cls = _Cursor


class _Dbapi(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> _Connection:
        # SQLAlchemy's own connect (its thread set up as it does it), then our adapter around it.
        return _Connection(self, super().connect(*arg, **kw)._connection)


class Dialect(SQLiteDialect_aiosqlite):
    driver = "hxtp_aiosqlite"
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> _Dbapi:
        return _Dbapi(__import__("aiosqlite"), __import__("sqlite3"))
