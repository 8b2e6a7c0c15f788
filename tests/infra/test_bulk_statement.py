"""BulkStatement stores exactly what SQLAlchemy's own executemany stores, on SQLite and PostgreSQL.

The same rows go in twice, once through `connection.execute(statement, rows)` and once through
`BulkStatement.run`, and are read back through SQLAlchemy: every column must come back equal, for
timestamps in any offset (shared by many rows, as in a group commit, and each its own), text of
every kind, and NULLs; an UPDATE by named bind parameters changes the same rows the same way.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Table, bindparam, insert, select, update

from server.storage.bulk import BulkStatement
from server.storage.command_tables import Command
from server.storage.database import Database

TABLE: Table = Command.__table__  # type: ignore[attr-defined]
COLUMNS = [column.name for column in TABLE.columns]
TEXTS = ["", "plain", "ünïcödé ✓", "emoji 🚀 and \"quotes\" and 'apostrophes'", "x" * 500, "tab\tnew\nline"]
OFFSETS = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-11))]


def _rows(prefix: str, seed: int) -> list[dict[str, Any]]:
    chance = random.Random(seed)
    shared = datetime(2026, 12, 7, 21, 0, 0, 123456, tzinfo=UTC)
    rows = []
    for n in range(60):
        own = datetime(
            chance.randint(1971, 2100),
            chance.randint(1, 12),
            chance.randint(1, 28),
            chance.randint(0, 23),
            chance.randint(0, 59),
            chance.randint(0, 59),
            chance.choice([0, 1, 999999, chance.randint(0, 999999)]),
            tzinfo=chance.choice(OFFSETS),
        )
        rows.append(
            {
                "id": f"{prefix}-{n}",
                "tenant_id": chance.choice(["t1", "t2"]),
                "device_id": chance.choice(TEXTS)[:64],
                "user_id": chance.choice(TEXTS)[:36],
                "action": chance.choice(TEXTS)[:64],
                "params_json": chance.choice(TEXTS),
                "status": "pending",
                "message_id": chance.choice([None, f"m-{prefix}-{n}"]),
                "error": chance.choice([None, *TEXTS]),
                "created_at": shared if n % 2 else own,
                "updated_at": shared if n % 3 else own,
            }
        )
    return rows


async def _stored(database: Database, prefix: str) -> list[tuple[Any, ...]]:
    """The rows as SQLAlchemy reads them, each followed by the same row as the driver holds it (on
    SQLite, a timestamp's very text: it orders the rows in SQL)."""
    async with database.engine.connect() as connection:
        result = await connection.execute(select(TABLE).where(TABLE.c.id.startswith(f"{prefix}-")))
        read = {row.id: row._mapping for row in result}
        names = ", ".join(COLUMNS)
        raw = await connection.exec_driver_sql(f"SELECT {names} FROM command")
        held = {row[0]: row for row in raw if row[0] in read}
    order = sorted(read, key=lambda id_: int(id_.rsplit("-", 1)[1]))
    kept = [i for i, name in enumerate(COLUMNS) if name not in ("id", "message_id")]
    return [(*(read[id_][COLUMNS[i]] for i in kept), *(held[id_][i] for i in kept)) for id_ in order]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_an_insert_stores_what_sqlalchemy_stores(database: Database, seed: int) -> None:
    async with database.engine.begin() as connection:
        await connection.execute(insert(TABLE), _rows("core", seed))
        await BulkStatement(insert(TABLE), COLUMNS).run(connection, _rows("bulk", seed))
    core, bulk = await _stored(database, "core"), await _stored(database, "bulk")
    assert len(core) == 60
    assert bulk == core


async def test_an_update_by_named_parameters_changes_what_sqlalchemy_changes(database: Database) -> None:
    statement = (
        update(TABLE)
        .where(TABLE.c.id == bindparam("b_id"), TABLE.c.status == bindparam("b_from"))
        .values(status=bindparam("b_status"), error=bindparam("b_error"), updated_at=bindparam("b_at"))
    )
    at = datetime(2030, 1, 2, 3, 4, 5, 600000, tzinfo=timezone(timedelta(hours=2)))

    def changes(prefix: str) -> list[dict[str, Any]]:
        return [
            {
                "b_id": f"{prefix}-{n}",
                "b_from": "pending" if n % 4 else "dispatched",  # every fourth matches no row
                "b_status": "dispatched",
                "b_error": None if n % 2 else "é" * (n + 1),
                "b_at": at,
            }
            for n in range(60)
        ]

    async with database.engine.begin() as connection:
        await connection.execute(insert(TABLE), [*_rows("core", 4), *_rows("bulk", 4)])
    async with database.engine.begin() as connection:
        await connection.execute(statement, changes("core"))
        await BulkStatement(statement).run(connection, changes("bulk"))
    core, bulk = await _stored(database, "core"), await _stored(database, "bulk")
    assert sum(1 for row in core if row[COLUMNS.index("status") - 1] == "dispatched") == 45
    assert bulk == core


async def test_no_rows_is_no_statement(database: Database) -> None:
    async with database.engine.begin() as connection:
        await BulkStatement(insert(TABLE), COLUMNS).run(connection, [])
    assert await _stored(database, "bulk") == []
