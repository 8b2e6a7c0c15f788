"""Dependency health, as /health, /health/ready and the gRPC health service report it.

Each dependency is a probe (an async callable answering True when usable); probes run
concurrently, each bounded by a timeout, so one hung dependency never hangs the health check.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from server.domain.clock import utc_now_iso

Probe = Callable[[], Awaitable[bool]]

# The reference's services block; "worker", "build_service" and "cloud_editor" belong to the hosted
# product and are reported as they are here: served by this process when it is up.
CHECKS = ("database", "redis", "mqtt", "protocol_ready")


@dataclass(frozen=True)
class Backends:
    """Which implementation answers each check, so a report never names a part that is not running."""

    database: str
    cache: str
    mqtt: str

    @classmethod
    def of(cls, database_url: str, redis_url: str, mqtt_url: str) -> Backends:
        return cls(
            database="sqlite" if database_url.startswith("sqlite") else "postgresql",
            cache="redis" if redis_url else "in-process",
            mqtt="external" if mqtt_url else "embedded",
        )


@dataclass(frozen=True)
class HealthReport:
    checks: dict[str, bool]
    timestamp: str
    backends: Backends

    @property
    def healthy(self) -> bool:
        return all(self.checks.values())

    @property
    def status(self) -> str:
        return "ok" if self.healthy else "degraded"

    def services(self) -> dict[str, tuple[str, str]]:
        """name -> (status word, backend); the reference names the cache "redis" whatever runs it."""

        def word(ok: bool) -> str:
            return "operational" if ok else "down"

        return {
            "api": ("operational", ""),
            "database": (word(self.checks["database"]), self.backends.database),
            "redis": (word(self.checks["redis"]), self.backends.cache),
            "mqtt": (word(self.checks["mqtt"]), self.backends.mqtt),
            "worker": ("operational", ""),
            "build_service": ("operational", ""),
            "cloud_editor": ("operational", ""),
        }


async def _bounded(probe: Probe, seconds: float) -> bool:
    try:
        return bool(await asyncio.wait_for(probe(), seconds))
    except Exception:  # a probe that fails in any way means the dependency is not usable
        return False


class HealthMonitor:
    def __init__(self, probes: Mapping[str, Probe], timeout: float, backends: Backends) -> None:
        missing = set(CHECKS) - set(probes)
        if missing:
            raise ValueError(f"health probes missing: {sorted(missing)}")
        self._probes = dict(probes)
        self._timeout = timeout
        self._backends = backends

    async def check(self) -> HealthReport:
        names = list(self._probes)
        results = await asyncio.gather(*(_bounded(self._probes[n], self._timeout) for n in names))
        return HealthReport(dict(zip(names, results, strict=True)), utc_now_iso(), self._backends)
