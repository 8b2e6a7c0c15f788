"""Platform feature flags the operator turns on and off (POST /admin/flag/{flag})."""

from __future__ import annotations

from server.domain import fields
from server.storage.database import Database
from server.storage.platform_tables import FeatureFlag
from server.storage.types import utc_now


class FeatureFlags:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def set(self, name: str, state: bool) -> tuple[str, bool]:
        flag = fields.identifier("flag", name)
        async with self._db.session() as session:
            row = await session.get(FeatureFlag, flag) or FeatureFlag(name=flag)
            row.state, row.updated_at = state, utc_now()
            session.add(row)
            await session.commit()
        return flag, state

    async def get(self, name: str) -> bool:
        async with self._db.session() as session:
            row = await session.get(FeatureFlag, name)
        return bool(row is not None and row.state)
