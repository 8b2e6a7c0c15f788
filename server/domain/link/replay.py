"""Replay state shared across replicas: nonces seen, and each sender's inbound sequence window.

Each replica's pipeline keeps in-process copies (ext.NonceCache, ext.SequenceWindow: the fast first
filters), but with a shared subscription the broker hands a device's messages to any replica, so a
replay sent to another replica would pass that one's copies. The shared cache (Redis when configured)
closes that:

- nonces: a one-time claim; within the nonce TTL the second claim fails everywhere; after it, the
  time window (30 s by default) refuses the message anyway.
- sequences, per (device, client_id): `last_sequence` seeds a replica's local window the first time it
  sees a sender (the check before the signature); `advance_sequence` is the atomic compare-and-set
  made only after the signature verified, so a forged message never moves the window, and of two
  replicas accepting the same number concurrently exactly one wins. The window expires
  `sequence_ttl_s` after its last advance: a sender quiet for that long is far outside the time
  window, and a device's client_id changes on every boot, so old windows must not pile up.
"""

from __future__ import annotations

from server.cache.base import Cache

SEQUENCE_TTL_S = 86400.0


def _sequence_key(device_id: str, client_id: str) -> str:
    return f"hxtp:seq:{device_id}:{client_id}"


class ReplayGuard:
    def __init__(self, cache: Cache, ttl_s: float = 60.0, sequence_ttl_s: float = SEQUENCE_TTL_S) -> None:
        self._cache = cache
        self._ttl = ttl_s
        self._sequence_ttl = sequence_ttl_s

    async def first_use(self, device_id: str, nonce: str) -> bool:
        return await self._cache.set_if_absent(f"hxtp:nonce:{device_id}:{nonce}", b"1", self._ttl)

    async def last_sequence(self, device_id: str, client_id: str) -> int | None:
        """The highest sequence any replica accepted from this sender, None when none (or expired)."""
        raw = await self._cache.get(_sequence_key(device_id, client_id))
        return None if raw is None else int(raw)

    async def advance_sequence(self, device_id: str, client_id: str, sequence: int) -> bool:
        """Record a verified message's sequence; False when some replica already accepted this
        number or a greater one (the message is then a replay or out of order)."""
        return await self._cache.set_if_greater(
            _sequence_key(device_id, client_id), sequence, self._sequence_ttl
        )
