"""A DML statement run for many rows through the driver's own executemany.

SQLAlchemy's `connection.execute(statement, rows)` spends more per row than SQLite spends storing it:
it builds each row's parameters afresh and runs every value through its type's bind processor
(a datetime becomes SQLite's DATETIME text, one call per value). A group commit writes the same
few statements for hundreds of rows a second, so `BulkStatement` does that work once: the statement
is compiled once per dialect into the driver's SQL text and the order of its parameters, and a row is
a tuple in that order. Values still go through the column types' own bind processors (so what is
stored is exactly what SQLAlchemy would store, and reads through it parse it back), but each
distinct value of a batch is processed once: the rows of one commit share their timestamp.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import UpdateBase

Processor = Callable[[Any], Any]


class _Compiled:
    __slots__ = ("names", "processors", "sql")

    def __init__(self, statement: UpdateBase, dialect: Dialect, column_keys: Sequence[str] | None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(column_keys) if column_keys else None)
        self.sql: str = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        processors: list[tuple[int, Processor]] = []
        for index, name in enumerate(self.names):
            processor = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                processors.append((index, processor))
        self.processors = tuple(processors)


class BulkStatement:
    """`statement` (an INSERT of `column_keys`, or an UPDATE/DELETE of named bind parameters) for
    many rows at once, each a mapping from parameter name to value."""

    def __init__(self, statement: UpdateBase, column_keys: Sequence[str] | None = None) -> None:
        self._statement = statement
        self._column_keys = tuple(column_keys) if column_keys is not None else None
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled:
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            compiled = self._by_dialect[dialect.name] = _Compiled(self._statement, dialect, self._column_keys)
        return compiled

    def parameters(self, dialect: Dialect, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        """The driver's parameter tuples for `rows`, every value as its column type binds it."""
        compiled = self._compiled(dialect)
        names, processors = compiled.names, compiled.processors
        bound: dict[tuple[int, Any], Any] = {}
        out: list[tuple[Any, ...]] = []
        for row in rows:
            values = [row[name] for name in names]
            for index, processor in processors:
                value = values[index]
                if value is None:
                    continue
                try:
                    key = (index, value)
                    done = bound.get(key, bound)
                except TypeError:  # an unhashable value is processed each time
                    values[index] = processor(value)
                    continue
                if done is bound:
                    done = bound[key] = processor(value)
                values[index] = done
            out.append(tuple(values))
        return out

    async def run(self, connection: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        dialect = connection.dialect
        await connection.exec_driver_sql(self._compiled(dialect).sql, self.parameters(dialect, rows))
