"""A short-lived per-process memo for hot read paths (the command path reads the same device,
manifest, keys and user on every call).

Why a TTL and not only invalidation: another replica's write cannot reach this process's memo, so
every entry expires after `ttl` seconds; that bounds how stale a value read from here can be (a
revocation on another replica takes effect here within `ttl`). Writes made through this process
forget their keys at once. Failures (e.g. NOT_FOUND) are never memoised.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

DEFAULT_TTL_SECONDS = 1.0


class TtlMemo(Generic[K, V]):
    def __init__(self, ttl: float = DEFAULT_TTL_SECONDS, max_entries: int = 10_000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        entry = self._entries.get(key)
        now = time.monotonic()
        if entry is not None and entry[0] > now:
            return entry[1]
        value = await load()
        self._entries[key] = (now + self._ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return value

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()
