"""Per-tenant rate limits by plan tier (free 60/min, pro 300/min), as a GCRA.

GCRA (the generic cell rate algorithm) keeps one number per tenant, the theoretical arrival time
(TAT). Each request moves it one emission interval T = period/limit later; a request is refused when
that would put the TAT more than one period ahead of now. That admits at most `limit` requests in any
window of one period, lets a full quota through as a burst, refills smoothly, and is exact under
concurrency as long as the read-modify-write is atomic: the in-process limiter runs it without an
await; the Redis one (server/cache/gcra.py) runs the same arithmetic as one Lua script on Redis'
clock, so every replica sees one counter per tenant.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol

PERIOD_SECONDS = 60.0
TIERS: dict[str, int] = {"free": 60, "pro": 300}
DEFAULT_TIER = "free"


def limit_for(tier: str) -> int:
    return TIERS.get(tier, TIERS[DEFAULT_TIER])


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    # Seconds until the quota is whole again (X-RateLimit-Reset).
    reset_seconds: int
    # Seconds until the next request would be admitted (0 when allowed).
    retry_after_seconds: int

    def headers(self) -> dict[str, str]:
        headers = {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["retry-after"] = str(self.retry_after_seconds)
        return headers


def gcra(tat: float, now: float, limit: int, period: float = PERIOD_SECONDS) -> tuple[Decision, float]:
    """One GCRA step: the decision and the new TAT (unchanged when refused). Times in seconds."""
    interval = period / limit
    base = max(tat, now)
    new_tat = base + interval
    allow_at = new_tat - period
    if now < allow_at:
        wait = allow_at - now
        decision = Decision(False, limit, 0, math.ceil(base - now), max(1, math.ceil(wait)))
        return decision, tat
    remaining = int((period - (new_tat - now)) / interval + 1e-9)
    return Decision(True, limit, max(0, remaining), math.ceil(new_tat - now), 0), new_tat


class RateLimiter(Protocol):
    async def hit(self, tenant_id: str, limit: int) -> Decision: ...


class InProcessRateLimiter:
    """The embedded default: one process, no await between read and write, so exact without locks."""

    def __init__(self) -> None:
        self._tats: dict[str, float] = {}

    async def hit(self, tenant_id: str, limit: int) -> Decision:
        now = time.monotonic()
        self._sweep(now)
        decision, tat = gcra(self._tats.get(tenant_id, now), now, limit)
        self._tats[tenant_id] = tat
        return decision

    def _sweep(self, now: float) -> None:
        # A TAT in the past means a whole quota: forget it, so idle tenants do not pile up.
        if len(self._tats) > 10_000:
            for key in [k for k, tat in self._tats.items() if tat <= now]:
                del self._tats[key]
