"""Intents: high-level requests routed through the same command gates as REST commands.

Forms: `device.control` (payload `device_id` or `device_ids`), `room.control` (`room_id`, optional
`capability`), `group.control` (`group`: slug or id, optional `capability`). A cloud server always
reports mode CLOUD_ENHANCED; status is SUCCESS when every command was dispatched, PARTIAL when some were,
REJECTED when none was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from server.domain.commands.fanout import DeviceResult, FanOut
from server.errors import Code, HxtpError

MODE = "CLOUD_ENHANCED"


@dataclass(frozen=True)
class Intent:
    type: str
    action: str
    params: dict[str, Any] = field(default_factory=dict)
    device_ids: tuple[str, ...] = ()
    room_id: str = ""
    group: str = ""
    capability: str | None = None


@dataclass(frozen=True)
class IntentOutcome:
    status: str
    results: list[DeviceResult]

    @property
    def executed(self) -> int:
        return sum(1 for r in self.results if r.success)

    @property
    def rejected(self) -> int:
        return len(self.results) - self.executed


def _status(results: list[DeviceResult]) -> str:
    executed = sum(1 for r in results if r.success)
    if results and executed == len(results):
        return "SUCCESS"
    return "PARTIAL" if executed else "REJECTED"


class Intents:
    def __init__(self, fanout: FanOut) -> None:
        self._fanout = fanout

    async def route(self, tenant_id: str, user_id: str, intent: Intent) -> IntentOutcome:
        if not intent.action:
            raise HxtpError(Code.BAD_REQUEST, "payload.action is required", field="payload.action")
        if intent.type == "device.control":
            if not intent.device_ids:
                raise HxtpError(Code.BAD_REQUEST, "payload.device_id is required", field="payload.device_id")
            results = await self._fanout.to_devices(
                tenant_id, user_id, intent.device_ids, intent.action, intent.params
            )
        elif intent.type == "room.control":
            if not intent.room_id:
                raise HxtpError(Code.BAD_REQUEST, "payload.room_id is required", field="payload.room_id")
            results = await self._fanout.to_room(
                tenant_id, user_id, intent.room_id, intent.action, intent.params, intent.capability
            )
        elif intent.type == "group.control":
            if not intent.group:
                raise HxtpError(Code.BAD_REQUEST, "payload.group is required", field="payload.group")
            results = await self._fanout.to_group(
                tenant_id, user_id, intent.group, intent.action, intent.params, intent.capability
            )
        else:
            raise HxtpError(
                Code.BAD_REQUEST,
                f"unknown intent type {intent.type!r}; use device.control, room.control or group.control",
                field="type",
            )
        return IntentOutcome(_status(results), results)
