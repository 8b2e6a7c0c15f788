"""Column types shared by the tables.

SQLite has no time-zone aware timestamp type: it hands back naive datetimes even for
``DateTime(timezone=True)``. ``UTCDateTime`` stores every instant as UTC and always returns an aware
UTC datetime, so domain code never compares naive and aware values (a TypeError at run time).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Dialect
from sqlalchemy.types import DateTime, TypeDecorator


def utc_now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is UTC and time-zone aware on the way in and on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            # A naive datetime has no defined instant; guessing "local" or "UTC" hides bugs.
            raise ValueError(f"naive datetime {value!r} cannot be stored; attach a time zone")
        as_utc = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite's DATETIME text has no offset; every stored value is UTC by construction.
            return as_utc.replace(tzinfo=None)
        return as_utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
