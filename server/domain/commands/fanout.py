"""One command to many devices (batch, room, group): every device passes the same gates on its own,
and one device failing never stops the others. No dry runs here: a critical action yields a
per-device DRY_RUN_REQUIRED error."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from server.domain.catalog.capabilities import category_for_type
from server.domain.commands.gates import CommandGates, CommandRequest, Dispatched
from server.domain.fleet.devices import MAX_PAGE, Devices
from server.domain.fleet.groups import Groups
from server.errors import Code, HxtpError

# Commands to different devices run concurrently, but not all at once against the database.
_CONCURRENCY = 16


@dataclass(frozen=True)
class DeviceResult:
    device_id: str
    success: bool
    command_id: str | None = None
    message_id: str | None = None
    error: str | None = None


def _error_text(error: HxtpError) -> str:
    return error.spec.name if error.spec.code_is_error else (error.reason or error.spec.message)


def _has_capability(device_type: str, capability: str | None) -> bool:
    return not capability or capability in (device_type, category_for_type(device_type))


class FanOut:
    def __init__(self, gates: CommandGates, devices: Devices, groups: Groups, max_devices: int) -> None:
        self._gates = gates
        self._devices = devices
        self._groups = groups
        self._max = max_devices

    async def to_devices(
        self, tenant_id: str, user_id: str, device_ids: Sequence[str], action: str, params: dict[str, Any]
    ) -> list[DeviceResult]:
        targets = list(dict.fromkeys(device_ids))  # once each, in the order given
        if not targets:
            raise HxtpError(Code.BAD_REQUEST, "device_ids must name at least one device", field="device_ids")
        if len(targets) > self._max:
            raise HxtpError(Code.FANOUT_TOO_LARGE, f"{len(targets)} devices; at most {self._max} per command")
        limit = asyncio.Semaphore(_CONCURRENCY)

        async def one(device_id: str) -> DeviceResult:
            async with limit:
                request = CommandRequest(tenant_id, user_id, device_id, action, params)
                try:
                    outcome = await self._gates.execute(request, confirmable=False)
                except HxtpError as error:
                    return DeviceResult(device_id, False, error=_error_text(error))
                assert isinstance(outcome, Dispatched)  # not a dry run: confirmable=False never issues one
                return DeviceResult(device_id, True, outcome.command_id, outcome.message_id)

        return list(await asyncio.gather(*(one(d) for d in targets)))

    async def to_room(
        self,
        tenant_id: str,
        user_id: str,
        room_id: str,
        action: str,
        params: dict[str, Any],
        capability: str | None,
    ) -> list[DeviceResult]:
        devices, _ = await self._devices.page(tenant_id, None, room_id, MAX_PAGE, 0)
        chosen = [d.id for d in devices if _has_capability(d.device_type, capability)]
        return await self._all_or_empty(tenant_id, user_id, chosen, action, params)

    async def to_group(
        self,
        tenant_id: str,
        user_id: str,
        slug_or_id: str,
        action: str,
        params: dict[str, Any],
        capability: str | None = None,
    ) -> list[DeviceResult]:
        group = await self._groups.get(tenant_id, slug_or_id)  # 404 for another tenant's group
        chosen = list(group.device_ids)
        if capability:
            # The same choice as a room's: a group may mix lights and locks, and "capability"
            # narrows the command to the devices that have it instead of failing on the others.
            views = [await self._devices.get(tenant_id, device_id) for device_id in chosen]
            chosen = [v.id for v in views if _has_capability(v.device_type, capability)]
        return await self._all_or_empty(tenant_id, user_id, chosen, action, params)

    async def _all_or_empty(
        self, tenant_id: str, user_id: str, device_ids: Sequence[str], action: str, params: dict[str, Any]
    ) -> list[DeviceResult]:
        if not device_ids:
            return []  # an empty room or group is not an error: there is simply nothing to command
        return await self.to_devices(tenant_id, user_id, device_ids, action, params)
