"""Per-tenant GCRA limits: the arithmetic, both implementations under concurrency, the 429 shape,
exempt routes, tiers, and two servers sharing one Redis."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import httpx
import pytest

from server.app import Application
from server.cache.gcra import RedisRateLimiter
from server.domain.identity.rate_limits import InProcessRateLimiter, RateLimiter, gcra, limit_for
from tests.identity.conftest import bearer, user_token
from tests.integration.harness import base_url, running


def test_gcra_admits_a_full_burst_then_one_per_interval() -> None:
    tat, now = 0.0, 100.0
    remaining = []
    for _ in range(60):
        decision, tat = gcra(tat, now, 60)
        assert decision.allowed
        remaining.append(decision.remaining)
    assert remaining == list(range(59, -1, -1))
    refused, same = gcra(tat, now, 60)
    assert not refused.allowed and same == tat and refused.retry_after_seconds == 1
    assert refused.reset_seconds == 60 and refused.headers()["retry-after"] == "1"
    later, _ = gcra(tat, now + 1.0, 60)  # one emission interval later: exactly one more
    assert later.allowed and later.remaining == 0
    assert limit_for("free") == 60 and limit_for("pro") == 300 and limit_for("unknown") == 60


async def _burst(limiters: list[RateLimiter], tenant: str, calls: int, limit: int) -> int:
    decisions = await asyncio.gather(*(limiters[i % len(limiters)].hit(tenant, limit) for i in range(calls)))
    return sum(d.allowed for d in decisions)


async def test_in_process_limiter_is_exact_under_concurrency() -> None:
    limiter = InProcessRateLimiter()
    assert await _burst([limiter], "t1", 100, 60) == 60
    assert await _burst([limiter], "t2", 400, 300) == 300  # tenants do not share


async def test_redis_limiter_is_exact_across_clients(redis_url: str, redis_key_prefix: str) -> None:
    first, second = (
        RedisRateLimiter(redis_url, redis_key_prefix),
        RedisRateLimiter(redis_url, redis_key_prefix),
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


@pytest.mark.parametrize("tier", ["free", "pro"])
def test_tier_names(tier: str) -> None:
    assert limit_for(tier) in (60, 300)
