"""In-process cache: the embedded default when no Redis is configured.

Single event loop, no awaits inside an operation, so every method is atomic without locks. Expiry
uses the monotonic clock (immune to wall-clock jumps). Expired entries are dropped when read and,
via a min-heap of deadlines, swept on every write, so keys nobody reads again do not pile up.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import time
from collections import defaultdict
from collections.abc import AsyncGenerator
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Messages a subscriber may fall behind by before its oldest ones are dropped.
DEFAULT_SUBSCRIBER_BACKLOG = 1000


@dataclass(slots=True)
class _Entry:
    value: bytes
    expires_at: float  # monotonic seconds; math.inf = never


@dataclass
class _Window:
    """One sender's sliding window of accepted sequence numbers (see Cache.mark_in_window)."""

    slots: list[int | None]
    top: int | None = None
    expires_at: float = math.inf


_WINDOWS_SWEEP_AT = 10_000


def _deadline(ttl: float | None) -> float:
    if ttl is None:
        return math.inf
    if ttl <= 0:
        raise ValueError(f"ttl must be positive, got {ttl}")
    return time.monotonic() + ttl


class _Subscriber:
    """A bounded mailbox that drops its oldest message instead of blocking the publisher."""

    def __init__(self, channel: str, backlog: int) -> None:
        self.channel = channel
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=backlog)
        self.dropped = 0

    def deliver(self, data: bytes) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("slow subscriber on %r: %d message(s) dropped so far", self.channel, self.dropped)
        self.queue.put_nowait(data)

    def end(self) -> None:
        """Queue the end-of-stream marker, making room for it if the mailbox is full."""
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


class MemoryCache:
    def __init__(self, subscriber_backlog: int = DEFAULT_SUBSCRIBER_BACKLOG) -> None:
        if subscriber_backlog < 1:
            raise ValueError("subscriber_backlog must be at least 1")
        self._entries: dict[str, _Entry] = {}
        self._windows: dict[str, _Window] = {}  # mark_in_window state, by key
        self._deadlines: list[tuple[float, str]] = []  # heap; may hold stale pairs, checked on pop
        self._subscribers: defaultdict[str, set[_Subscriber]] = defaultdict(set)
        self._subscriber_backlog = subscriber_backlog
        self._closed = False

    # -- key/value --------------------------------------------------------------------------

    def _live(self, key: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= time.monotonic():
            del self._entries[key]
            return None
        return entry

    def _store(self, key: str, value: bytes, expires_at: float) -> None:
        self._sweep_expired()
        self._entries[key] = _Entry(bytes(value), expires_at)
        if expires_at != math.inf:
            heapq.heappush(self._deadlines, (expires_at, key))

    def _sweep_expired(self) -> None:
        now = time.monotonic()
        while self._deadlines and self._deadlines[0][0] <= now:
            expires_at, key = heapq.heappop(self._deadlines)
            entry = self._entries.get(key)
            # The key may have been rewritten with another deadline since this pair was pushed.
            if entry is not None and entry.expires_at == expires_at:
                del self._entries[key]

    async def get(self, key: str) -> bytes | None:
        entry = self._live(key)
        return None if entry is None else entry.value

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._store(key, value, _deadline(ttl))

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        expires_at = _deadline(ttl)
        if self._live(key) is not None:
            return False
        self._store(key, value, expires_at)
        return True

    async def set_if_greater(self, key: str, value: int, ttl: float | None = None) -> bool:
        if value < 0:
            raise ValueError(f"value must not be negative, got {value}")
        expires_at = _deadline(ttl)
        entry = self._live(key)
        if entry is not None and int(entry.value) >= value:
            return False
        self._store(key, str(value).encode(), expires_at)
        return True

    async def mark_in_window(self, key: str, number: int, window: int, ttl: float | None = None) -> bool:
        if number < 0 or window < 1:
            raise ValueError(f"number must not be negative and window positive, got {number}, {window}")
        now = time.monotonic()
        held = self._windows.get(key)
        if held is None or held.expires_at <= now or len(held.slots) != window:
            if len(self._windows) > _WINDOWS_SWEEP_AT:  # senders come and go (a new client id per boot)
                self._windows = {k: w for k, w in self._windows.items() if w.expires_at > now}
            held = self._windows[key] = _Window([None] * window)
        # Kept as Python objects, not encoded bytes: this runs once per verified device message.
        slot = number % window
        if held.top is not None and (number <= held.top - window or held.slots[slot] == number):
            return False
        held.slots[slot] = number
        held.top = number if held.top is None else max(held.top, number)
        held.expires_at = _deadline(ttl)
        return True

    async def delete(self, key: str) -> bool:
        existed = self._live(key) is not None or self._windows.pop(key, None) is not None
        self._entries.pop(key, None)
        return existed

    async def delete_if_equal(self, key: str, value: bytes) -> bool:
        entry = self._live(key)
        if entry is None or entry.value != value:
            return False
        del self._entries[key]
        return True

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        expires_at = _deadline(ttl)
        entry = self._live(key)
        if entry is None:
            self._store(key, str(amount).encode(), expires_at)
            return amount
        try:
            current = int(entry.value)
        except ValueError:
            raise ValueError(f"value of {key!r} is not an integer") from None
        entry.value = str(current + amount).encode()
        return current + amount

    # -- pub/sub ----------------------------------------------------------------------------

    async def publish(self, channel: str, data: bytes) -> int:
        subscribers = tuple(self._subscribers.get(channel, ()))
        for subscriber in subscribers:
            subscriber.deliver(bytes(data))
        return len(subscribers)

    async def subscribe(self, channel: str) -> AsyncGenerator[bytes, None]:
        if self._closed:
            return
        subscriber = _Subscriber(channel, self._subscriber_backlog)
        self._subscribers[channel].add(subscriber)
        try:
            while True:
                data = await subscriber.queue.get()
                if data is None:  # end marker from close()
                    return
                yield data
        finally:
            subscribers = self._subscribers.get(channel)
            if subscribers is not None:
                subscribers.discard(subscriber)
                if not subscribers:
                    del self._subscribers[channel]

    # -- lifecycle --------------------------------------------------------------------------

    # The timeout is a parameter, not the caller's asyncio.timeout: a health check must answer False
    # on time instead of raising, so it bounds itself.
    async def ping(self, timeout: float = 1.0) -> bool:  # noqa: ASYNC109
        return not self._closed

    async def close(self) -> None:
        self._closed = True
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                subscriber.end()
        self._subscribers.clear()
        self._entries.clear()
        self._deadlines.clear()
