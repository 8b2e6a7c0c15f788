"""What a device's verified `cmd_ack` means: the one owner of command outcomes.

The device link hands every verified ack to `record_ack`, correlated on the ack's ref_message_id:
the command with that message id moves to acked / failed (with the device's error text) and the new
status goes out on the tenant's live event stream. The outcome also stays readable by message id
for a day (`get`), so a message sent outside the command table (a test, a future OTA push) can
still learn how the device answered. An ack for an unknown message id changes nothing.

Each outcome is kept under `hxtp:cmd_ack:<device_id>:<ref_message_id>` as JSON
`{"status": "acked"|"failed", "error": <text or null>, "at": <epoch ms>}`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from server.cache.base import Cache
from server.domain.clock import epoch_ms
from server.domain.commands.history import CommandLog
from server.domain.events import EventBus

OUTCOME_TTL_S = 86400.0


@dataclass(frozen=True)
class AckRecord:
    status: str  # acked | failed, the command statuses of the REST contract
    error: str | None
    at_ms: int


def _key(device_id: str, ref_message_id: str) -> str:
    return f"hxtp:cmd_ack:{device_id}:{ref_message_id}"


class CommandAcks:
    def __init__(self, log: CommandLog, events: EventBus, cache: Cache, ttl: float = OUTCOME_TTL_S) -> None:
        self._log = log
        self._events = events
        self._cache = cache
        self._ttl = ttl

    async def record_ack(self, device_id: str, ref_message_id: str, ok: bool, error: str | None) -> None:
        status = "acked" if ok else "failed"
        record = {"status": status, "error": error, "at": epoch_ms()}
        await self._cache.set(_key(device_id, ref_message_id), json.dumps(record).encode(), self._ttl)
        matched = await self._log.record_ack(device_id, ref_message_id, ok, error)
        if matched is not None:
            tenant_id, command_id = matched
            await self._events.publish_command_status(tenant_id, device_id, command_id, status, error)

    async def get(self, device_id: str, ref_message_id: str) -> AckRecord | None:
        raw = await self._cache.get(_key(device_id, ref_message_id))
        if raw is None:
            return None
        record = json.loads(raw)
        return AckRecord(record["status"], record["error"], record["at"])
