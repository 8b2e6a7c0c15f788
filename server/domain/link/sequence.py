"""The per-device sequence number of cloud -> device messages: strictly increasing, never reused.

The firmware drops any message whose sequence is not above the last one it accepted (spec §7), and
a rejected message still advances its counter, so a reused number after a restart, or two replicas
handing out the same one, would make a device refuse commands.

Blocks, not a round trip per message: a process reserves `block` numbers at a time with one statement,
`UPDATE ... SET last = max(last + 1, now_ms) + block - 1 RETURNING last`, and hands them out from
memory. The database row always holds the end of the newest reservation, so a restart (or a crash)
starts above anything this or any other process could have sent: it skips the unused rest of a
block, never goes back. PostgreSQL row-locks the row for the update and SQLite has one writer, so two
replicas always get disjoint blocks. `now_ms` as a floor is the spec's recommendation: a device that
was factory-reset, or a counter row that was lost, still gets numbers above anything sent before.

Across replicas, disjoint blocks are not yet increasing ones: replica A may still hold [1000, 1999]
while B sends 2000 from its newer block. So each number taken is also claimed against the device's
wire high-water mark in the shared cache (`set_if_greater`, atomic on Redis): a number at or below
what a peer already claimed means this replica's block is stale, and it reserves a fresh one (which
starts above every number ever reserved) and claims again. Numbers therefore leave every replica in
increasing order per device. The caller takes the number and publishes in the device's turn
(server.devicelink.ordering), which is shared between replicas, so the wire order is the number order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy import case, update
from sqlalchemy.exc import IntegrityError

from server.cache.base import Cache
from server.domain.clock import epoch_ms
from server.domain.link.variants import LinkVariants
from server.errors import Code, HxtpError
from server.storage.database import Database
from server.storage.devicelink_tables import DeviceLinkSequence

_ATTEMPTS = 3  # insert races: one replica inserts, the other then finds the row on its retry
DEFAULT_BLOCK = 1000
_WIRE_TTL_S = 30 * 86400.0  # a forgotten mark is harmless: reservations start above every number
_MEMO_MAX = 100_000  # devices whose block is held in memory


class OutboundSequence:
    def __init__(
        self,
        database: Database,
        clock_ms: Callable[[], int] = epoch_ms,
        *,
        cache: Cache | None = None,
        block: int = DEFAULT_BLOCK,
        variants: LinkVariants | None = None,
    ) -> None:
        self._db = database
        self._clock_ms = clock_ms
        self._cache = cache
        self._block = block
        self._variants = variants if variants is not None else LinkVariants(database)
        self._blocks: dict[str, tuple[int, int]] = {}  # device -> (next number, last reserved)
        self._reserving: dict[str, asyncio.Lock] = {}

    async def variant(self, device_id: str) -> str | None:
        """The signing variant the device was seen to use (same row of link state, see
        server.domain.link.variants); None before any verified message."""
        return await self._variants.learned(device_id)

    async def next(self, device_id: str) -> int:
        """The device's next number: above every number handed out before, here or on any replica."""
        while True:
            number = await self._take(device_id)
            if self._cache is None or await self._cache.set_if_greater(
                f"hxtp:seq_wire:{device_id}", number, _WIRE_TTL_S
            ):
                return number
            self._blocks.pop(device_id, None)  # a peer sent a higher number: this block is stale

    async def _take(self, device_id: str) -> int:
        held = self._blocks.get(device_id)
        if held is not None and held[0] <= held[1]:
            self._blocks[device_id] = (held[0] + 1, held[1])
            return held[0]
        # Kept, not removed when free: a waiter woken by release must find the same lock.
        lock = self._reserving.setdefault(device_id, asyncio.Lock())
        async with lock:
            held = self._blocks.get(device_id)
            if held is None or held[0] > held[1]:
                first = await self._reserve(device_id)
                if len(self._blocks) >= _MEMO_MAX:
                    self._blocks.clear()  # forgetting a block only skips its rest
                held = (first, first + self._block - 1)
            self._blocks[device_id] = (held[0] + 1, held[1])
        return held[0]

    async def _reserve(self, device_id: str) -> int:
        """Persists a new block's end; returns its first number."""
        table = DeviceLinkSequence.__table__  # type: ignore[attr-defined]
        span = self._block - 1
        for _ in range(_ATTEMPTS):
            now = self._clock_ms()
            advanced = table.c.last_sequence + 1
            statement = (
                update(table)
                .where(table.c.device_id == device_id)
                .values(last_sequence=case((advanced > now, advanced), else_=now) + span)
                .returning(table.c.last_sequence)
            )
            async with self._db.session() as session:
                last = (await session.exec(statement)).scalar_one_or_none()
                if last is None:
                    session.add(DeviceLinkSequence(device_id=device_id, last_sequence=now + span))
                    try:
                        await session.commit()
                    except IntegrityError:
                        continue  # another caller created the row first; advance it instead
                    return now
                await session.commit()
                return int(last) - span
        raise HxtpError(Code.SERVICE_UNAVAILABLE, "The device's sequence counter is contended; retry")
