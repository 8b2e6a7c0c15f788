"""A burst far larger than the inbox, into a slow consumer, through the real Mosquitto: nothing lost.

Two publishers write 15,000 messages each to the socket at once, at QoS 0 as the firmware does:
three times what the inbox holds before it pauses, while the consumer handles about 10,000 a second.
The server must stop reading the broker socket instead of dropping, and every message must arrive,
in each publisher's order. The inbox is given a mark of 10,000 rather than its default: the part of
a burst that does not fit must fit in what the broker holds for a client that does not read (its
socket buffers), and three times the default would be more than that.

A reader paused for longer than two keepalives must not be taken for a dead broker either.
"""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlsplit

import pytest
from prometheus_client import REGISTRY

from server.devicelink.connection import MqttConnection
from server.devicelink.inbox import Inbox
from tests.devicelink.conftest import eventually
from tests.devicelink.raw_publisher import RawPublisher, publish_packet

HIGH_WATER = 10_000
PUBLISHERS = 2
PER_PUBLISHER = 15_000
_STALL_S = 5.0  # no new message for this long: whatever is missing is not coming


def _dropped() -> float:
    return REGISTRY.get_sample_value("hxtp_mqtt_inbox_dropped_total") or 0.0


async def test_a_burst_larger_than_the_inbox_arrives_whole_and_in_order(mosquitto_url: str) -> None:
    parts = urlsplit(mosquitto_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 1883
    run = uuid.uuid4().hex[:8]
    received: dict[str, list[int]] = {}
    count = 0

    async def slow_handler(topic: str, payload: bytes) -> None:
        nonlocal count
        received.setdefault(topic, []).append(int(payload))
        count += 1
        if count % 100 == 0:
            await asyncio.sleep(0.01)  # at most ~10,000 messages a second

    connection = MqttConnection(mosquitto_url, client_id=f"burst-{run}", inbox=Inbox(HIGH_WATER))
    connection.on_message(slow_handler)
    dropped_before = _dropped()
    await connection.start()
    publishers: list[RawPublisher] = []
    try:
        async with asyncio.timeout(5):
            await connection.wait_connected()
        await connection.subscribe(f"hxtp-test/burst/{run}/#", qos=1)
        topics = [f"hxtp-test/burst/{run}/{n}" for n in range(PUBLISHERS)]
        publishers = [
            await RawPublisher.connect(host, port, f"burst-pub-{run}-{n}") for n in range(PUBLISHERS)
        ]
        bursts = [b"".join(publish_packet(t, str(i).encode()) for i in range(PER_PUBLISHER)) for t in topics]
        for publisher, burst in zip(publishers, bursts, strict=True):
            publisher.write(burst)

        seen, last_progress = 0, asyncio.get_running_loop().time()
        while count < PUBLISHERS * PER_PUBLISHER:
            await asyncio.sleep(0.1)
            now = asyncio.get_running_loop().time()
            if count > seen:
                seen, last_progress = count, now
            elif now - last_progress > _STALL_S:
                break
    finally:
        for publisher in publishers:
            await publisher.close()
        await connection.stop()

    assert count == PUBLISHERS * PER_PUBLISHER, f"{count} of {PUBLISHERS * PER_PUBLISHER} arrived"
    for topic in topics:
        assert received[topic] == list(range(PER_PUBLISHER)), f"{topic} arrived out of order"
    assert _dropped() == dropped_before


async def test_a_pause_longer_than_two_keepalives_keeps_the_connection(
    mosquitto_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    parts = urlsplit(mosquitto_url)
    run = uuid.uuid4().hex[:8]
    release = asyncio.Event()
    received: list[int] = []

    async def stuck_handler(_topic: str, payload: bytes) -> None:
        await release.wait()
        received.append(int(payload))

    # gmqtt gives up on a connection it has heard nothing from for two keepalives (4 s here).
    connection = MqttConnection(mosquitto_url, client_id=f"pause-{run}", keepalive=2, inbox=Inbox(10))
    connection.on_message(stuck_handler)
    await connection.start()
    publisher = None
    try:
        async with asyncio.timeout(5):
            await connection.wait_connected()
        await connection.subscribe(f"hxtp-test/pause/{run}", qos=1)
        publisher = await RawPublisher.connect(parts.hostname or "127.0.0.1", parts.port or 1883, f"p-{run}")
        publisher.write(b"".join(publish_packet(f"hxtp-test/pause/{run}", b"%d" % n) for n in range(50)))
        await asyncio.sleep(6)  # paused all along: the inbox holds more than half its mark
        release.set()
        await eventually(lambda: len(received) == 50)
        assert connection.connected
    finally:
        if publisher is not None:
            await publisher.close()
        await connection.stop()
    assert received == list(range(50))
    assert not [r for r in caplog.records if "lost connection" in r.getMessage()]
