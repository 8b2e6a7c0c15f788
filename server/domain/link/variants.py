"""The signing variant each device actually uses, learned from its verified messages (spec §11
"For sdk-json peers": sign per the peer's version, with that SDK's payload_hash rule).

The inbound pipeline reports the ext variant a message's signature verified under; this records it
in the device's link state (`device_link_sequence.signing_variant`), so it survives restarts and every
replica reads the same value, and the outbound link signs, hashes and frames for that variant. Only a
verified message can set it, so it is proof of what the peer runs.

Writes are skipped while this process wrote the same value for the device less than
`recheck_after` seconds ago: a chatty device does not turn into a write per message, and a device
whose variant another replica changed in the meantime is corrected within that time.

Reads (one per outbound message) are memoised for `read_ttl` seconds: what this process learns is
seen at once (one instance serves the inbound and the outbound side), what another replica learns
within `read_ttl`.
"""

from __future__ import annotations

import time

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from server.storage.database import Database
from server.storage.devicelink_tables import DeviceLinkSequence

_ATTEMPTS = 3  # insert races: one writer inserts, the other then updates the row it finds
_MEMO_MAX = 10_000


class LinkVariants:
    def __init__(self, database: Database, recheck_after: float = 30.0, read_ttl: float = 2.0) -> None:
        self._db = database
        self._recheck_after = recheck_after
        self._read_ttl = read_ttl
        self._written: dict[str, tuple[str, float]] = {}  # device -> (variant, monotonic time written)
        self._read: dict[str, tuple[str | None, float]] = {}  # device -> (variant, monotonic time read)

    async def learned(self, device_id: str) -> str | None:
        """The variant of the device's last verified message, None before any."""
        now = time.monotonic()
        read = self._read.get(device_id)
        if read is not None and now - read[1] < self._read_ttl:
            return read[0]
        async with self._db.session() as session:
            state = await session.get(DeviceLinkSequence, device_id)
        variant = None if state is None else state.signing_variant
        if len(self._read) >= _MEMO_MAX:
            self._read.clear()
        self._read[device_id] = (variant, now)
        return variant

    async def learn(self, device_id: str, variant: str) -> None:
        now = time.monotonic()
        self._read[device_id] = (variant, now)
        written = self._written.get(device_id)
        if written is not None and written[0] == variant and now - written[1] < self._recheck_after:
            return
        table = DeviceLinkSequence.__table__  # type: ignore[attr-defined]
        for _ in range(_ATTEMPTS):
            async with self._db.session() as session:
                result = await session.exec(
                    update(table).where(table.c.device_id == device_id).values(signing_variant=variant)
                )
                if result.rowcount == 0:
                    # No link state yet: the outbound counter starts at 0 (its clock floor applies).
                    session.add(
                        DeviceLinkSequence(device_id=device_id, last_sequence=0, signing_variant=variant)
                    )
                    try:
                        await session.commit()
                    except IntegrityError:
                        continue  # created concurrently (a command, another replica): update it
                else:
                    await session.commit()
            break
        else:
            return  # contended every time: not memoised, the next message writes it
        if len(self._written) >= _MEMO_MAX:
            self._written.clear()
        self._written[device_id] = (variant, now)
