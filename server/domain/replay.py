"""Nonces seen across replicas: the shared half of the device link's replay protection.

Each replica's pipeline keeps an in-process nonce cache (ext.NonceCache, the fast first filter), but
with a shared subscription the broker hands a device's messages to any replica, so a replay sent to
another replica would pass that one's cache. The one-time claim in the shared cache (Redis when
configured) closes that: within the nonce TTL the second claim fails everywhere; after it, the time
window (30 s by default) refuses the message anyway.
"""

from __future__ import annotations

from server.cache.base import Cache


class ReplayGuard:
    def __init__(self, cache: Cache, ttl_s: float = 60.0) -> None:
        self._cache = cache
        self._ttl = ttl_s

    async def first_use(self, device_id: str, nonce: str) -> bool:
        return await self._cache.set_if_absent(f"hxtp:nonce:{device_id}:{nonce}", b"1", self._ttl)
