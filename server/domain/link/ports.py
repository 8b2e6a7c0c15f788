"""Ports between the device link and the rest of the server, and who implements them.

The device link (server.devicelink) and the device-link business rules (messages, bootstrap,
broker_access) depend only on these Protocols:

- `LinkDirectory`: who a device is and which keys verify it. Implemented by
  `server.domain.link.keys.DeviceKeys`; nothing here reads the fleet's key tables.

What a verified `cmd_ack` means is `server.domain.commands.acks.CommandAcks.record_ack`, handed to
the device messages as a callable.
"""

from __future__ import annotations

from typing import Protocol


class LinkDevice(Protocol):
    """The device facts the link needs (DeviceKeys' DeviceProfile has exactly these)."""

    @property
    def device_id(self) -> str: ...

    @property
    def tenant_id(self) -> str: ...

    @property
    def protocol(self) -> str: ...

    @property
    def public_key(self) -> bytes | None: ...

    @property
    def revoked(self) -> bool: ...


class LinkDirectory(Protocol):
    async def profile(self, device_id: str) -> LinkDevice | None:
        """The device, or None when unknown."""
        ...

    async def active_and_previous(self, device_id: str) -> list[bytes]:
        """Raw 32-byte secrets: the one the device holds first (commands are signed with it), then a
        rotated-in one not yet seen in use, then those in their rotation grace period; empty for an
        unknown or revoked device."""
        ...

    async def adopt(self, device_id: str, secret: bytes) -> bool:
        """A device message verified under `secret`, which is not the first of active_and_previous:
        True when it was a rotated-in secret, which is then the device's (and the signing) key."""
        ...
