"""A device's MQTT client on the embedded broker, for tests of what the broker delivers."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv311

from server.devicelink.broker import EmbeddedBroker


class Subscriber:
    """A device's MQTT client on its command topic, recording each delivery with its QoS and retain flag."""

    def __init__(self, broker: EmbeddedBroker) -> None:
        self._broker = broker
        self.client = Client(f"hxtp-subscriber-{secrets.token_hex(4)}")
        self.client.on_message = self._on_message
        self.received: asyncio.Queue[tuple[str, bytes, int, int]] = asyncio.Queue()

    def _on_message(self, _client: Any, topic: str, payload: bytes, qos: int, properties: Any) -> int:
        self.received.put_nowait((topic, payload, qos, int(properties.get("retain", 0))))
        return 0

    async def connect(self, *topics: str) -> None:
        await self.client.connect(self._broker.host, self._broker.port, version=MQTTv311)
        for topic in topics:
            subscribed = asyncio.get_running_loop().create_future()
            self.client.on_subscribe = lambda *_, done=subscribed: done.done() or done.set_result(None)
            self.client.subscribe(topic, qos=1)
            async with asyncio.timeout(5):
                await subscribed

    async def take(self, count: int, within: float = 10.0) -> list[tuple[str, bytes, int, int]]:
        async with asyncio.timeout(within):
            return [await self.received.get() for _ in range(count)]

    async def close(self) -> None:
        await self.client.disconnect()
