"""The embedded database's driver: each statement is one call on aiosqlite's thread, and what it
answers is what SQLAlchemy's own aiosqlite dialect answers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from server.storage.database import Database

SCRIPT: list[tuple[str, Any]] = [
    ("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)", None),
    ("INSERT INTO t (b) VALUES (:b)", {"b": "x"}),
    ("INSERT INTO t (b) VALUES (:b)", [{"b": "y"}, {"b": "z"}]),
    ("UPDATE t SET b = :b WHERE a > 1", {"b": "q"}),
    ("INSERT INTO t (b) VALUES (:b) RETURNING a, b", {"b": "r"}),
    ("DELETE FROM t WHERE a = 1", None),
    ("SELECT a, b FROM t ORDER BY a", None),
    ("SELECT a FROM t WHERE a > 100", None),
]


async def _answers(connection: AsyncConnection) -> list[tuple[Any, ...]]:
    answers = []
    for statement, parameters in SCRIPT:
        result = await connection.execute(text(statement), parameters)
        rows = [tuple(row) for row in result.all()] if result.returns_rows else None
        answers.append((rows, result.rowcount, result.lastrowid if not result.returns_rows else None))
    return answers


async def test_it_answers_what_sqlalchemys_own_dialect_answers(tmp_path: Path) -> None:
    ours = Database(f"sqlite+aiosqlite:///{tmp_path / 'ours.db'}")
    theirs = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'theirs.db'}")
    try:
        assert ours.engine.dialect.driver == "hxtp_aiosqlite"
        assert theirs.dialect.driver == "aiosqlite"
        async with ours.engine.begin() as connection:
            mine = await _answers(connection)
        async with theirs.begin() as connection:
            expected = await _answers(connection)
        assert mine == expected
        assert mine[-2][0] == [(2, "q"), (3, "q"), (4, "r")]
    finally:
        await ours.dispose()
        await theirs.dispose()


async def test_a_statement_is_one_call_on_the_thread(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    try:
        async with database.engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            calls: list[str] = []
            original = driver._execute

            async def counted(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
                calls.append(getattr(fn, "__name__", repr(fn)))
                return await original(fn, *args, **kwargs)

            driver._execute = counted
            try:
                await connection.execute(text("SELECT 1"))
                await connection.execute(text("CREATE TABLE t (a INTEGER)"))
                await connection.execute(text("INSERT INTO t VALUES (:a)"), [{"a": 1}, {"a": 2}])
            finally:
                driver._execute = original
            assert calls == ["_run", "_run", "_run"]  # SQLAlchemy's adapter: cursor, execute, fetch, close
    finally:
        await database.dispose()
