"""The per-device sequence number of cloud -> device messages: strictly increasing, never reused.

The firmware drops any message whose sequence is not above the last one it accepted (spec §7), and
a rejected message still advances its counter, so a reused number after a restart, or two replicas
handing out the same one, would make a device refuse commands. The counter therefore lives in the
database and one statement advances it: `UPDATE ... SET last = max(last + 1, now_ms) RETURNING last`.
PostgreSQL row-locks the row for the update, SQLite has one writer, so concurrent callers (in one
process or across replicas) each get a different, larger number.

`now_ms` as a floor is the spec's recommendation: a device that was factory-reset, or a counter row
that was lost, still gets numbers above anything sent before.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import case, update
from sqlalchemy.exc import IntegrityError

from server.domain.link.variants import LinkVariants
from server.errors import Code, HxtpError
from server.storage.database import Database
from server.storage.devicelink_tables import DeviceLinkSequence

_ATTEMPTS = 3  # insert races: one replica inserts, the other then finds the row on its retry


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class OutboundSequence:
    def __init__(self, database: Database, clock_ms: Callable[[], int] = wall_clock_ms) -> None:
        self._db = database
        self._clock_ms = clock_ms
        self._variants = LinkVariants(database)

    async def variant(self, device_id: str) -> str | None:
        """The signing variant the device was seen to use (same row of link state, see
        server.domain.link.variants); None before any verified message."""
        return await self._variants.learned(device_id)

    async def next(self, device_id: str) -> int:
        table = DeviceLinkSequence.__table__  # type: ignore[attr-defined]
        for _ in range(_ATTEMPTS):
            now = self._clock_ms()
            advanced = table.c.last_sequence + 1
            statement = (
                update(table)
                .where(table.c.device_id == device_id)
                .values(last_sequence=case((advanced > now, advanced), else_=now))
                .returning(table.c.last_sequence)
            )
            async with self._db.session() as session:
                number = (await session.exec(statement)).scalar_one_or_none()
                if number is None:
                    session.add(DeviceLinkSequence(device_id=device_id, last_sequence=now))
                    try:
                        await session.commit()
                    except IntegrityError:
                        continue  # another caller created the row first; advance it instead
                    return now
                await session.commit()
                return int(number)
        raise HxtpError(Code.SERVICE_UNAVAILABLE, "The device's sequence counter is contended; retry")
