"""The one cache interface: key/value with TTLs, atomic counters and claims, and pub/sub.

Two implementations: ``MemoryCache`` (one process, the embedded default) and ``RedisCache`` (shared
by replicas). Values are bytes; callers own their encoding. TTLs are seconds (float) and must be
positive when given.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Protocol, runtime_checkable


@runtime_checkable
class Cache(Protocol):
    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""
        ...

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value``, replacing any previous value and TTL; ``ttl=None`` never expires."""
        ...

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Atomically store ``value`` only if ``key`` holds nothing; True when this call stored it.

        The building block for one-time claims (nonces, dry-run tokens): of many concurrent callers,
        across replicas when shared, exactly one gets True.
        """
        ...

    async def set_if_greater(self, key: str, value: int, ttl: float | None = None) -> bool:
        """Atomically store the non-negative integer ``value`` only if ``key`` holds nothing or a
        smaller integer; True when this call stored it (its TTL is then reset to ``ttl``).

        A compare-and-set for monotonic counters (a device's inbound sequence window): of callers
        racing with the same value, across replicas when shared, exactly one gets True.
        """
        ...

    async def mark_in_window(self, key: str, number: int, window: int, ttl: float | None = None) -> bool:
        """Atomically mark the non-negative integer ``number`` as seen in a sliding window of
        ``window`` numbers below the highest marked; True when this call marked it, False when it
        was marked before or lies at or below (highest - window). The TTL is reset on each mark.

        Replay protection that accepts numbers out of order (a shared subscription delivers a
        sender's messages to several replicas): of callers racing with one number, exactly one wins.
        """
        ...

    async def delete(self, key: str) -> bool:
        """Remove ``key``; True when it held a (live) value."""
        ...

    async def delete_if_equal(self, key: str, value: bytes) -> bool:
        """Atomically remove ``key`` only while it holds ``value``; True when this call removed it.

        The release of a claim made with ``set_if_absent``: a holder whose claim expired and was
        taken by another never removes the other's.
        """
        ...

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        """Atomically add ``amount`` and return the new value; a missing key counts from 0.

        ``ttl`` is applied only when this call creates the key, so a fixed window does not slide.
        Raises ValueError when the key holds something that is not an integer.
        """
        ...

    async def publish(self, channel: str, data: bytes) -> int:
        """Deliver ``data`` to every current subscriber of ``channel`` (at most once, no history);
        returns how many subscriptions received it."""
        ...

    def subscribe(self, channel: str) -> AsyncGenerator[bytes, None]:
        """Messages published to ``channel`` from when iteration starts, as an async generator.

        The subscription is made on the first ``__anext__``, not on this call. Cancelling the task that
        iterates, or ``aclose()``, unsubscribes at once; wrap it in ``contextlib.aclosing`` so that
        leaving an ``async for`` early does too (otherwise that waits for garbage collection).
        """
        ...

    # The timeout is a parameter, not the caller's asyncio.timeout: a health check must answer False
    # on time instead of raising, so it bounds itself.
    async def ping(self, timeout: float = 1.0) -> bool:  # noqa: ASYNC109
        """True when the cache answers within ``timeout`` seconds; never raises, never hangs."""
        ...

    async def close(self) -> None:
        """Release connections; subscribers' iterators end."""
        ...
