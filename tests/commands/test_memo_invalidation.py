"""The command path's per-process memos (user, device, manifest, keys) are invalidated on every
replica at once: a change answered by one replica is in force on the next call to another, with
no waiting for the memos' safety TTL."""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path

import httpx

from server.cache.memory import MemoryCache
from server.cache.redis import RedisCache
from server.domain.memo import DEVICE_KEYS, MemoHub
from tests.integration.harness import base_url, running


async def _hubs_share_invalidations(first: MemoHub, second: MemoHub) -> None:
    await first.start()
    await second.start()
    try:
        there = second.memo(DEVICE_KEYS)
        also_there = second.memo(DEVICE_KEYS)
        values = iter(["old", "new"])

        async def load() -> str:
            return next(values)

        assert await there.get("device-1", load) == "old"
        assert await also_there.get("device-1", load) == "new"
        # Warm, and consulted again: the memo answers without loading.
        assert await there.get("device-1", load) == "old"
        values = iter(["rotated", "rotated too"])
        await first.forget((DEVICE_KEYS, "device-1"))  # answers once every hub has dropped it
        assert await there.get("device-1", load) == "rotated"
        assert await also_there.get("device-1", load) == "rotated too"
    finally:
        await first.close()
        await second.close()


async def test_two_hubs_on_one_redis_forget_each_others_entries(
    redis_url: str, redis_key_prefix: str
) -> None:
    caches = [RedisCache(redis_url, redis_key_prefix), RedisCache(redis_url, redis_key_prefix)]
    try:
        await _hubs_share_invalidations(MemoHub(caches[0]), MemoHub(caches[1]))
    finally:
        for cache in caches:
            await cache.close()


async def test_two_hubs_on_the_in_process_cache_forget_each_others_entries() -> None:
    cache = MemoryCache()
    try:
        await _hubs_share_invalidations(MemoHub(cache), MemoHub(cache))
    finally:
        await cache.close()


async def test_revocation_manifest_and_role_changes_on_a_apply_at_once_on_b(
    tmp_path: Path, fresh_postgres_url: str, redis_url: str
) -> None:
    env = {
        "HXTP_DATABASE_URL": fresh_postgres_url,
        "HXTP_REDIS_URL": redis_url,
        "HXTP_JWT_SECRET": "j" * 32,
        "HXTP_SECRET_KEY": "k" * 64,
        "HXTP_TIERS": "bench=0",  # the tenant quota is not what this test is about
    }
    async with contextlib.AsyncExitStack() as stack:
        a = await stack.enter_async_context(running(tmp_path / "a", wait_for_mqtt=False, **env))
        b = await stack.enter_async_context(running(tmp_path / "b", wait_for_mqtt=False, **env))
        on_a, on_b = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=base_url(x) + "/api/v1", timeout=10))
            for x in (a, b)
        ]
        email, tenant = f"owner-{secrets.token_hex(4)}@example.com", f"Memo {secrets.token_hex(4)}"
        owner = await a.identity.identity.ensure_user(email, "owner", tenant)
        headers = {"authorization": "Bearer " + a.tokens.mint(owner)}
        home = (await on_a.post("/homes", json={"home_name": "Lab"}, headers=headers)).json()
        body = {"device_type": "light", "home_id": home["id"]}
        device = (await on_a.post("/devices/register", json=body, headers=headers)).json()["device_id"]
        command = f"/device/{device}/command"

        async def on_b_sends(action: str) -> httpx.Response:
            return await on_b.post(command, json={"action": action, "params": {}}, headers=headers)

        # B memoises user, device and manifest.
        assert (await on_b_sends("light_on")).status_code == 202
        refused = await on_b_sends("blink")
        assert refused.json()["code"] == "ACTION_NOT_IN_MANIFEST"

        manifest = {"capabilities": [{"action": "light_on"}, {"action": "blink", "safetyClass": "normal"}]}
        changed = await on_a.put(f"/devices/{device}/manifest", json=manifest, headers=headers)
        assert changed.status_code in (200, 201), changed.text
        assert (await on_b_sends("blink")).status_code == 202

        await a.identity.identity.ensure_user(email, "viewer", tenant)  # demoted, as the CLI does
        demoted = await on_b_sends("light_on")
        assert demoted.status_code == 403 and demoted.json()["code"] == "FORBIDDEN"
        await a.identity.identity.ensure_user(email, "owner", tenant)
        assert (await on_b_sends("light_on")).status_code == 202

        rotated = await on_a.post(f"/devices/{device}/rotate-secret", headers=headers)
        assert rotated.status_code == 200, rotated.text
        assert (await on_b_sends("light_on")).status_code == 202  # a rotation does not stop commands

        assert (await on_a.post(f"/device/{device}/revoke", headers=headers)).status_code == 200
        revoked = await on_b_sends("light_on")
        assert revoked.status_code == 403 and revoked.json()["code"] == "DEVICE_REVOKED"


async def test_without_a_live_subscription_memos_remember_nothing_and_forget_never_raises(
    unused_tcp_port: int,
) -> None:
    cache = RedisCache(f"redis://127.0.0.1:{unused_tcp_port}/0")  # nothing listens there
    hub = MemoHub(cache)
    await hub.start()  # gives up waiting for its probe; keeps trying in the background
    try:
        memo = hub.memo(DEVICE_KEYS)
        values = iter(["first", "second"])

        async def load() -> str:
            return next(values)

        assert await memo.get("device-1", load) == "first"
        assert await memo.get("device-1", load) == "second"  # a missed invalidation cannot bite
        await hub.forget((DEVICE_KEYS, "device-1"))
    finally:
        await hub.close()
        await cache.close()
