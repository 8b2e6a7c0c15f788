"""Per-device command limits (the tenant-wide limit is the chain's): N commands per minute per device,
and fewer per hour for critical actions. Fixed windows counted in the cache, so replicas share them."""

from __future__ import annotations

import time
from dataclasses import dataclass

from server.cache.base import Cache
from server.errors import Code, HxtpError


@dataclass(frozen=True)
class CommandLimits:
    per_device_per_minute: int = 60
    critical_per_hour: int = 5


class DeviceCommandLimiter:
    def __init__(self, cache: Cache, limits: CommandLimits) -> None:
        self._cache = cache
        self._limits = limits

    async def _take(self, key: str, limit: int, window: int, what: str) -> None:
        now = time.time()
        bucket = int(now // window)
        count = await self._cache.incr(f"cmdlimit:{key}:{bucket}", 1, ttl=window + 1)
        if count > limit:
            retry_after = max(1, int((bucket + 1) * window - now) + 1)
            raise HxtpError(
                Code.RATE_LIMIT_EXCEEDED,
                f"{what}: at most {limit} per {window} s",
                retry_after_seconds=retry_after,
            )

    async def take(self, tenant_id: str, device_id: str, critical: bool) -> None:
        await self._take(
            f"{tenant_id}:{device_id}", self._limits.per_device_per_minute, 60, "Commands to this device"
        )
        if critical:
            await self._take(
                f"{tenant_id}:{device_id}:critical",
                self._limits.critical_per_hour,
                3600,
                "Critical commands to this device",
            )
