"""A device's turn across replicas: the claim in the shared cache, waited for while another holds it.

Another replica is played by a claim it would have written (its own token under the device's key);
the cache is the real in-process one, which both replicas would share through Redis.
"""

from __future__ import annotations

import asyncio

import pytest

from server.cache.memory import MemoryCache
from server.devicelink import ordering
from server.devicelink.ordering import DeviceOrder
from server.errors import Code, HxtpError

KEY = "hxtp:wire_turn:dev-1"


async def test_a_free_turn_is_claimed_and_released() -> None:
    cache = MemoryCache()
    order = DeviceOrder(cache)
    async with order.hold("dev-1"):
        assert await cache.get(KEY) is not None
    assert await cache.get(KEY) is None


async def test_a_turn_held_by_another_replica_is_waited_for() -> None:
    cache = MemoryCache()
    await cache.set_if_absent(KEY, b"other-replica", ordering.TURN_TTL_S)
    order, entered = DeviceOrder(cache), asyncio.Event()

    async def send() -> None:
        async with order.hold("dev-1"):
            entered.set()

    sending = asyncio.create_task(send())
    await asyncio.sleep(0.05)
    assert not entered.is_set()  # still the other replica's turn
    assert await cache.delete_if_equal(KEY, b"other-replica")
    await asyncio.wait_for(sending, 2)
    assert entered.is_set()
    assert await cache.get(KEY) is None


async def test_a_turn_never_released_answers_service_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ordering, "TURN_WAIT_S", 0.1)
    cache = MemoryCache()
    await cache.set_if_absent(KEY, b"other-replica", ordering.TURN_TTL_S)
    with pytest.raises(HxtpError) as refused:
        async with DeviceOrder(cache).hold("dev-1"):
            pytest.fail("entered a turn another replica holds")
    assert refused.value.code == Code.SERVICE_UNAVAILABLE
    assert await cache.get(KEY) == b"other-replica"  # never taken from its holder
