"""One lock per device, held around number + sign + publish: what makes sequence numbers reach the
wire in increasing order, however many commands to one device run at once.

Publishing writes to the connection's socket without waiting, so messages leave in the order their
publishes ran; holding the device's lock from taking the number to that write makes that the order
of the numbers. Other devices never wait. A device's entry exists only while someone holds or waits
for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class DeviceOrder:
    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # device -> (lock, holders + waiters)

    @asynccontextmanager
    async def hold(self, device_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(device_id) or (asyncio.Lock(), 0)
        self._locks[device_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[device_id]
            if users == 1:
                del self._locks[device_id]
            else:
                self._locks[device_id] = (lock, users - 1)
