"""Inbound MQTT messages between the socket reader and the dispatcher, with flow control.

Devices can burst far faster than the server handles their messages. Dropping what does not fit
loses ``cmd_ack`` frames, so a command the server answered would never learn its outcome; instead,
at a high-water mark (``HIGH_WATER`` messages or ``HIGH_WATER_BYTES`` of topics and payloads,
whichever comes first) the inbox tells the reader to stop reading the broker socket
(``wait_readable`` blocks). The kernel's socket buffers then fill, TCP's window closes, and the
broker holds the rest until the inbox is down to half of both marks. The gap between pausing and
resuming keeps a sustained overload from switching the reader on and off with every message.

The inbox itself is the big buffer, because the broker's is small: for a client that does not read,
Mosquitto keeps what fits in its socket buffer plus ``max_queued_messages`` (1,000) packets at QoS 0,
and ``max_inflight_messages`` plus ``max_queued_messages`` at QoS 1; past that it drops, and says so
only in its own log. A burst must therefore fit in the inbox plus that much; pausing bounds the
server's memory when an overload lasts, it does not make the server any faster.

The reader stops only between socket reads, so the messages of the read in progress still come in:
the inbox runs past its mark by at most one read. The hard cap is far above what that can add and
drops only when something delivers without waiting; that last resort is counted in
``hxtp_mqtt_inbox_dropped``. An overload is logged once when it begins and once when the inbox has
emptied, never per message: a flood would otherwise cost more in logging than in the messages.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from prometheus_client import Counter

log = logging.getLogger(__name__)

# 50,000 device frames of ~700 bytes (topic and payload) are ~35 MB with Python's per-object cost;
# the byte mark bounds the memory when frames are larger (they may be up to 16 KiB).
HIGH_WATER = 50_000
HIGH_WATER_BYTES = 32 * 1024 * 1024
# One 64 KiB socket read (gmqtt's read size) holds at most ~13,000 PUBLISH packets of 5 bytes, the
# smallest there are: the hard cap leaves room for that on top of the high-water mark.
_ONE_READ_AT_MOST = 20_000

INBOX_DROPPED = Counter(
    "hxtp_mqtt_inbox_dropped", "Inbound MQTT messages dropped because the server fell behind"
)

Message = tuple[str, bytes]


class Inbox:
    def __init__(
        self,
        high_water: int = HIGH_WATER,
        high_water_bytes: int = HIGH_WATER_BYTES,
        *,
        hard_cap: int | None = None,
    ) -> None:
        self._high_water = high_water
        self._low_water = high_water // 2
        self._high_water_bytes = high_water_bytes
        self._low_water_bytes = high_water_bytes // 2
        self._hard_cap = high_water + _ONE_READ_AT_MOST if hard_cap is None else hard_cap
        if not 0 < high_water <= self._hard_cap or high_water_bytes <= 0:
            raise ValueError("expected 0 < high_water <= hard_cap and high_water_bytes > 0")
        self._messages: deque[Message] = deque()
        self._bytes = 0  # of the topics and payloads queued
        self._arrived = asyncio.Event()  # set while there are messages
        self._readable = asyncio.Event()  # set while the reader may read the socket
        self._readable.set()
        self._overload_began: float | None = None  # monotonic time the current overload began
        self._pauses = 0  # in the current overload
        self._dropped = 0  # in the current overload

    def __len__(self) -> int:
        return len(self._messages)

    @property
    def readable(self) -> bool:
        return self._readable.is_set()

    def put(self, topic: str, payload: bytes) -> None:
        """Queue one message; called by the reader for every message it parses, never blocks."""
        if len(self._messages) >= self._hard_cap:
            self._drop()
            return
        self._messages.append((topic, payload))
        self._bytes += len(topic) + len(payload)
        self._arrived.set()
        if self._readable.is_set() and (
            len(self._messages) >= self._high_water or self._bytes >= self._high_water_bytes
        ):
            self._readable.clear()
            self._pauses += 1
            if self._overload_began is None:
                self._overload_began = time.monotonic()
                log.warning(
                    "MQTT inbox at %d messages (%d bytes): reading from the broker paused until it drains",
                    len(self._messages),
                    self._bytes,
                )

    def pop(self) -> Message | None:
        """The oldest message, or None when the inbox is empty."""
        if not self._messages:
            self._arrived.clear()
            self._end_overload()
            return None
        message = self._messages.popleft()
        self._bytes -= len(message[0]) + len(message[1])
        if (
            not self._readable.is_set()
            and len(self._messages) <= self._low_water
            and self._bytes <= self._low_water_bytes
        ):
            self._readable.set()
        return message

    async def wait_arrived(self) -> None:
        await self._arrived.wait()

    async def wait_readable(self) -> None:
        await self._readable.wait()

    def clear(self) -> None:
        self._messages.clear()
        self._bytes = 0
        self._arrived.clear()
        self._readable.set()
        self._end_overload()

    def _drop(self) -> None:
        INBOX_DROPPED.inc()
        if self._dropped == 0:
            log.error(
                "MQTT inbox full (%d messages): dropping inbound messages until it drains", self._hard_cap
            )
            if self._overload_began is None:
                self._overload_began = time.monotonic()
        self._dropped += 1

    def _end_overload(self) -> None:
        if self._overload_began is None:
            return
        seconds = time.monotonic() - self._overload_began
        if self._dropped:
            log.warning("MQTT inbox drained; %d inbound message(s) were dropped", self._dropped)
        log.info(
            "MQTT inbox drained after %.1f s of overload (reading paused %d time(s))", seconds, self._pauses
        )
        self._overload_began = None
        self._pauses = 0
        self._dropped = 0
