"""One turn per device, held around number + sign + publish: what makes sequence numbers reach the
wire in increasing order, however many commands to one device run at once, here or on other replicas.

Within a process a lock does it: publishing writes to the connection's socket (or, on the embedded
broker, onto its delivery queue) without waiting, so messages leave in the order their publishes
ran, and holding the device's lock from taking the number to that write makes that the order of the
numbers. Other devices never wait. A device's entry exists only while someone holds or waits for it.

Across replicas (a shared cache), the turn is also a claim in the cache (`set_if_absent`, released
with `delete_if_equal`), and the publish inside it waits for the broker's PUBACK: the broker then
holds this message before another replica can take the next number, so it reaches the device first.
The claim expires by itself (TURN_TTL_S) if its holder dies; waiting for it is bounded (TURN_WAIT_S,
then 503). What a single broker guarantees, this gives; an MQTT cluster that forwards between nodes
keeps order per publishing node only (docs/DEPLOY.md).
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from server.errors import Code, HxtpError

# Longer than a holder can take: number + sign + publish + the PUBACK, which the connection waits
# for up to 10 s. A holder that died blocks its device's commands for at most this long.
TURN_TTL_S = 15.0
TURN_WAIT_S = 5.0
_POLL_S = 0.002  # between tries while another replica holds the turn (jittered)


class Claims(Protocol):
    """What the turn needs of the shared cache (server.cache.base.Cache has both)."""

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool: ...

    async def delete_if_equal(self, key: str, value: bytes) -> bool: ...


class DeviceOrder:
    def __init__(self, shared: Claims | None = None) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # device -> (lock, holders + waiters)
        self._shared = shared

    @property
    def across_replicas(self) -> bool:
        """True when turns are shared with other replicas: publishes must then wait for the PUBACK."""
        return self._shared is not None

    @asynccontextmanager
    async def hold(self, device_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(device_id) or (asyncio.Lock(), 0)
        self._locks[device_id] = (lock, users + 1)
        try:
            async with lock:
                if self._shared is None:
                    yield
                else:
                    async with self._turn(self._shared, device_id):
                        yield
        finally:
            lock, users = self._locks[device_id]
            if users == 1:
                del self._locks[device_id]
            else:
                self._locks[device_id] = (lock, users - 1)

    @asynccontextmanager
    async def _turn(self, cache: Claims, device_id: str) -> AsyncIterator[None]:
        key, token = f"hxtp:wire_turn:{device_id}", secrets.token_bytes(12)
        if not await cache.set_if_absent(key, token, TURN_TTL_S):
            await self._wait_for_turn(cache, key, token)
        try:
            yield
        finally:
            await cache.delete_if_equal(key, token)

    @staticmethod
    async def _wait_for_turn(cache: Claims, key: str, token: bytes) -> None:
        """Another replica holds the device's turn: retry the claim until it is ours, at most
        TURN_WAIT_S (the first try, which usually succeeds, costs no timer)."""
        try:
            async with asyncio.timeout(TURN_WAIT_S):
                # The holder is another process: there is no event to wait on, only the claim to retry.
                while True:
                    await asyncio.sleep(_POLL_S * (0.5 + random.random()))
                    if await cache.set_if_absent(key, token, TURN_TTL_S):
                        return
        except TimeoutError:
            busy = "Another server is sending to this device; retry"
            raise HxtpError(Code.SERVICE_UNAVAILABLE, busy, retry_after_seconds=1) from None
