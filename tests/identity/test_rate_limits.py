"""Per-tenant GCRA limits: the arithmetic, both implementations under concurrency and with any
configured limit (very large, unlimited), the 429 shape, exempt routes, operator tiers, and two
servers sharing one Redis."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import httpx
import pytest

from server.app import Application
from server.cache.gcra import RedisGcra
from server.domain.identity.rate_limits import (
    STANDARD_TIERS,
    InProcessRateLimiter,
    RateLimiter,
    SharedRateLimiter,
    Tiers,
    gcra,
)
from tests.identity.conftest import bearer, user_token
from tests.integration.harness import base_url, running


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


async def test_429_shape_headers_and_exempt_routes(app: Application, http: httpx.AsyncClient) -> None:
    credential = bearer(await user_token(app, "viewer"))
    first = await http.get("/auth/me", headers=credential)
    assert first.headers["x-ratelimit-limit"] == "60" and first.headers["x-ratelimit-remaining"] == "59"
    assert int(first.headers["x-ratelimit-reset"]) >= 1
    started = time.monotonic()
    answers = await asyncio.gather(*(http.get("/auth/me", headers=credential) for _ in range(70)))
    refilled = int(time.monotonic() - started)  # GCRA refills one request per second meanwhile
    ok = [r.status_code for r in answers].count(200)
    assert 59 <= ok <= 59 + refilled and [r.status_code for r in answers].count(429) == 70 - ok
    limited = next(r for r in answers if r.status_code == 429)
    body = limited.json()
    assert body["error"] == "RATE_LIMIT_EXCEEDED" and body["code"] == "RATE_LIMIT_EXCEEDED"
    assert body["reason"] and body["retry_after_seconds"] == int(limited.headers["retry-after"]) >= 1
    assert limited.headers["x-ratelimit-remaining"] == "0" and limited.headers["x-ratelimit-limit"] == "60"
    # exempt: health, status, version, metrics (with the same credential)
    for path in ("/health", "/status", "/version", "/metrics", "/health/live"):
        response = await http.get(path, headers=credential)
        assert response.status_code == 200 and "x-ratelimit-limit" not in response.headers, path


async def test_tier_sets_the_limit(app: Application, http: httpx.AsyncClient) -> None:
    credential = await user_token(app, "owner", tier="pro")
    response = await http.get("/auth/me", headers=bearer(credential))
    assert response.headers["x-ratelimit-limit"] == "300"


async def test_two_servers_sharing_redis_share_one_limit(
    tmp_path: Path, fresh_postgres_url: str, redis_url: str
) -> None:
    env = {"HXTP_DATABASE_URL": fresh_postgres_url, "HXTP_REDIS_URL": redis_url, "HXTP_JWT_SECRET": "x" * 32}
    async with contextlib.AsyncExitStack() as stack:
        one = await stack.enter_async_context(running(tmp_path / "one", wait_for_mqtt=False, **env))
        two = await stack.enter_async_context(running(tmp_path / "two", wait_for_mqtt=False, **env))
        credential = bearer(await user_token(one, "user"))  # same database: both know the user
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=base_url(a) + "/api/v1", timeout=10))
            for a in (one, two)
        ]
        started = time.monotonic()
        answers = await asyncio.gather(
            *(clients[i % 2].get("/auth/me", headers=credential) for i in range(90))
        )
        refilled = int(time.monotonic() - started)  # exact when the burst takes under a second
    ok = [r.status_code for r in answers].count(200)
    assert 60 <= ok <= 60 + refilled and [r.status_code for r in answers].count(429) == 90 - ok
    assert {r.status_code for i, r in enumerate(answers) if i % 2 == 1} >= {200}


async def test_an_unlimited_tenant_is_never_refused_nor_counted(
    app: Application, http: httpx.AsyncClient
) -> None:
    credential = bearer(await user_token(app, "owner", tier="fleet"))
    answers = await asyncio.gather(*(http.get("/auth/me", headers=credential) for _ in range(150)))
    assert {r.status_code for r in answers} == {200}
    assert not any("x-ratelimit-limit" in r.headers for r in answers)


async def test_operator_tiers_set_the_limit_on_both_limiters(backend: dict[str, str], tmp_path: Path) -> None:
    """A very large configured limit used to be a 500 on Redis (`invalid expire time in 'set'`)."""
    tiers = "small=2,huge=1000000000000"
    async with running(tmp_path, wait_for_mqtt=False, HXTP_TIERS=tiers, **backend) as server:
        async with httpx.AsyncClient(base_url=base_url(server) + "/api/v1", timeout=10) as client:
            small = bearer(await user_token(server, "owner"))  # stored tier "free": not configured -> first
            codes = [(await client.get("/auth/me", headers=small)).status_code for _ in range(3)]
            assert codes == [200, 200, 429]
            huge = bearer(await user_token(server, "owner", tier="huge"))
            answers = [await client.get("/auth/me", headers=huge) for _ in range(30)]
    assert {r.status_code for r in answers} == {200}
    assert answers[-1].headers["x-ratelimit-limit"] == str(10**12)
    assert 10**12 - 30 <= int(answers[-1].headers["x-ratelimit-remaining"]) < 10**12  # drains between
