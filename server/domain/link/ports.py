"""Ports between the device link and the rest of the server, and who implements them.

The device link (server.devicelink) and the device-link business rules (device_messages, bootstrap,
broker_access) depend only on these Protocols:

- `LinkDirectory`: who a device is and which keys verify it. Implemented by the fleet module's
  `server.domain.link.keys.DeviceKeys` (issue 4); nothing here reads the fleet's key tables.
- `CommandOutcomes`: what a device's `cmd_ack` means for the command it answers. The command engine
  (issue 6) implements it over its command table; `server.domain.link.outcomes.CachedOutcomes` is the
  default until then, and the tests' implementation.
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
        """Raw 32-byte secrets, current first, then those still in their rotation grace period;
        empty for an unknown or revoked device."""
        ...


class CommandOutcomes(Protocol):
    async def record_ack(self, device_id: str, ref_message_id: str, ok: bool, error: str | None) -> None:
        """A verified `cmd_ack` from `device_id` for the command whose message_id is `ref_message_id`:
        ok=True for `ack_status:"executed"`, else failed with the device's error text (may be None).
        Called once per accepted ack; an ack for an unknown command must be ignored, not raised."""
        ...
