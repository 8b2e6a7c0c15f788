"""Ports the RPC chain uses to look resources up before it checks roles (contract §4.2 gate order).

The CLI's login probe `POST /devices/ping/command` must answer 404 for a device that is not in the
caller's tenant before any role check, validation or rate limit; methods flagged
`device_lookup_first` in the protos get that lookup in the chain. The fleet's device repository
satisfies `DeviceDirectory`; a chain built without one (the gateway's unit tests) gets `NoDevices`,
which finds nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from server.errors import Code, HxtpError


class DeviceDirectory(Protocol):
    async def device_in_tenant(self, tenant_id: str, device_id: str) -> bool:
        """True when the tenant has a device with this id (any id format; never raises for junk)."""
        ...


class NoDevices:
    async def device_in_tenant(self, tenant_id: str, device_id: str) -> bool:
        return False


class FoundBy:
    """Adapts a repository lookup `get(tenant_id, device_id)` that raises NOT_FOUND for a device the
    tenant does not have (the fleet's `Devices.get`): wire it as `Chain(..., devices=FoundBy(get))`."""

    def __init__(self, get: Callable[[str, str], Awaitable[object]]) -> None:
        self._get = get

    async def device_in_tenant(self, tenant_id: str, device_id: str) -> bool:
        try:
            await self._get(tenant_id, device_id)
        except HxtpError as error:
            if error.code == Code.NOT_FOUND:
                return False
            raise
        return True
