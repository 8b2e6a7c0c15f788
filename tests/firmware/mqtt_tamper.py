"""A loopback MQTT forwarder that can rewrite what the broker delivers to a device: the attacker "on
the broker" of the end-to-end tests. PUBLISH packets (broker -> device) go through `rewrite`, which
may change them or return several packets (a forged copy first, then the genuine one)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

Rewrite = Callable[[bytes], list[bytes]]


def _packets(buffer: bytearray) -> list[bytes]:
    """Complete MQTT packets taken off the front of buffer."""
    out = []
    while len(buffer) >= 2:
        length, multiplier, index = 0, 1, 1
        while True:
            if index >= len(buffer):
                return out
            byte = buffer[index]
            length += (byte & 0x7F) * multiplier
            multiplier *= 128
            index += 1
            if not byte & 0x80:
                break
        if len(buffer) < index + length:
            return out
        out.append(bytes(buffer[: index + length]))
        del buffer[: index + length]
    return out


class MqttTamper:
    def __init__(self, broker_host: str, broker_port: int, rewrite: Rewrite) -> None:
        self._target = (broker_host, broker_port)
        self._rewrite = rewrite
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        for coro in (self._pipe(reader, up_writer, False), self._pipe(up_reader, writer, True)):
            task = asyncio.ensure_future(coro)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, to_device: bool
    ) -> None:
        buffer = bytearray()
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                if not to_device:
                    writer.write(data)
                else:
                    buffer.extend(data)
                    for packet in _packets(buffer):
                        for out in self._rewrite(packet) if packet[0] >> 4 == 3 else [packet]:
                            writer.write(out)
                await writer.drain()
        writer.close()
