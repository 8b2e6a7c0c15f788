"""The signing variant each device actually uses, learned from its verified messages (spec §11
"For sdk-json peers": sign per the peer's version, with that SDK's payload_hash rule).

The inbound pipeline reports the ext variant a message's signature verified under; this records it
in the device's link state (`device_link_sequence.signing_variant`), so it survives restarts and every
replica reads the same value, and the outbound link signs, hashes and frames for that variant. Only a
verified message can set it, so it is proof of what the peer runs.

Reads (one per outbound message) go through a memo that every replica drops when the variant
changes (server.domain.memo, LINK_VARIANT): a write happens only when a verified message shows a
variant other than the one known, which is rare (the device changed its SDK), and it is seen by every
replica's next send at once.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from server.domain.memo import LINK_VARIANT, MemoHub, TtlMemo
from server.storage.database import Database
from server.storage.devicelink_tables import DeviceLinkSequence

_ATTEMPTS = 3  # insert races: one writer inserts, the other then updates the row it finds


class LinkVariants:
    def __init__(self, database: Database, memos: MemoHub | None = None) -> None:
        self._db = database
        self._memos = memos if memos is not None else MemoHub()
        self._memo: TtlMemo[str, str | None] = self._memos.memo(LINK_VARIANT)

    async def learned(self, device_id: str) -> str | None:
        """The variant of the device's last verified message, None before any."""
        return await self._memo.get(device_id, lambda: self._load(device_id))

    async def _load(self, device_id: str) -> str | None:
        async with self._db.session() as session:
            state = await session.get(DeviceLinkSequence, device_id)
        return None if state is None else state.signing_variant

    async def learn(self, device_id: str, variant: str) -> None:
        if await self.learned(device_id) == variant:
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
            return  # contended every time: the next message writes it
        await self._memos.forget((LINK_VARIANT, device_id))
