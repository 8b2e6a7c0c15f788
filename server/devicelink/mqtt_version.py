"""The embedded broker (amqtt) speaks MQTT 3.1.1 only: an MQTT 5 CONNECT is answered here, before
amqtt sees it, with CONNACK 0x01 (unacceptable protocol version, the 3.1.1 answer MQTT 5 clients
understand). gmqtt, which hxtp-py's MqttTransport uses, then reconnects with 3.1.1 by itself.
amqtt would answer the same, but with two warnings and a traceback-free "Invalid protocol" per
attempt; here it is one INFO line. Every other connection reaches amqtt byte for byte.
"""

from __future__ import annotations

import asyncio

from amqtt.adapters import StreamReaderAdapter

MQTT_5 = 5
CONNACK_UNACCEPTABLE_VERSION = b"\x20\x02\x00\x01"
_CONNECT = 0x10
_MAX_NAME = 6  # "MQTT" (3.1.1 and 5) or "MQIsdp" (3.1)


class ReplayedReader(StreamReaderAdapter):
    """amqtt's reader over a stream whose first bytes were already read (the CONNECT's head)."""

    def __init__(self, reader: asyncio.StreamReader, head: bytes) -> None:
        super().__init__(reader)
        self._head = head

    async def read(self, n: int = -1) -> bytes:
        if not self._head:
            rest: bytes = await super().read(n)
            return rest
        if n == -1:
            data, self._head = self._head, b""
            tail: bytes = await super().read(-1)
            return data + tail
        data, self._head = self._head[:n], self._head[n:]
        if len(data) < n:
            data += await super().read(n - len(data))
        return data


async def read_connect_head(reader: asyncio.StreamReader) -> tuple[bytes, int | None]:
    """(the bytes read, the protocol level when the stream opens with a CONNECT, else None)."""
    head = bytearray(await reader.readexactly(1))
    if head[0] & 0xF0 != _CONNECT:
        return bytes(head), None
    for _ in range(4):  # the remaining-length varint
        byte = (await reader.readexactly(1))[0]
        head.append(byte)
        if not byte & 0x80:
            break
    name_length = await reader.readexactly(2)
    head += name_length
    length = int.from_bytes(name_length, "big")
    if length > _MAX_NAME:
        return bytes(head), None
    head += await reader.readexactly(length)
    level = await reader.readexactly(1)
    head += level
    return bytes(head), level[0]
