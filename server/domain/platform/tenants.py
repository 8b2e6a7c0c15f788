"""The operator's view across tenants: every tenant with its device count and suspension, and the
platform's counters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select

from server.domain.platform.suspensions import TenantSuspensions
from server.storage.database import Database
from server.storage.fleet_tables import Device
from server.storage.models import Tenant


@dataclass(frozen=True)
class TenantSummary:
    id: str
    name: str
    slug: str
    tier: str
    suspended: bool
    device_count: int
    created_at: datetime


@dataclass(frozen=True)
class PlatformStats:
    tenants_count: int
    total_devices: int
    active_devices: int
    status: str


class Platform:
    def __init__(
        self,
        database: Database,
        suspensions: TenantSuspensions,
        active_devices: Callable[[], int],
        healthy: Callable[[], Awaitable[bool]],
    ) -> None:
        self._db = database
        self._suspensions = suspensions
        self._active_devices = active_devices
        self._healthy = healthy

    async def tenants(self) -> list[TenantSummary]:
        async with self._db.session() as session:
            tenants = list(
                await session.exec(select(Tenant).order_by(col(Tenant.created_at), col(Tenant.id)))
            )
            counted = await session.exec(
                select(Device.tenant_id, func.count()).group_by(col(Device.tenant_id))
            )
            devices = {tenant_id: int(n) for tenant_id, n in counted}
        suspended = await self._suspensions.suspended_ids()
        return [
            TenantSummary(t.id, t.name, t.slug, t.tier, t.id in suspended, devices.get(t.id, 0), t.created_at)
            for t in tenants
        ]

    async def stats(self) -> PlatformStats:
        async with self._db.session() as session:
            tenants = (await session.exec(select(func.count()).select_from(Tenant))).one()
            devices = (await session.exec(select(func.count()).select_from(Device))).one()
        status = "ok" if await self._healthy() else "degraded"
        return PlatformStats(int(tenants), int(devices), self._active_devices(), status)
