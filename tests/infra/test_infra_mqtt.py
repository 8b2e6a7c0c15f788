"""MQTT: the supervised connection against Mosquitto and the embedded broker."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Callable

import pytest

from server.devicelink.broker import EmbeddedBroker
from server.devicelink.connection import MqttConnection, MqttEndpoint, MqttNotConnectedError

TIMEOUT = 5.0


class Inbox:
    """Collects (topic, payload) pairs from an async callback; lets a test wait for a count."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._arrived = asyncio.Event()

    async def __call__(self, topic: str, payload: bytes) -> None:
        self.messages.append((topic, payload))
        self._arrived.set()

    async def wait_for(self, count: int) -> list[tuple[str, bytes]]:
        async with asyncio.timeout(TIMEOUT):
            while len(self.messages) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.messages


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(TIMEOUT):
        # Polling on purpose: `connected` is a plain property with no event behind it.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def unique_topic() -> str:
    # Mosquitto is shared with other test runs: every test talks on topics of its own.
    return f"hxtp-test/{secrets.token_hex(6)}/device/d1/state"


@pytest.fixture(params=["mosquitto", "embedded"])
def broker_url(request: pytest.FixtureRequest) -> str:
    if request.param == "mosquitto":
        url: str = request.getfixturevalue("mosquitto_url")
        return url
    broker: EmbeddedBroker = request.getfixturevalue("embedded_broker")
    return broker.url


@pytest.fixture
async def connections() -> AsyncIterator[Callable[[str], MqttConnection]]:
    """A factory of started connections, all stopped after the test."""
    made: list[MqttConnection] = []

    def make(url: str) -> MqttConnection:
        connection = MqttConnection(url, client_id=f"hxtp-test-{secrets.token_hex(4)}")
        made.append(connection)
        return connection

    yield make
    for connection in made:
        await connection.stop()


async def connected(connection: MqttConnection) -> MqttConnection:
    await connection.start()
    async with asyncio.timeout(TIMEOUT):
        await connection.wait_connected()
    return connection


async def test_publish_subscribe_round_trip(
    broker_url: str, connections: Callable[[str], MqttConnection]
) -> None:
    subscriber = await connected(connections(broker_url))
    publisher = await connected(connections(broker_url))
    inbox = Inbox()
    plain: list[bytes] = []
    subscriber.on_message(inbox)
    subscriber.on_message(lambda _topic, payload: plain.append(payload))  # plain callbacks work too
    topic = unique_topic()
    await subscriber.subscribe(topic.rsplit("/", 3)[0] + "/device/+/state", qos=1)  # wildcards too

    await publisher.publish(topic, b"\x01\x02frame", qos=1)
    await publisher.publish(topic, b"second", qos=0)

    assert await inbox.wait_for(2) == [(topic, b"\x01\x02frame"), (topic, b"second")]
    assert plain == [b"\x01\x02frame", b"second"]


async def test_start_does_not_raise_when_the_broker_is_down(
    connections: Callable[[str], MqttConnection],
) -> None:
    connection = connections("mqtt://127.0.0.1:1")
    await connection.start()  # returns at once; the supervisor keeps trying in the background
    await asyncio.sleep(0.5)
    assert connection.connected is False
    with pytest.raises(MqttNotConnectedError):
        await connection.publish("hxtp-test/x", b"y")
    await connection.subscribe("hxtp-test/#")  # only remembered until a connection exists


async def test_connects_once_the_broker_appears_and_applies_earlier_subscriptions(
    free_tcp_port: int, connections: Callable[[str], MqttConnection]
) -> None:
    broker = EmbeddedBroker(port=free_tcp_port)
    subscriber = connections(broker.url)
    inbox = Inbox()
    subscriber.on_message(inbox)
    await subscriber.start()
    topic = unique_topic()
    await subscriber.subscribe(topic)  # recorded while nothing listens on the port
    await asyncio.sleep(0.3)
    assert not subscriber.connected

    await broker.start()
    try:
        async with asyncio.timeout(TIMEOUT):
            await subscriber.wait_connected()
        publisher = await connected(connections(broker.url))
        await publisher.publish(topic, b"hello")
        assert await inbox.wait_for(1) == [(topic, b"hello")]
    finally:
        await broker.stop()


async def test_reconnects_and_resubscribes_after_the_embedded_broker_restarts(
    embedded_broker: EmbeddedBroker, connections: Callable[[str], MqttConnection]
) -> None:
    subscriber = await connected(connections(embedded_broker.url))
    inbox = Inbox()
    subscriber.on_message(inbox)
    topic = unique_topic()
    await subscriber.subscribe(topic)

    await embedded_broker.stop()
    await until(lambda: not subscriber.connected)
    await embedded_broker.start()  # same port: the wrapper keeps the one it first bound

    async with asyncio.timeout(TIMEOUT):
        await subscriber.wait_connected()
    publisher = await connected(connections(embedded_broker.url))
    # The restarted broker knows nothing of the old session; only a replayed SUBSCRIBE delivers this.
    await publisher.publish(topic, b"after restart")
    assert await inbox.wait_for(1) == [(topic, b"after restart")]


async def test_a_failing_callback_is_logged_and_delivery_goes_on(
    embedded_broker: EmbeddedBroker,
    connections: Callable[[str], MqttConnection],
    caplog: pytest.LogCaptureFixture,
) -> None:
    subscriber = await connected(connections(embedded_broker.url))
    publisher = await connected(connections(embedded_broker.url))

    def explode(_topic: str, payload: bytes) -> None:
        if payload == b"bad":
            raise RuntimeError("callback bug")

    inbox = Inbox()
    subscriber.on_message(explode)
    subscriber.on_message(inbox)
    topic = unique_topic()
    await subscriber.subscribe(topic)
    await publisher.publish(topic, b"bad")
    await publisher.publish(topic, b"good")

    assert [payload for _, payload in await inbox.wait_for(2)] == [b"bad", b"good"]
    failures = [
        r for r in caplog.records if r.levelno == logging.ERROR and r.name == "server.devicelink.connection"
    ]
    assert len(failures) == 1 and failures[0].exc_info is not None
    assert "callback bug" in str(failures[0].exc_info[1])
    caplog.clear()  # expected: do not let the error-log guard fail this test


async def test_stop_is_clean_and_idempotent(embedded_broker: EmbeddedBroker) -> None:
    connection = await connected(MqttConnection(embedded_broker.url, client_id="hxtp-test-stop"))
    await connection.stop()
    assert connection.connected is False
    await connection.stop()


# -- embedded broker ---------------------------------------------------------------------------


async def test_embedded_broker_on_an_explicit_port(free_tcp_port: int) -> None:
    port = free_tcp_port
    broker = EmbeddedBroker(port=port)
    assert broker.url == f"mqtt://127.0.0.1:{port}"
    await broker.start()
    try:
        assert broker.running and broker.port == port
    finally:
        await broker.stop()
    await broker.stop()  # idempotent
    assert not broker.running


def test_embedded_broker_binds_loopback_only() -> None:
    for host in ("0.0.0.0", "192.0.2.1", "localhost"):
        with pytest.raises(ValueError, match="loopback"):
            EmbeddedBroker(port=1884, host=host)
    assert EmbeddedBroker(port=1884, host="::1").url == "mqtt://[::1]:1884"


# -- URLs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://broker.local", MqttEndpoint("broker.local", 1883)),
        ("mqtt://127.0.0.1:1884", MqttEndpoint("127.0.0.1", 1884)),
        ("mqtt://svc:s%40cret@emqx:11883", MqttEndpoint("emqx", 11883, "svc", "s@cret")),
        ("mqtt://user@host", MqttEndpoint("host", 1883, "user", None)),
    ],
)
def test_mqtt_url_parsing(url: str, expected: MqttEndpoint) -> None:
    assert MqttEndpoint.parse(url) == expected


@pytest.mark.parametrize("url", ["http://host:1883", "mqtt://", "mqtt://host:notaport", "host:1883"])
def test_bad_mqtt_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        MqttEndpoint.parse(url)
