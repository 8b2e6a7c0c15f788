"""The text bounds of the schema, read from the tables themselves so no limit is written twice.

For every bounded text column, its name (`name`) and its table-qualified name (`home_name`) map to
the shortest and the longest bound any table gives a column of that name: a value stored under that
name must fit the shortest, and a value only looked up by it (an id) cannot match anything longer
than the longest.
"""

from __future__ import annotations

from server.storage.tables import metadata

Bounds = dict[str, tuple[int, int]]


def text_bounds() -> Bounds:
    bounds: Bounds = {}
    for table in metadata.sorted_tables:
        for column in table.columns:
            length = getattr(column.type, "length", None)
            if not length:
                continue
            for name in (column.name, f"{table.name}_{column.name}"):
                shortest, longest = bounds.get(name, (length, length))
                bounds[name] = (min(shortest, length), max(longest, length))
    return bounds


def length_of(model: type, column: str) -> int:
    """The bound of one column (`length_of(ApiKey, "name")`), for the domain's own validators."""
    table = model.__table__  # type: ignore[attr-defined]
    return int(table.columns[column].type.length)
