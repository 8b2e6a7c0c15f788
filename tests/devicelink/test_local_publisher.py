"""The server's messages handed straight to the embedded broker (server.devicelink.local_publisher).

Each test has a real MQTT client subscribed on the broker, as a device is: what it receives is what
the broker delivered, in order, at the QoS it was delivered with.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from server.devicelink.broker import EmbeddedBroker
from server.devicelink.connection import MqttNotConnectedError
from server.devicelink.local_publisher import LocalPublisher
from server.errors import Code, HxtpError
from tests.devicelink.conftest import Link
from tests.devicelink.subscriber import Subscriber
from tests.integration.harness import base_url, running

_MANY = 500


async def test_a_subscriber_receives_what_was_handed_over_in_order_at_qos_1(
    embedded_broker: EmbeddedBroker,
) -> None:
    first, second = "hxtp/t/device/d1/cmd", "hxtp/t/device/d2/cmd"
    device = Subscriber(embedded_broker)
    await device.connect(first, second)
    publisher = LocalPublisher(embedded_broker)
    try:
        assert publisher.connected
        # Two topics interleaved, some publishes acknowledged: each topic's messages stay in order.
        for n in range(_MANY):
            await publisher.publish(first if n % 2 else second, str(n).encode(), acknowledged=n % 7 == 0)
        received = await device.take(_MANY)
    finally:
        await device.close()
    for topic in (first, second):
        payloads = [int(payload) for got, payload, _, _ in received if got == topic]
        assert payloads == [n for n in range(_MANY) if (topic == first) == bool(n % 2)]
    assert {(qos, retain) for _, _, qos, retain in received} == {(1, 0)}


async def test_an_acknowledged_publish_returns_with_the_message_held_by_the_broker(
    embedded_broker: EmbeddedBroker,
) -> None:
    topic = "hxtp/t/device/d1/cmd"
    device = Subscriber(embedded_broker)
    await device.connect(topic)
    try:
        publisher = LocalPublisher(embedded_broker)
        async with asyncio.timeout(1):
            await publisher.publish(topic, b"held", acknowledged=True)
        assert await device.take(1) == [(topic, b"held", 1, 0)]
    finally:
        await device.close()


async def test_publishing_into_a_stopped_broker_is_not_connected() -> None:
    broker = EmbeddedBroker(port=0)
    publisher = LocalPublisher(broker)
    assert not publisher.connected
    with pytest.raises(MqttNotConnectedError):  # never started
        await publisher.publish("hxtp/t/device/d1/cmd", b"x")
    await broker.start()
    await publisher.publish("hxtp/t/device/d1/cmd", b"x", acknowledged=True)
    await broker.stop()
    assert not publisher.connected
    with pytest.raises(MqttNotConnectedError):  # stopped
        await publisher.publish("hxtp/t/device/d1/cmd", b"x", acknowledged=True)


@pytest.mark.parametrize("topic", ["", "hxtp/+/device/d1/cmd", "hxtp/t/device/#", "$SYS/broker/uptime"])
async def test_the_broker_takes_nothing_a_client_could_not_publish(
    embedded_broker: EmbeddedBroker, topic: str
) -> None:
    with pytest.raises(ValueError, match="cannot publish"):
        await LocalPublisher(embedded_broker).publish(topic, b"x")


# -- assembled in the application ---------------------------------------------------------------


async def test_the_servers_commands_reach_the_device_in_the_order_of_their_numbers(
    embedded_link: Link,
) -> None:
    app = embedded_link.app
    assert app.broker is not None and app.outbound is not None
    device = await embedded_link.device()
    subscriber = Subscriber(app.broker)
    await subscriber.connect(device.topic("cmd"))
    try:
        # All at once: the device's turn decides the order of the numbers, and so of the publishes.
        sent = await asyncio.gather(
            *(app.outbound.send_command(device.device_id, "light_on", {"n": n}) for n in range(_MANY))
        )
        received = await subscriber.take(_MANY)
    finally:
        await subscriber.close()
    in_turn = sorted(sent, key=lambda message: message.sequence_number)
    assert [payload for _, payload, _, _ in received] == [message.payload for message in in_turn]
    assert {(qos, retain) for _, _, qos, retain in received} == {(1, 0)}
    for _, payload, _, _ in received:
        device.accept_command(payload)  # signed, and each number above the last, as the firmware checks


async def test_on_the_embedded_broker_the_server_publishes_without_its_mqtt_client(
    embedded_link: Link,
) -> None:
    app = embedded_link.app
    assert app.broker is not None
    device = await embedded_link.device()
    subscriber = Subscriber(app.broker)
    await subscriber.connect(device.topic("cmd"))
    try:
        await app.mqtt.stop()  # the connection is gone; the broker is not
        await app.bridge.publish(device.topic("cmd"), b"straight in", acknowledged=True)
        assert await subscriber.take(1) == [(device.topic("cmd"), b"straight in", 1, 0)]
    finally:
        await subscriber.close()


async def test_a_publish_into_the_stopped_embedded_broker_is_the_brokers_503(embedded_link: Link) -> None:
    app = embedded_link.app
    assert app.broker is not None
    device = await embedded_link.device()
    await app.broker.stop()
    assert not app.bridge.connected  # the command gates refuse before anything is written
    with pytest.raises(HxtpError) as refused:
        await app.bridge.publish(device.topic("cmd"), b"x", acknowledged=True)
    assert refused.value.code == Code.GATEWAY_ERROR
    assert refused.value.reason == "The MQTT broker is not reachable"


async def test_with_shared_turns_the_acknowledged_publishes_keep_the_devices_order(
    tmp_path: Path, redis_url: str
) -> None:
    # Redis makes the device's turn a shared claim, so every publish in it is an acknowledged one.
    async with running(tmp_path, HXTP_REDIS_URL=redis_url) as app:
        assert app.broker is not None and app.outbound is not None
        async with httpx.AsyncClient(base_url=base_url(app)) as http:
            device = await Link(app, http, app.broker.url).device()
            subscriber = Subscriber(app.broker)
            await subscriber.connect(device.topic("cmd"))
            try:
                sent = await asyncio.gather(
                    *(app.outbound.send_command(device.device_id, "light_on", {"n": n}) for n in range(50))
                )
                received = await subscriber.take(50)
            finally:
                await subscriber.close()
    in_turn = sorted(sent, key=lambda message: message.sequence_number)
    assert [payload for _, payload, _, _ in received] == [message.payload for message in in_turn]
