"""The embedded broker's delivery loop (server.devicelink.broker_loop): queued messages are delivered
inline, yet a burst never holds up the rest of the server, a message that cannot be delivered is
skipped without stopping the loop, a stop with a burst still queued returns, and the remembered
topic matches are amqtt's own answers."""

from __future__ import annotations

import asyncio

from amqtt.broker import Broker
from hypothesis import given, settings
from hypothesis import strategies as st

from server.devicelink.broker import _BROKER_CONFIG, EmbeddedBroker
from server.devicelink.broker_loop import INLINE_BURST, InlineDeliveryBroker
from server.devicelink.local_publisher import LocalPublisher
from tests.devicelink.subscriber import Subscriber

_TOPIC = "hxtp/t/device/d1/cmd"


def _queue(broker: EmbeddedBroker) -> asyncio.Queue[dict[str, object]]:
    amqtt = broker._broker
    assert amqtt is not None
    return amqtt._broadcast_queue


async def test_a_burst_reaches_the_subscriber_whole_and_in_order(embedded_broker: EmbeddedBroker) -> None:
    device = Subscriber(embedded_broker)
    await device.connect(_TOPIC)
    try:
        count = INLINE_BURST * 20
        for n in range(count):
            await embedded_broker.deliver(_TOPIC, str(n).encode())  # queued without waiting
        received = await device.take(count)
    finally:
        await device.close()
    assert [int(payload) for _, payload, _, _ in received] == list(range(count))


async def test_a_burst_lets_other_tasks_run_while_it_is_delivered(embedded_broker: EmbeddedBroker) -> None:
    bursts = 20
    for n in range(INLINE_BURST * bursts):
        await embedded_broker.deliver(_TOPIC, str(n).encode())
    queue = _queue(embedded_broker)

    async def ticks_until_delivered() -> int:
        """How often this task ran while the queue was being delivered."""
        ticks = 0
        while not queue.empty():
            ticks += 1
            await asyncio.sleep(0)
        return ticks

    async with asyncio.timeout(10):
        ticks = await ticks_until_delivered()
    # The loop yields after every burst: this task ran between them, not only after the last.
    assert ticks >= bursts // 2


async def test_a_message_that_cannot_be_delivered_does_not_stop_the_loop(
    embedded_broker: EmbeddedBroker,
) -> None:
    device = Subscriber(embedded_broker)
    await device.connect(_TOPIC)
    try:
        # Queued together, so the bad one is met both by the wait for a message and inline.
        for bad in range(2):
            await embedded_broker.deliver(_TOPIC, f"before {bad}".encode())
            _queue(embedded_broker).put_nowait({"data": b"no topic"})  # delivering it raises
        await LocalPublisher(embedded_broker).publish(_TOPIC, b"after", acknowledged=True)
        received = [payload for _, payload, _, _ in await device.take(3)]
        assert received == [b"before 0", b"before 1", b"after"]
    finally:
        await device.close()


async def test_stopping_with_a_burst_still_queued_returns() -> None:
    broker = EmbeddedBroker(port=0)
    await broker.start()
    for n in range(INLINE_BURST * 50):
        await broker.deliver(_TOPIC, str(n).encode())
    async with asyncio.timeout(10):
        await broker.stop()
    assert not broker.running


_LEVELS = st.sampled_from(["hxtp", "t", "device", "d1", "cmd", "", "+", "#", "$SYS", "a+", "b#"])


async def test_remembered_topic_matches_are_amqtts_answers() -> None:
    # Both need a running loop to be built (with the embedded broker's plugins); the property
    # itself is plain calls.
    mine, amqtts = InlineDeliveryBroker(dict(_BROKER_CONFIG)), Broker(dict(_BROKER_CONFIG))

    @settings(max_examples=400, deadline=None)
    @given(st.lists(_LEVELS, min_size=1, max_size=6), st.lists(_LEVELS, min_size=1, max_size=6))
    def same_answer(topic_levels: list[str], filter_levels: list[str]) -> None:
        topic, a_filter = "/".join(topic_levels), "/".join(filter_levels)
        expected = amqtts._matches(topic, a_filter)
        assert mine._matches(topic, a_filter) == expected
        assert mine._matches(topic, a_filter) == expected  # the remembered answer

    same_answer()


async def test_a_stop_first_delivers_what_the_broker_already_holds() -> None:
    broker = EmbeddedBroker(port=0)
    await broker.start()
    device = Subscriber(broker)
    # The broker goes away for good: no reconnect attempts (gmqtt allows them while failures <= this).
    device.client.set_config({"reconnect_retries": -2})
    await device.connect(_TOPIC)
    count = INLINE_BURST * 30
    try:
        for n in range(count):
            await broker.deliver(_TOPIC, str(n).encode())  # held by the broker once this returns
        await broker.stop()
        received = await device.take(count, within=5)
    finally:
        await device.close()
    assert [int(payload) for _, payload, _, _ in received] == list(range(count))
