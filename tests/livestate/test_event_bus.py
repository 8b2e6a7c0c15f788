"""The event bus on its own: one cache subscription per tenant, bounded queues, malformed input."""

from __future__ import annotations

import asyncio
import socket

import pytest

from server.cache import MemoryCache, RedisCache
from server.domain.events import Event, EventBus, events_channel
from server.errors import Code, HxtpError


async def _settle() -> None:
    for _ in range(5):  # lets the feed task subscribe and pass events along
        await asyncio.sleep(0)


@pytest.mark.parametrize("local_only", [False, True])  # True: the in-process cache's own bus
async def test_one_cache_subscription_per_tenant_fans_out_to_every_subscriber(local_only: bool) -> None:
    cache = MemoryCache()
    bus = EventBus(cache, local_only=local_only)
    async with bus.subscribe("t1") as first, bus.subscribe("t1") as second, bus.subscribe("t2") as other:
        await _settle()
        assert bus.subscriber_count("t1") == 2 and bus.subscriber_count() == 3
        assert await bus.publish_state_update("t1", "d1", {"on": True}, 1) is True
        await _settle()
        one, two = await anext(first), await anext(second)
        assert one is two  # the same object: decoded once, shared
        assert one == Event("state_update", "d1", 1, {"on": True})
        with pytest.raises(TimeoutError):  # another tenant's subscriber got nothing
            await asyncio.wait_for(anext(other), timeout=0.05)
    await _settle()
    assert bus.subscriber_count() == 0
    await bus.close()
    await cache.close()


async def test_a_full_queue_drops_the_oldest_and_counts_it() -> None:
    cache = MemoryCache()
    bus = EventBus(cache, queue_size=3)
    drops: list[int] = []
    async with bus.subscribe("t", on_drop=lambda: drops.append(1)) as subscription:
        await _settle()
        for n in range(5):
            await bus.publish_command_status("t", "d", f"c{n}", "acked", timestamp_ms=n)
        await _settle()
        assert subscription.dropped == 2 and len(drops) == 2
        assert [(await anext(subscription)).command_id for _ in range(3)] == ["c2", "c3", "c4"]
    await bus.close()
    await cache.close()


async def test_malformed_messages_are_skipped(caplog: pytest.LogCaptureFixture) -> None:
    cache = MemoryCache()
    bus = EventBus(cache)
    async with bus.subscribe("t") as subscription:
        await _settle()
        for junk in (
            b"not json",
            b"[]",
            b'{"type":"state_update"}',
            b'{"type":"","device_id":"d","timestamp":1}',
        ):
            await cache.publish(events_channel("t"), junk)
        await cache.publish(
            events_channel("t"), b'{"type":"state_update","device_id":"d","state":{},"timestamp":9}'
        )
        await _settle()
        assert (await anext(subscription)).timestamp == 9
    assert sum("malformed event" in r.getMessage() for r in caplog.records) == 4
    await bus.close()
    await cache.close()


async def test_a_lost_cache_ends_the_streams_and_fails_publishes_softly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cache = RedisCache(f"redis://127.0.0.1:{port}/0")
    bus = EventBus(cache)
    async with bus.subscribe("t") as subscription:
        with pytest.raises(HxtpError) as failure:
            async with asyncio.timeout(10):
                await anext(subscription)
    assert failure.value.code == Code.SERVICE_UNAVAILABLE
    # Publishing is best effort: the caller (a command, a device message) carries on.
    assert await bus.publish_state_update("t", "d", {}) is False
    assert any("could not publish a state_update event" in r.getMessage() for r in caplog.records)
    await bus.close()
    await cache.close()
