"""The cache contract, run against both implementations: MemoryCache and RedisCache on a real Redis."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from server.cache import Cache, MemoryCache, RedisCache, create_cache

PROBE = b"__probe__"


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    implementation: Cache
    if request.param == "memory":
        implementation = MemoryCache()
    else:
        redis_url: str = request.getfixturevalue("redis_url")
        prefix: str = request.getfixturevalue("redis_key_prefix")
        implementation = RedisCache(redis_url, prefix=prefix)
    yield implementation
    await implementation.close()


class Subscription:
    """A subscriber that is known to be listening, and skips the probes used to find that out."""

    def __init__(self, cache: Cache, channel: str) -> None:
        self._iterator = cache.subscribe(channel)

    @classmethod
    async def open(cls, cache: Cache, channel: str) -> Subscription:
        # subscribe() subscribes on the first __anext__; publish probes until one comes back.
        subscription = cls(cache, channel)
        first = asyncio.ensure_future(anext(subscription._iterator))
        async with asyncio.timeout(5):
            while not first.done():
                await cache.publish(channel, PROBE)
                await asyncio.wait({first}, timeout=0.05)
        assert first.result() == PROBE
        return subscription

    async def next(self) -> bytes:
        async with asyncio.timeout(5):
            while (message := await anext(self._iterator)) == PROBE:
                pass
        return message

    async def close(self) -> None:
        await self._iterator.aclose()


def channel_name() -> str:
    return f"events-{secrets.token_hex(4)}"


# -- key/value ---------------------------------------------------------------------------------


async def test_get_set_and_overwrite(cache: Cache) -> None:
    assert await cache.get("k") is None
    await cache.set("k", b"v1")
    assert await cache.get("k") == b"v1"
    await cache.set("k", b"\x00\xffbinary")
    assert await cache.get("k") == b"\x00\xffbinary"


async def test_ttl_expires_and_set_without_ttl_persists(cache: Cache) -> None:
    await cache.set("short", b"x", ttl=0.15)
    await cache.set("reset", b"x", ttl=0.15)
    await cache.set("reset", b"y")  # a plain set replaces the TTL too
    assert await cache.get("short") == b"x"
    await asyncio.sleep(0.3)
    assert await cache.get("short") is None
    assert await cache.get("reset") == b"y"


async def test_set_if_absent_claims_once(cache: Cache) -> None:
    assert await cache.set_if_absent("nonce", b"1", ttl=0.2) is True
    assert await cache.set_if_absent("nonce", b"2", ttl=0.2) is False
    assert await cache.get("nonce") == b"1"
    await asyncio.sleep(0.35)
    assert await cache.set_if_absent("nonce", b"3", ttl=10) is True  # the claim expired


async def test_set_if_absent_has_exactly_one_winner_under_concurrency(cache: Cache) -> None:
    results = await asyncio.gather(
        *(cache.set_if_absent("token", str(i).encode(), ttl=10) for i in range(25))
    )
    assert results.count(True) == 1


async def test_set_if_greater_only_moves_up(cache: Cache) -> None:
    assert await cache.set_if_greater("window", 41, ttl=10) is True
    assert await cache.set_if_greater("window", 41, ttl=10) is False  # equal is not greater
    assert await cache.set_if_greater("window", 7, ttl=10) is False
    assert await cache.get("window") == b"41"
    big = 2**63 - 1  # beyond a double's exact range: still compared exactly
    assert await cache.set_if_greater("window", big - 1) is True
    assert await cache.set_if_greater("window", big - 1) is False
    assert await cache.set_if_greater("window", big) is True
    assert await cache.set_if_greater("window", 10**18) is False  # fewer digits, smaller
    with pytest.raises(ValueError):
        await cache.set_if_greater("window", -1)


async def test_set_if_greater_expires_and_has_one_winner_per_value(cache: Cache) -> None:
    assert await cache.set_if_greater("short", 5, ttl=0.15) is True
    await asyncio.sleep(0.3)
    assert await cache.set_if_greater("short", 1, ttl=10) is True  # the window expired: starts again
    results = await asyncio.gather(*(cache.set_if_greater("race", 100, ttl=10) for _ in range(25)))
    assert results.count(True) == 1


async def test_delete_reports_whether_something_was_removed(cache: Cache) -> None:
    await cache.set("k", b"v")
    assert await cache.delete("k") is True
    assert await cache.delete("k") is False
    assert await cache.get("k") is None
    await cache.set("gone", b"v", ttl=0.05)
    await asyncio.sleep(0.15)
    assert await cache.delete("gone") is False  # expired counts as absent


async def test_delete_if_equal_removes_only_its_own_claim(cache: Cache) -> None:
    assert await cache.set_if_absent("claim", b"mine", ttl=10)
    assert await cache.delete_if_equal("claim", b"theirs") is False
    assert await cache.get("claim") == b"mine"
    assert await cache.delete_if_equal("claim", b"mine") is True
    assert await cache.get("claim") is None
    assert await cache.delete_if_equal("claim", b"mine") is False  # gone: nothing to remove


async def test_incr_counts_atomically_and_sets_ttl_only_on_creation(cache: Cache) -> None:
    assert await cache.incr("hits", ttl=0.3) == 1
    await asyncio.sleep(0.15)
    assert await cache.incr("hits", 5, ttl=10) == 6  # existing key: the 10 s TTL is not applied
    assert await cache.get("hits") == b"6"
    await asyncio.sleep(0.3)
    assert await cache.get("hits") is None  # the window that started with the first hit ended
    assert await cache.incr("hits") == 1

    results = await asyncio.gather(*(cache.incr("concurrent") for _ in range(50)))
    assert sorted(results) == list(range(1, 51))
    assert await cache.incr("down", -3) == -3


async def test_incr_refuses_a_non_integer_value(cache: Cache) -> None:
    await cache.set("text", b"hello")
    with pytest.raises(ValueError):
        await cache.incr("text")


@pytest.mark.parametrize("ttl", [0, -1.0])
async def test_non_positive_ttl_is_refused(cache: Cache, ttl: float) -> None:
    with pytest.raises(ValueError):
        await cache.set("k", b"v", ttl=ttl)
    with pytest.raises(ValueError):
        await cache.set_if_absent("k", b"v", ttl=ttl)
    with pytest.raises(ValueError):
        await cache.incr("k", ttl=ttl)


# -- pub/sub -----------------------------------------------------------------------------------


async def test_publish_fans_out_to_every_subscriber(cache: Cache) -> None:
    channel = channel_name()
    first = await Subscription.open(cache, channel)
    second = await Subscription.open(cache, channel)
    other = await Subscription.open(cache, channel_name())
    try:
        await cache.publish(channel, b"one")
        await cache.publish(channel, b"two")
        assert [await first.next(), await first.next()] == [b"one", b"two"]
        assert [await second.next(), await second.next()] == [b"one", b"two"]
        await cache.publish(channel_name(), b"elsewhere")  # nobody listens: no error, no delivery
        await cache.publish(channel, b"three")
        assert await first.next() == b"three"
    finally:
        for subscription in (first, second, other):
            await subscription.close()


async def test_cancelling_a_subscriber_unsubscribes_it(cache: Cache, request: pytest.FixtureRequest) -> None:
    channel = channel_name()
    subscription = await Subscription.open(cache, channel)
    reader = asyncio.ensure_future(subscription.next())
    await asyncio.sleep(0.05)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    await subscription.close()
    await cache.publish(channel, b"after")  # no subscriber left; must not block or fail
    if isinstance(cache, RedisCache):
        client = aioredis.Redis.from_url(request.getfixturevalue("redis_url"))
        try:
            counts = await client.pubsub_numsub(cache.prefix + channel)
        finally:
            await client.aclose()
        assert counts == [((cache.prefix + channel).encode(), 0)]


async def test_close_ends_subscriptions(cache: Cache) -> None:
    subscription = await Subscription.open(cache, channel_name())
    reader = asyncio.ensure_future(subscription.next())
    await asyncio.sleep(0.05)
    await cache.close()
    with pytest.raises(StopAsyncIteration):
        async with asyncio.timeout(3):
            await reader


async def test_a_slow_memory_subscriber_drops_its_oldest_messages() -> None:
    cache = MemoryCache(subscriber_backlog=3)
    channel = channel_name()
    subscription = await Subscription.open(cache, channel)
    for n in range(1, 6):
        await cache.publish(channel, str(n).encode())  # never blocks, although nobody reads
    assert [await subscription.next() for _ in range(3)] == [b"3", b"4", b"5"]
    await subscription.close()
    await cache.close()


# -- health and construction -------------------------------------------------------------------


async def test_ping_is_true_when_up(cache: Cache) -> None:
    assert await cache.ping() is True


@pytest.mark.parametrize("port_kind", ["closed-port", "silent-server"])
async def test_redis_ping_is_false_within_the_timeout_when_down(port_kind: str, silent_port: int) -> None:
    port = 1 if port_kind == "closed-port" else silent_port
    cache = RedisCache(f"redis://127.0.0.1:{port}/0")
    try:
        started = time.monotonic()
        assert await cache.ping(timeout=0.5) is False
        assert time.monotonic() - started < 1.5
    finally:
        await cache.close()


async def test_create_cache_picks_the_implementation() -> None:
    memory = create_cache("")
    remote = create_cache("redis://127.0.0.1:1/0")  # connects lazily: constructing never fails
    try:
        assert isinstance(memory, MemoryCache) and isinstance(memory, Cache)
        assert isinstance(remote, RedisCache) and isinstance(remote, Cache)
    finally:
        await memory.close()
        await remote.close()
