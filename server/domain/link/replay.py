"""Replay state shared across replicas: nonces seen, and each sender's inbound sequence window.

With a shared subscription the broker hands a device's messages to any replica, in whatever order
they arrive there, so no replica's own view decides. The shared cache (Redis when configured) does:

- nonces: the replay authority. A one-time claim per device; within the nonce TTL the second claim
  fails everywhere; after it, the time window (30 s by default) refuses the message anyway.
- sequences, per (device, client_id): a sliding window of `SEQUENCE_WINDOW` numbers below the
  highest accepted, marked in one atomic cache operation after the signature verified (so a forged
  message never marks anything). A number is accepted once, in any order, unless it lies a whole
  window below the highest: of two replicas accepting one number, exactly one wins; two numbers
  sent back to back are both accepted whichever replica sees the later one first. The window
  expires `sequence_ttl_s` after its last mark: a sender quiet for that long is far outside the
  time window, and a device's client_id changes on every boot, so old windows must not pile up.
"""

from __future__ import annotations

from server.cache.base import Cache

SEQUENCE_TTL_S = 86400.0
SEQUENCE_WINDOW = 128  # numbers below the highest still accepted once (delivery reordering)


def _sequence_key(device_id: str, client_id: str) -> str:
    return f"hxtp:seqwin:{device_id}:{client_id}"


class ReplayGuard:
    def __init__(
        self,
        cache: Cache,
        ttl_s: float = 60.0,
        sequence_ttl_s: float = SEQUENCE_TTL_S,
        sequence_window: int = SEQUENCE_WINDOW,
    ) -> None:
        self._cache = cache
        self._ttl = ttl_s
        self._sequence_ttl = sequence_ttl_s
        self._window = sequence_window

    async def first_use(self, device_id: str, nonce: str) -> bool:
        return await self._cache.set_if_absent(f"hxtp:nonce:{device_id}:{nonce}", b"1", self._ttl)

    async def accept_sequence(self, device_id: str, client_id: str, sequence: int) -> bool:
        """Record a verified message's sequence; False when it was accepted before (on any replica)
        or lies a whole window below the highest accepted from this sender."""
        return await self._cache.mark_in_window(
            _sequence_key(device_id, client_id), sequence, self._window, self._sequence_ttl
        )
