"""What a verified device message means (wire protocol §9, §10): the business rules of the device link.

The device link (server.devicelink.inbound) hands over only messages whose frame, time window, nonce,
payload hash, sequence and signature passed, and whose topic ids equal the envelope's. Here:

- every message: the signing variant it verified under is recorded (server.domain.link.variants:
  outbound messages are then built for that variant); `last_seen` moves (written at most every
  `touch_interval` seconds per device, so a chatty device does not turn into a database write per
  message) and Presence sees the device;
- `hello`: firmware version and the wire profile the message was verified with are recorded;
- `state`: the latest state is cached and a `state_update` event goes out on the EventBus (what
  /ws/state relays);
- `telemetry`: appended to a bounded per-device list in the cache (newest `telemetry_keep` entries,
  kept `telemetry_ttl` seconds after the last one) and a `telemetry` event with its data goes out;
- `ack`: the command's outcome goes to `record_ack` (the command acks), correlated on
  params.ref_message_id;
- `heartbeat`: `last_heartbeat` moves.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from server.cache.base import Cache
from server.domain.clock import epoch_ms
from server.domain.events import EventBus
from server.domain.fleet.presence import Presence
from server.domain.link.variants import LinkVariants
from server.domain.memo import DEVICE_KEYS, MemoHub
from server.storage.database import Database
from server.storage.fleet_tables import Device
from server.storage.types import utc_now

log = logging.getLogger(__name__)

_FIRMWARE_MAX = 64  # the fleet table's column width

# A verified cmd_ack: (device_id, ref_message_id, ok, error text or None). Must ignore an ack for an
# unknown command rather than raise.
RecordAck = Callable[[str, str, bool, str | None], Awaitable[None]]


@dataclass(frozen=True)
class DeviceMessage:
    device_id: str
    tenant_id: str
    message_type: str
    params: dict[str, Any]
    profile: str  # the wire profile the signature verified under
    timestamp_ms: int  # the device's own timestamp (already inside the time window)
    variant: str = ""  # the ext signing variant the signature verified under ("" = not known)


def state_key(device_id: str) -> str:
    return f"hxtp:state:{device_id}"


def telemetry_key(device_id: str) -> str:
    return f"hxtp:telemetry:{device_id}"


class DeviceMessages:
    def __init__(
        self,
        database: Database,
        cache: Cache,
        presence: Presence,
        events: EventBus,
        record_ack: RecordAck,
        *,
        telemetry_keep: int = 100,
        telemetry_ttl: float = 86400.0,
        touch_interval: float = 30.0,
        variants: LinkVariants | None = None,
        memos: MemoHub | None = None,
    ) -> None:
        self._db = database
        self._memos = memos if memos is not None else MemoHub()
        self._cache = cache
        self._presence = presence
        self._events = events
        self._record_ack = record_ack
        self._telemetry_keep = telemetry_keep
        self._telemetry_ttl = telemetry_ttl
        self._touch_interval = touch_interval
        self._variants = variants if variants is not None else LinkVariants(database)
        self._touched: dict[str, float] = {}  # device -> monotonic time of the last last_seen write
        self._handlers: dict[str, Callable[[DeviceMessage], Awaitable[None]]] = {
            "hello": self._hello,
            "state": self._state,
            "telemetry": self._telemetry,
            "ack": self._ack,
            "heartbeat": self._heartbeat,
        }

    async def handle(self, message: DeviceMessage) -> None:
        self._presence.seen(message.device_id)
        if message.variant:
            await self._variants.learn(message.device_id, message.variant)
        handler = self._handlers.get(message.message_type)
        if handler is not None:
            await handler(message)
        else:
            await self._touch(message.device_id)

    async def latest_state(self, device_id: str) -> tuple[dict[str, Any], int] | None:
        """(state, updated_at epoch ms) last reported by the device, None when it reported none."""
        raw = await self._cache.get(state_key(device_id))
        if raw is None:
            return None
        record = json.loads(raw)
        return record["state"], record["updated_at"]

    async def telemetry(
        self, device_id: str, limit: int | None = None, since_ms: int | None = None
    ) -> list[dict[str, Any]]:
        """Kept samples, newest first: `{"data", "timestamp" (the device's), "received_at"}`; at most
        `limit`, only those received after `since_ms` (epoch ms)."""
        raw = await self._cache.get(telemetry_key(device_id))
        samples = [] if raw is None else list(reversed(json.loads(raw)))
        if since_ms is not None:
            samples = [s for s in samples if s["received_at"] > since_ms]
        return samples if limit is None else samples[:limit]

    # -- per message type --------------------------------------------------------------------

    async def _hello(self, message: DeviceMessage) -> None:
        firmware = message.params.get("firmware_version")
        await self._update(
            message.device_id,
            firmware=firmware[:_FIRMWARE_MAX] if isinstance(firmware, str) and firmware else None,
            protocol=message.profile,
        )

    async def _state(self, message: DeviceMessage) -> None:
        now = epoch_ms()
        record = {"state": message.params, "updated_at": now}
        await self._cache.set(state_key(message.device_id), json.dumps(record).encode())
        await self._events.publish_state_update(message.tenant_id, message.device_id, message.params, now)
        await self._touch(message.device_id)

    async def _telemetry(self, message: DeviceMessage) -> None:
        now = epoch_ms()
        entry = {"data": message.params, "timestamp": message.timestamp_ms, "received_at": now}
        # Read-modify-write: two replicas appending at the same instant may drop one sample, which
        # telemetry tolerates; what must hold is the bound on what is kept.
        raw = await self._cache.get(telemetry_key(message.device_id))
        kept = [] if raw is None else list(json.loads(raw))
        kept = [*kept[max(0, len(kept) - self._telemetry_keep + 1) :], entry]
        await self._cache.set(
            telemetry_key(message.device_id), json.dumps(kept).encode(), self._telemetry_ttl
        )
        await self._events.publish_telemetry(message.tenant_id, message.device_id, message.params, now)
        await self._touch(message.device_id)

    async def _ack(self, message: DeviceMessage) -> None:
        ref = message.params.get("ref_message_id")
        status = message.params.get("ack_status")
        error = message.params.get("error")
        if isinstance(ref, str) and ref:
            await self._record_ack(
                message.device_id, ref, status == "executed", error if isinstance(error, str) else None
            )
        else:
            log.info("ack from device %s names no ref_message_id; ignored", message.device_id)
        await self._touch(message.device_id)

    async def _heartbeat(self, message: DeviceMessage) -> None:
        now = utc_now()
        await self._update(message.device_id, last_heartbeat=now)

    # -- storage -----------------------------------------------------------------------------

    async def _touch(self, device_id: str) -> None:
        last = self._touched.get(device_id)
        if last is not None and time.monotonic() - last < self._touch_interval:
            return
        await self._update(device_id)

    async def _update(
        self,
        device_id: str,
        *,
        firmware: str | None = None,
        protocol: str | None = None,
        last_heartbeat: datetime | None = None,
    ) -> None:
        now = utc_now()
        async with self._db.session() as session:
            device = await session.get(Device, device_id)
            if device is None:
                return
            device.last_seen = now
            if firmware is not None:
                device.firmware = firmware
            protocol_changed = protocol is not None and protocol != device.protocol
            if protocol is not None and protocol_changed:
                device.protocol = protocol
            if last_heartbeat is not None:
                device.last_heartbeat = last_heartbeat
            session.add(device)
            await session.commit()
        self._touched[device_id] = time.monotonic()
        if protocol_changed:  # the outbound side signs by the device's protocol: rare, so told at once
            await self._memos.forget((DEVICE_KEYS, device_id))
