"""Which devices are live: a device counts as active while it has sent valid traffic recently.

The public firmware sends no heartbeats, so any verified inbound message (or MQTT activity the
device link attributes to the device) counts as a sign of life.
"""

from __future__ import annotations

import time


class Presence:
    def __init__(self, window_seconds: float = 90.0) -> None:
        self._window = window_seconds
        self._last_seen: dict[str, float] = {}

    def seen(self, device_id: str, at: float | None = None) -> None:
        self._last_seen[device_id] = time.monotonic() if at is None else at

    def is_active(self, device_id: str) -> bool:
        last = self._last_seen.get(device_id)
        return last is not None and time.monotonic() - last <= self._window

    def active_count(self) -> int:
        cutoff = time.monotonic() - self._window
        stale = [d for d, t in self._last_seen.items() if t < cutoff]
        for device_id in stale:  # forget the long gone so the map stays bounded by live devices
            del self._last_seen[device_id]
        return len(self._last_seen)
