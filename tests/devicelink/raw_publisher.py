"""An MQTT 3.1.1 publisher written straight to a socket: CONNECT, QoS 0 PUBLISHes, DISCONNECT.

No client library sits between the test and the wire, so a burst leaves as fast as the kernel takes
it (an MQTT client would yield, batch or pace), and what the subscriber sees is what the broker did.
"""

from __future__ import annotations

import asyncio
import struct

_CONNECT, _CONNACK, _PUBLISH, _DISCONNECT = 0x10, 0x20, 0x30, 0xE0
_CLEAN_SESSION = 0x02
_KEEPALIVE_S = 60


def _remaining_length(size: int) -> bytes:
    """MQTT's variable-length integer: 7 bits a byte, the high bit saying another byte follows."""
    encoded = bytearray()
    while True:
        size, digit = divmod(size, 128)
        encoded.append(digit | (0x80 if size else 0))
        if not size:
            return bytes(encoded)


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + _remaining_length(len(body)) + body


def publish_packet(topic: str, payload: bytes) -> bytes:
    return _packet(_PUBLISH, _string(topic) + payload)  # QoS 0: no packet identifier


class RawPublisher:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def connect(cls, host: str, port: int, client_id: str) -> RawPublisher:
        reader, writer = await asyncio.open_connection(host, port)
        variable_header = _string("MQTT") + bytes([4, _CLEAN_SESSION]) + struct.pack("!H", _KEEPALIVE_S)
        writer.write(_packet(_CONNECT, variable_header + _string(client_id)))
        async with asyncio.timeout(5):
            connack = await reader.readexactly(4)
        if connack[0] != _CONNACK or connack[3] != 0:
            writer.close()
            raise ConnectionError(f"broker refused the connection: CONNACK {connack.hex()}")
        return cls(reader, writer)

    def write(self, packets: bytes) -> None:
        self._writer.write(packets)

    async def close(self) -> None:
        self._writer.write(_packet(_DISCONNECT, b""))
        await self._writer.drain()
        self._writer.close()
        await self._writer.wait_closed()
