"""Per-tenant GCRA limits as rules: the arithmetic, the tiers, and both implementations under
concurrency and with any configured limit (the Redis one against this machine's Redis)."""

from __future__ import annotations

import asyncio

import pytest

from server.cache.gcra import RedisGcra
from server.domain.identity.rate_limits import (
    STANDARD_TIERS,
    InProcessRateLimiter,
    RateLimiter,
    SharedRateLimiter,
    Tiers,
    gcra,
)


def test_gcra_admits_a_full_burst_then_one_per_interval() -> None:
    debt = 0.0
    remaining = []
    for _ in range(60):
        decision, debt = gcra(debt, 60)
        assert decision.allowed
        remaining.append(decision.remaining)
    assert remaining == list(range(59, -1, -1))
    refused, same = gcra(debt, 60)
    assert not refused.allowed and same == debt and refused.retry_after_seconds == 1
    assert refused.reset_seconds == 60 and refused.headers()["retry-after"] == "1"
    later, _ = gcra(debt - 1.0, 60)  # one emission interval later: exactly one more
    assert later.allowed and later.remaining == 0


def test_default_tiers_and_the_fallback_for_an_unknown_tier() -> None:
    tiers = STANDARD_TIERS
    assert tiers.limit_for("free") == 60 and tiers.limit_for("pro") == 300 and tiers.limit_for("fleet") == 0
    assert tiers.limit_for("gone") == 60 and tiers.default == "free"
    custom = Tiers.parse(" basic = 10 , huge=1000000000000,open=0")
    assert dict(custom.limits) == {"basic": 10, "huge": 10**12, "open": 0} and custom.limit_for("free") == 10


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "at least one tier"),
        ("free", "not name=limit"),
        ("Free=60", "not name=limit"),
        ("free=-1", "whole number"),
        ("free=1.5", "whole number"),
        ("free=60,free=61", "listed twice"),
    ],
)
def test_bad_tier_settings_are_refused_saying_why(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        Tiers.parse(text)


def test_a_large_limit_keeps_counting_where_an_absolute_tat_rounded_it_away() -> None:
    # 10^12 per minute: an interval of 6e-11 s, far below the resolution of a clock reading.
    debt = 0.0
    for n in range(1, 1001):
        decision, debt = gcra(debt, 10**12)
        assert decision.allowed and decision.remaining == 10**12 - n
    assert debt > 0 and decision.reset_seconds == 1


async def test_both_limiters_take_any_limit(redis_url: str, redis_key_prefix: str) -> None:
    redis = SharedRateLimiter(RedisGcra(redis_url, redis_key_prefix))
    try:
        for limiter in (InProcessRateLimiter(), redis):
            for limit in (10**9, 10**12, 2**53):
                decisions = [await limiter.hit(f"large-{limit}", limit) for _ in range(50)]
                assert all(d.allowed for d in decisions), (limiter, limit)
                # Each hit takes longer than the interval, so the debt drains between them.
                assert all(limit - 50 <= d.remaining <= limit - 1 for d in decisions)
                assert decisions[-1].headers()["x-ratelimit-limit"] == str(limit)
            unlimited = [await limiter.hit("open", 0) for _ in range(500)]
            assert all(d.allowed for d in unlimited) and unlimited[0].headers() == {}
            # An interval that is no whole number of microseconds still admits exactly the limit.
            assert await _burst([limiter], "seven", 20, 7) == 7
    finally:
        await redis.close()


async def _burst(limiters: list[RateLimiter], tenant: str, calls: int, limit: int) -> int:
    decisions = await asyncio.gather(*(limiters[i % len(limiters)].hit(tenant, limit) for i in range(calls)))
    return sum(d.allowed for d in decisions)


async def test_in_process_limiter_is_exact_under_concurrency() -> None:
    limiter = InProcessRateLimiter()
    assert await _burst([limiter], "t1", 100, 60) == 60
    assert await _burst([limiter], "t2", 400, 300) == 300  # tenants do not share


async def test_redis_limiter_is_exact_across_clients(redis_url: str, redis_key_prefix: str) -> None:
    first, second = (
        SharedRateLimiter(RedisGcra(redis_url, redis_key_prefix)),
        SharedRateLimiter(RedisGcra(redis_url, redis_key_prefix)),
    )
    try:
        assert await _burst([first, second], "tenant-a", 100, 60) == 60
        refused = await first.hit("tenant-a", 60)
        assert not refused.allowed and refused.retry_after_seconds == 1 and refused.remaining == 0
        assert await _burst([first, second], "tenant-b", 350, 300) == 300
    finally:
        await first.close()
        await second.close()
