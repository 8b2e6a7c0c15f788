"""Which devices are live: the broker's view of the connection where the broker tells it, valid
traffic otherwise.

The public firmware's heartbeats never reach the wire (wire protocol §9.6) and a device may report
only on change, so traffic alone makes idle devices flap offline. Where the broker reports
connections (the embedded broker's connect and disconnect, EMQX's client event topics) a device is
online exactly while it is connected. The broker auth endpoints' connect calls, and any verified
message, count as a sign of life within the presence window, for brokers that tell nothing more
(Mosquitto with go-auth).

Across replicas: the broker's events reach every replica (EMQX's event topics are not shared), but a
device's traffic and its broker login reach one. So the device's `last_seen` column, which every
replica writes for the traffic it verifies (at most every 30 s per device), also counts within the
window, unless this replica saw the device's connection end after it.

A device's MQTT identity: its username (the firmware sends its device id when it has credentials),
else its client id, `hxtp-{device_id}` on the firmware (§2.1).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

FIRMWARE_CLIENT_PREFIX = "hxtp-"
_DEVICE_ID = re.compile(r"[0-9a-f]{32}")  # how registration writes device ids (server.domain.fleet.devices)


def device_of(client_id: str, username: str | None) -> str | None:
    """The device id an MQTT connection stands for; None for a client that is no device (the
    server's own connection, an SDK watcher with its own client id)."""
    candidate = username or client_id.removeprefix(FIRMWARE_CLIENT_PREFIX)
    return candidate if _DEVICE_ID.fullmatch(candidate) else None


class Presence:
    def __init__(self, window_seconds: float = 90.0) -> None:
        self._window = window_seconds
        self._last_seen: dict[str, float] = {}
        # Open connections the broker reports per device: a reconnect may be reported before the end
        # of the connection it replaces.
        self._connected: dict[str, int] = {}
        self._gone: dict[str, datetime] = {}  # when the broker last reported a device's connection end

    def seen(self, device_id: str, at: float | None = None) -> None:
        self._last_seen[device_id] = time.monotonic() if at is None else at

    def connected(self, device_id: str) -> None:
        self._connected[device_id] = self._connected.get(device_id, 0) + 1
        self._gone.pop(device_id, None)

    def disconnected(self, device_id: str) -> None:
        """The broker saw a connection end: with none left, offline now, whatever its last traffic."""
        left = self._connected.pop(device_id, 0) - 1
        if left > 0:
            self._connected[device_id] = left
        else:
            self._last_seen.pop(device_id, None)
            self._gone[device_id] = datetime.now(UTC)

    def is_active(self, device_id: str, last_seen: datetime | None = None) -> bool:
        """`last_seen`: the device's stored last-seen time (any replica's view of its traffic)."""
        if device_id in self._connected:
            return True
        last = self._last_seen.get(device_id)
        if last is not None and time.monotonic() - last <= self._window:
            return True
        if last_seen is None or datetime.now(UTC) - last_seen > timedelta(seconds=self._window):
            return False
        gone = self._gone.get(device_id)
        return gone is None or last_seen > gone

    def active_count(self) -> int:
        cutoff = time.monotonic() - self._window
        stale = [d for d, t in self._last_seen.items() if t < cutoff]
        for device_id in stale:  # forget the long gone so the map stays bounded by live devices
            del self._last_seen[device_id]
        return len(self._connected.keys() | self._last_seen.keys())
