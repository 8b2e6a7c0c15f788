"""Per-tenant limits on the running server: the 429 shape, exempt routes, operator tiers, very large
and unlimited limits, and two servers sharing one Redis (the rules alone: test_rate_limit_rules)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import httpx

from server.app import Application
from tests.identity.conftest import bearer, user_token
from tests.integration.harness import base_url, running


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
