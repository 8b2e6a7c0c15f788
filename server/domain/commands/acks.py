"""The device link's `CommandOutcomes` port, implemented for commands: a verified ack moves the
command's status (acked / failed with the device's error) and is announced on the tenant's live
event stream. The outcome also stays readable by message id (CachedOutcomes) for whoever sent a
message outside the command table."""

from __future__ import annotations

from server.domain.commands.history import CommandLog
from server.domain.commands.ports import EventBus
from server.domain.link.outcomes import AckRecord, CachedOutcomes


class CommandAcks:
    def __init__(self, log: CommandLog, events: EventBus, by_message: CachedOutcomes) -> None:
        self._log = log
        self._events = events
        self._by_message = by_message

    async def record_ack(self, device_id: str, ref_message_id: str, ok: bool, error: str | None) -> None:
        await self._by_message.record_ack(device_id, ref_message_id, ok, error)
        matched = await self._log.record_ack(device_id, ref_message_id, ok, error)
        if matched is not None:
            tenant_id, command_id = matched
            status = "acked" if ok else "failed"
            await self._events.publish_command_status(tenant_id, device_id, command_id, status, error)

    async def get(self, device_id: str, ref_message_id: str) -> AckRecord | None:
        return await self._by_message.get(device_id, ref_message_id)
