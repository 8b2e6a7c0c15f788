"""Suspended tenants: every request of their people and keys is refused (403 TENANT_SUSPENDED), so
no command reaches their devices either, while devices, keys and data stay as they are until the
operator resumes the tenant.

The chain asks on every authenticated call, so answers are memoised for a second per process; the
replica that suspends forgets at once, others within the memo's TTL.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import select

from server.domain import fields
from server.domain.memo import TtlMemo
from server.errors import Code, HxtpError
from server.storage.database import Database
from server.storage.models import Tenant
from server.storage.platform_tables import TenantSuspension


@dataclass(frozen=True)
class Suspension:
    suspended: bool
    reason: str = ""


class TenantSuspensions:
    def __init__(self, database: Database) -> None:
        self._db = database
        self._memo: TtlMemo[str, Suspension] = TtlMemo()

    async def _load(self, tenant_id: str) -> Suspension:
        async with self._db.session() as session:
            row = await session.get(TenantSuspension, tenant_id)
        return Suspension(True, row.reason) if row is not None else Suspension(False)

    async def refuse_if_suspended(self, tenant_id: str) -> None:
        found = await self._memo.get(tenant_id, lambda: self._load(tenant_id))
        if found.suspended:
            why = f": {found.reason}" if found.reason else ""
            raise HxtpError(
                Code.TENANT_SUSPENDED,
                f"This tenant is suspended by the platform operator{why}; its devices stay registered",
            )

    async def suspended_ids(self) -> set[str]:
        async with self._db.session() as session:
            rows = await session.exec(select(TenantSuspension))
            return {row.tenant_id for row in rows}

    async def suspend(self, tenant_id: str, reason: str) -> None:
        async with self._db.session() as session:
            if await session.get(Tenant, tenant_id) is None:
                raise HxtpError(Code.NOT_FOUND, "Tenant not found")
            row = await session.get(TenantSuspension, tenant_id)
            row = row or TenantSuspension(tenant_id=tenant_id)
            row.reason = fields.text("reason", reason, 500, required=False)
            session.add(row)
            await session.commit()
        self._memo.forget(tenant_id)

    async def resume(self, tenant_id: str) -> None:
        async with self._db.session() as session:
            if await session.get(Tenant, tenant_id) is None:
                raise HxtpError(Code.NOT_FOUND, "Tenant not found")
            row = await session.get(TenantSuspension, tenant_id)
            if row is not None:
                await session.delete(row)
                await session.commit()
        self._memo.forget(tenant_id)
