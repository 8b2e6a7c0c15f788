"""Two replicas behind one shared subscription (issue: in-order messages dropped across replicas):
every validly signed message that is not a replay is accepted exactly once, whichever replica gets
it and in whatever order; replays and re-used sequence numbers are refused on either replica."""

from __future__ import annotations

import asyncio
import random

import pytest

from server.cache.base import Cache
from server.cache.memory import MemoryCache
from server.cache.redis import RedisCache
from server.devicelink.inbound import InboundPipeline
from server.domain.link.replay import SEQUENCE_WINDOW, ReplayGuard
from tests.devicelink.conftest import rejected
from tests.devicelink.directory import VECTOR_SECRET, FixedDevice, FixedDirectory
from tests.devicelink.firmware import FirmwareDevice


@pytest.fixture(params=["memory", "redis"])
async def shared(request: pytest.FixtureRequest) -> Cache:
    if request.param == "memory":
        return MemoryCache()
    prefix = request.getfixturevalue("redis_key_prefix")
    return RedisCache(request.getfixturevalue("redis_url"), prefix=prefix)  # each test closes it


def _replicas(cache: Cache) -> tuple[InboundPipeline, InboundPipeline]:
    directory = FixedDirectory(FixedDevice())
    return (
        InboundPipeline(directory, replay_guard=ReplayGuard(cache)),
        InboundPipeline(directory, replay_guard=ReplayGuard(cache)),
    )


def _device() -> FirmwareDevice:
    fixed = FixedDevice()
    return FirmwareDevice(fixed.device_id, fixed.tenant_id, VECTOR_SECRET)


async def test_back_to_back_messages_are_all_accepted_across_two_replicas(shared: Cache) -> None:
    a, b = _replicas(shared)
    device = _device()
    topic = device.topic("state")
    frames = [device.build("state", f'{{"n":{n}}}') for n in range(40)]
    # The shared subscription alternates replicas; each replica serves its share in its own order.
    order = list(enumerate(frames))
    random.Random(7).shuffle(order)
    results = await asyncio.gather(*((a if i % 2 else b).receive(topic, f) for i, f in order))
    accepted = sorted(m.params["n"] for m in results if m is not None)
    assert accepted == list(range(40))
    try:
        # The same frames again, each to the replica that did not serve it: replays, all refused.
        replays = await asyncio.gather(*((b if i % 2 else a).receive(topic, f) for i, f in order))
        assert replays == [None] * 40
        # A number accepted before, re-signed with a fresh nonce: refused on either replica.
        device.sequence = 10
        reused = device.build("state", '{"n":"again"}')
        before = rejected("SEQUENCE_VIOLATION")
        assert await a.receive(topic, reused) is None
        assert rejected("SEQUENCE_VIOLATION") == before + 1
        # A whole window below the highest: refused, never seen or not.
        device.sequence = 40 + SEQUENCE_WINDOW
        assert await b.receive(topic, device.build("state", '{"n":"top"}')) is not None
        device.sequence = 40 - 1
        assert await a.receive(topic, device.build("state", '{"n":"old"}')) is None
    finally:
        await shared.close()


async def test_two_replicas_racing_on_one_number_accept_it_once(shared: Cache) -> None:
    a, b = _replicas(shared)
    device = _device()
    topic = device.topic("state")
    first = device.build("state", '{"copy":1}')
    device.sequence -= 1
    second = device.build("state", '{"copy":2}')  # same number, fresh nonce: a re-signed duplicate
    try:
        results = await asyncio.gather(a.receive(topic, first), b.receive(topic, second))
        assert sum(r is not None for r in results) == 1
    finally:
        await shared.close()


def test_the_window_refuses_only_what_it_saw_or_what_fell_out() -> None:
    async def run() -> list[bool]:
        cache = MemoryCache()
        marks = [5, 3, 5, 4, 3, 200, 73, 72, 199]
        return [await cache.mark_in_window("k", n, 128) for n in marks]

    assert asyncio.run(run()) == [True, True, False, True, False, True, True, False, True]
