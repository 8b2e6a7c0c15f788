"""Per-tenant rate limits by plan tier, as a GCRA.

The tiers and their per-minute limits are the operator's (HXTP_TIERS, e.g. `free=60,pro=300,fleet=0`;
0 means unlimited). The first tier listed is where a tenant whose stored tier is not configured
(any more) lands, so removing a tier from the setting never leaves a tenant without a limit.

GCRA (the generic cell rate algorithm) admits at most `limit` requests in any window of one period,
lets a full quota through as a burst and refills smoothly. Each request adds one emission interval
T = period/limit of "debt"; the debt drains at one second per second; a request that would take the
debt above one period is refused. The state is (stamp, debt) rather than the textbook theoretical
arrival time (TAT = stamp + debt): an absolute TAT in microseconds since 1970 is ~1.8e15, where a
double's resolution (0.25 us) swallows the interval of a large limit (60 ms / 1e6 = 0.06 us), so the
TAT stopped advancing and the expiry Redis was given rounded to 0. The debt is at most one period,
where a double resolves far below any interval. The in-process limiter runs the step without an
await; the Redis one (server/cache/gcra.py) runs the same arithmetic as one Lua script on Redis'
clock, so every replica sees one counter per tenant.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

PERIOD_SECONDS = 60.0
UNLIMITED = 0
DEFAULT_TIERS = "free=60,pro=300,fleet=0"
_TIER_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")  # fits tenant.tier (32 characters)


@dataclass(frozen=True)
class Tiers:
    """The configured tiers: name -> requests per minute (0 = unlimited), in the operator's order."""

    limits: Mapping[str, int]

    @classmethod
    def parse(cls, text: str) -> Tiers:
        """`name=limit,...`; raises ValueError saying what is wrong (the server then refuses to start)."""
        limits: dict[str, int] = {}
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            name, sep, value = (piece.strip() for piece in item.partition("="))
            if not sep or not _TIER_NAME.match(name):
                raise ValueError(f"HXTP_TIERS: {item!r} is not name=limit (name: a-z, 0-9, - or _)")
            if name in limits:
                raise ValueError(f"HXTP_TIERS: tier {name!r} is listed twice")
            if not value.isdigit():
                raise ValueError(
                    f"HXTP_TIERS: the limit of {name!r} must be a whole number >= 0 (0 = unlimited)"
                )
            limits[name] = int(value)
        if not limits:
            raise ValueError("HXTP_TIERS: at least one tier is needed, e.g. free=60")
        return cls(limits)

    @property
    def default(self) -> str:
        return next(iter(self.limits))

    def limit_for(self, tier: str) -> int:
        return self.limits.get(tier, self.limits[self.default])

    def describe(self) -> str:
        return ", ".join(
            f"{name} ({'unlimited' if limit == UNLIMITED else f'{limit}/min'})"
            for name, limit in self.limits.items()
        )


STANDARD_TIERS = Tiers.parse(DEFAULT_TIERS)
DEFAULT_TIER = STANDARD_TIERS.default


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
        if self.limit == UNLIMITED:
            return {}  # nothing to count down: no X-RateLimit-* headers rather than a misleading 0
        headers = {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["retry-after"] = str(self.retry_after_seconds)
        return headers


UNLIMITED_DECISION = Decision(True, UNLIMITED, 0, 0, 0)


def gcra(debt: float, limit: int, period: float = PERIOD_SECONDS) -> tuple[Decision, float]:
    """One GCRA step on the debt left now (>= 0): the decision and the new debt (unchanged when
    refused). Any unit of time, as long as `debt` and `period` share it; seconds in the headers
    assume seconds."""
    interval = period / limit
    new_debt = debt + interval
    if new_debt > period:
        wait = new_debt - period
        return Decision(False, limit, 0, math.ceil(debt), max(1, math.ceil(wait))), debt
    remaining = int((period - new_debt) / interval + 1e-9)
    return Decision(True, limit, max(0, remaining), math.ceil(new_debt), 0), new_debt


class RateLimiter(Protocol):
    async def hit(self, tenant_id: str, limit: int) -> Decision: ...


class GcraStore(Protocol):
    """A shared store that runs one GCRA step atomically (Redis: server/cache/gcra.py)."""

    async def step(self, key: str, limit: int, period_us: int) -> tuple[bool, int, int, int]: ...

    async def close(self) -> None: ...


def _seconds(us: int) -> int:
    return -(-int(us) // 1_000_000)


class SharedRateLimiter:
    """The GCRA on a store every replica shares, so replicas enforce one exact limit per tenant."""

    def __init__(self, store: GcraStore) -> None:
        self._store = store

    async def hit(self, tenant_id: str, limit: int) -> Decision:
        if limit == UNLIMITED:
            return UNLIMITED_DECISION  # nothing to count: no round trip
        allowed, remaining, reset_us, retry_us = await self._store.step(
            tenant_id, limit, int(PERIOD_SECONDS * 1_000_000)
        )
        return Decision(
            allowed=allowed,
            limit=limit,
            remaining=max(0, remaining),
            reset_seconds=_seconds(reset_us),
            retry_after_seconds=0 if allowed else max(1, _seconds(retry_us)),
        )

    async def close(self) -> None:
        await self._store.close()


class InProcessRateLimiter:
    """The embedded default: one process, no await between read and write, so exact without locks."""

    def __init__(self) -> None:
        self._state: dict[str, tuple[float, float]] = {}  # tenant -> (monotonic stamp, debt)

    async def hit(self, tenant_id: str, limit: int) -> Decision:
        if limit == UNLIMITED:
            return UNLIMITED_DECISION
        now = time.monotonic()
        self._sweep(now)
        stamp, debt = self._state.get(tenant_id, (now, 0.0))
        decision, debt = gcra(max(0.0, debt - (now - stamp)), limit)
        self._state[tenant_id] = (now, debt)
        return decision

    def _sweep(self, now: float) -> None:
        # A debt paid off means a whole quota: forget it, so idle tenants do not pile up.
        if len(self._state) > 10_000:
            for key in [k for k, (stamp, debt) in self._state.items() if stamp + debt <= now]:
                del self._state[key]
