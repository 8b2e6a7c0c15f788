"""Staged OTA rollouts of a firmware release, and the device side of the image download.

`start` targets devices by id, a group, or a percentage of a device type (chosen deterministically:
the devices ordered by sha256(firmware id + device id), the first ceil(n * percent / 100)), splits
them into stages (cumulative percentages, e.g. [50, 100]) and sends the first stage a signed `ota`
message: {firmware_id, rollout_id, version, url, sha256, signature, size}, where the signature is
the release's Ed25519 signature over the image digest and the URL is `GET /firmware/{id}/image`.
Each device's message is also a command row (action `ota`), so it shows in the device's history.

Devices report `ota_status` (downloading, verified, applied, failed with a reason). Every report
moves the device's row, is announced on /ws/state as an `ota_status` event (status, error = the
reason, command_id = its command) and, when final, settles its command (acked / failed). Once every
device of the current stage is final: more than `failure_threshold` percent failed stops the rollout;
otherwise the next stage is sent, and after the last one the rollout is completed. Start, stages,
stop and completion are audit entries.

The image download is authorised for one device: X-HXTP-* headers signed with its secret over
`{version}|firmware_image|{device_id}|{tenant_id}|{timestamp_ms}|{firmware_id}|{nonce}` (the
bootstrap request's shape, firmware id in the message id slot), the nonce used once, and the device
must be a target of a rollout of that firmware that was sent to it.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import update
from sqlmodel import col, select

import ext
from ext import HxtpRejection, Reason
from server.cache.base import Cache
from server.domain import fields
from server.domain.audit.log import AuditLog
from server.domain.clock import epoch_ms
from server.domain.commands.history import CommandLog
from server.domain.events import Event, EventBus
from server.domain.firmware.releases import FirmwareReleases, FirmwareView
from server.domain.fleet.groups import Groups
from server.domain.link.messages import DeviceMessage
from server.domain.link.ports import LinkDirectory
from server.domain.lookups import device_in_tenant, plausible_id
from server.errors import Code, HxtpError
from server.storage.database import Database
from server.storage.fleet_tables import Device
from server.storage.rollout_tables import FirmwareRollout, FirmwareRolloutDevice
from server.storage.types import utc_now

log = logging.getLogger(__name__)

OTA_STATUS = "ota_status"  # the device message type and the live event type
PROGRESS = ("downloading", "verified", "applied", "failed")
FINAL = frozenset({"applied", "failed"})
MAX_STAGES = 10
MAX_TARGETS = 1000
_RANK = {"pending": 0, "sent": 1, "downloading": 2, "verified": 3, "applied": 4, "failed": 4}
_VERSIONS = frozenset({"HxTP/3.1", "HxTP/3.0"})
_REASON_MAX = 200


class OtaSender(Protocol):
    """The device link's way to publish a signed `ota` message under `message_id`."""

    async def send_ota(self, device_id: str, params: dict[str, Any], message_id: str) -> None: ...


@dataclass(frozen=True)
class RolloutDeviceView:
    device_id: str
    stage: int
    status: str
    reason: str | None
    command_id: str | None
    updated_at: datetime


@dataclass(frozen=True)
class RolloutView:
    id: str
    firmware_id: str
    version: str
    status: str
    stages: list[int]
    current_stage: int
    failure_threshold: int
    reason: str | None
    created_at: datetime
    updated_at: datetime
    devices: list[RolloutDeviceView]


def _order(firmware_id: str, device_id: str) -> str:
    return hashlib.sha256(f"{firmware_id}:{device_id}".encode()).hexdigest()


def _stages(stages: Sequence[int]) -> list[int]:
    values = list(stages) or [100]
    if len(values) > MAX_STAGES:
        raise fields.bad("stages", f"at most {MAX_STAGES} stages")
    if any(v < 1 or v > 100 for v in values) or any(b <= a for a, b in itertools.pairwise(values)):
        raise fields.bad("stages", "must be increasing cumulative percentages from 1 to 100")
    if values[-1] != 100:
        raise fields.bad("stages", "the last stage must reach 100 (percent of the targets)")
    return values


class Rollouts:
    def __init__(
        self,
        database: Database,
        releases: FirmwareReleases,
        groups: Groups,
        sender: OtaSender,
        commands: CommandLog,
        events: EventBus,
        audit: AuditLog,
        directory: LinkDirectory,
        cache: Cache,
        api_base_url: str,
        *,
        max_age_s: int = 30,
        max_future_s: int = 5,
    ) -> None:
        self._db = database
        self._releases = releases
        self._groups = groups
        self._sender = sender
        self._commands = commands
        self._events = events
        self._audit = audit
        self._directory = directory
        self._cache = cache
        self._api_base_url = api_base_url.rstrip("/")
        self._max_age_s = max_age_s
        self._max_future_s = max_future_s
        self._lock = asyncio.Lock()  # stage advances of this process, one at a time

    # -- start ---------------------------------------------------------------------------------

    async def start(
        self,
        tenant_id: str,
        user_id: str | None,
        firmware_id: str,
        *,
        device_ids: Sequence[str] = (),
        group: str = "",
        device_type: str = "",
        percentage: int | None = None,
        stages: Sequence[int] = (),
        failure_threshold: int = 0,
    ) -> RolloutView:
        firmware = await self._releases.get(tenant_id, firmware_id)
        if firmware.status != "released":
            raise HxtpError(Code.CONFLICT, "Release the firmware before rolling it out")
        plan = _stages(stages)
        if not 0 <= failure_threshold <= 100:
            raise fields.bad("failure_threshold", "must be a percentage from 0 to 100")
        targets = await self._targets(tenant_id, firmware, device_ids, group, device_type, percentage)
        targets.sort(key=lambda device_id: _order(firmware.id, device_id))
        async with self._db.session() as session:
            running = (
                await session.exec(
                    select(FirmwareRollout.id).where(
                        FirmwareRollout.tenant_id == tenant_id,
                        FirmwareRollout.firmware_id == firmware.id,
                        FirmwareRollout.status == "running",
                    )
                )
            ).first()
            if running is not None:
                raise HxtpError(Code.CONFLICT, "A rollout of this firmware is already running")
            rollout = FirmwareRollout(
                tenant_id=tenant_id,
                firmware_id=firmware.id,
                version=firmware.version,
                user_id=user_id,
                stages_json=json.dumps(plan),
                failure_threshold=failure_threshold,
            )
            session.add(rollout)
            for index, device_id in enumerate(targets):
                stage = next(s for s, pct in enumerate(plan) if index < math.ceil(len(targets) * pct / 100))
                session.add(
                    FirmwareRolloutDevice(
                        rollout_id=rollout.id, device_id=device_id, tenant_id=tenant_id, stage=stage
                    )
                )
            await session.commit()
            rollout_id = rollout.id
        await self._audit.append(
            "firmware.rollout_started",
            tenant_id=tenant_id,
            user_id=user_id,
            action="ota",
            details={
                "rollout_id": rollout_id,
                "firmware_id": firmware.id,
                "version": firmware.version,
                "devices": len(targets),
                "stages": plan,
                "failure_threshold": failure_threshold,
            },
        )
        async with self._lock:
            await self._send_stage(rollout_id, 0, firmware)
            await self._advance(rollout_id)
        return await self._view(tenant_id, rollout_id)

    async def _targets(
        self,
        tenant_id: str,
        firmware: FirmwareView,
        device_ids: Sequence[str],
        group: str,
        device_type: str,
        percentage: int | None,
    ) -> list[str]:
        chosen = [bool(device_ids), bool(group), bool(device_type) or percentage is not None]
        if sum(chosen) != 1:
            raise fields.bad(
                "device_ids", "give exactly one of device_ids, group, or device_type with percentage"
            )
        if device_ids:
            wanted = list(dict.fromkeys(d.strip() for d in device_ids if d.strip()))
            if len(wanted) > MAX_TARGETS:
                raise fields.bad("device_ids", f"at most {MAX_TARGETS} devices")
        elif group:
            wanted = list((await self._groups.get(tenant_id, group)).device_ids)
        else:
            if not device_type:
                raise fields.bad("device_type", "is required with percentage")
            pct = 100 if percentage is None else percentage
            if not 1 <= pct <= 100:
                raise fields.bad("percentage", "must be from 1 to 100")
            kind = fields.identifier("device_type", device_type)
            async with self._db.session() as session:
                rows = await session.exec(
                    select(Device.id).where(
                        Device.tenant_id == tenant_id,
                        Device.device_type == kind,
                        col(Device.revoked).is_(False),
                    )
                )
                everyone = sorted(rows.all(), key=lambda device_id: _order(firmware.id, device_id))
            wanted = everyone[: math.ceil(len(everyone) * pct / 100)]
        async with self._db.session() as session:
            for device_id in wanted:
                device = await device_in_tenant(session, tenant_id, device_id)  # 404 for another tenant's
                if device.revoked:
                    raise HxtpError(Code.DEVICE_REVOKED, f"Device {device_id} is revoked")
        if not wanted:
            raise fields.bad("device_ids", "no device matches the rollout's targets")
        return wanted

    # -- stages --------------------------------------------------------------------------------

    async def _send_stage(self, rollout_id: str, stage: int, firmware: FirmwareView) -> None:
        async with self._db.session() as session:
            rollout = await session.get(FirmwareRollout, rollout_id)
            assert rollout is not None
            rows = list(
                await session.exec(
                    select(FirmwareRolloutDevice).where(
                        FirmwareRolloutDevice.rollout_id == rollout_id,
                        FirmwareRolloutDevice.stage == stage,
                        FirmwareRolloutDevice.status == "pending",
                    )
                )
            )
        url = firmware.download_url
        if url.endswith("/download") and url.startswith(self._api_base_url):
            url = f"{self._api_base_url}/firmware/{firmware.id}/image"  # the device-authorised route
        for row in rows:
            params = {
                "firmware_id": firmware.id,
                "rollout_id": rollout_id,
                "sha256": firmware.checksum,
                "signature": firmware.ed25519_signature,
                "size": firmware.size,
                "url": url,
                "version": firmware.version,
            }
            command = await self._commands.create(
                rollout.tenant_id, row.device_id, rollout.user_id or "", "ota", params
            )
            command_id = command.id
            status, reason = "sent", None
            try:
                await self._sender.send_ota(row.device_id, params, command.message_id)
                await self._commands.mark_sent(command_id)
            except HxtpError as error:
                status, reason = "failed", (error.reason or str(error))[:_REASON_MAX]
                await self._commands.mark_sent(command_id, error=reason)
            await self._set_device(rollout_id, row.device_id, status, reason, command_id)
        await self._audit.append(
            "firmware.rollout_stage",
            tenant_id=rollout.tenant_id,
            user_id=rollout.user_id,
            action="ota",
            details={"rollout_id": rollout_id, "stage": stage + 1, "devices": [r.device_id for r in rows]},
        )

    async def _advance(self, rollout_id: str) -> None:
        """Call with the lock held: move the rollout on when its current stage is final."""
        while True:
            async with self._db.session() as session:
                rollout = await session.get(FirmwareRollout, rollout_id)
                if rollout is None or rollout.status != "running":
                    return
                rows = list(
                    await session.exec(
                        select(FirmwareRolloutDevice).where(
                            FirmwareRolloutDevice.rollout_id == rollout_id,
                            FirmwareRolloutDevice.stage == rollout.current_stage,
                        )
                    )
                )
                if any(row.status not in FINAL for row in rows):
                    return
                failed = sum(row.status == "failed" for row in rows)
                plan = json.loads(rollout.stages_json)
                stage, status, reason = rollout.current_stage, "running", None
                if rows and failed * 100 > rollout.failure_threshold * len(rows):
                    status, event = "stopped", "firmware.rollout_stopped"
                    reason = (
                        f"stage {stage + 1}: {failed} of {len(rows)} devices failed "
                        f"(threshold {rollout.failure_threshold}%)"
                    )
                elif stage + 1 < len(plan):
                    stage, event = stage + 1, ""
                else:
                    status, event = "completed", "firmware.rollout_completed"
                # Compare-and-set on the stage: of several replicas seeing the same final report,
                # exactly one moves the rollout on (and sends the next stage).
                table = FirmwareRollout.__table__  # type: ignore[attr-defined]
                moved = await session.exec(
                    update(table)
                    .where(
                        table.c.id == rollout_id,
                        table.c.status == "running",
                        table.c.current_stage == rollout.current_stage,
                    )
                    .values(status=status, current_stage=stage, reason=reason, updated_at=utc_now())
                )
                await session.commit()
                if moved.rowcount != 1:
                    return
                tenant_id, user_id, firmware_id = rollout.tenant_id, rollout.user_id, rollout.firmware_id
            if event:
                await self._audit.append(
                    event,
                    tenant_id=tenant_id,
                    user_id=user_id,
                    action="ota",
                    result="failure" if event.endswith("stopped") else "success",
                    details={"rollout_id": rollout_id, "reason": reason, "failed": failed},
                )
                return
            await self._send_stage(rollout_id, stage, await self._releases.get(tenant_id, firmware_id))

    async def _set_device(
        self, rollout_id: str, device_id: str, status: str, reason: str | None, command_id: str | None = None
    ) -> FirmwareRolloutDevice | None:
        async with self._db.session() as session:
            row = await session.get(FirmwareRolloutDevice, (rollout_id, device_id))
            if row is None:
                return None
            row.status, row.reason, row.updated_at = status, reason, utc_now()
            if command_id is not None:
                row.command_id = command_id
            session.add(row)
            await session.commit()
            await session.refresh(row)
            return row

    # -- device reports ------------------------------------------------------------------------

    async def on_status(self, message: DeviceMessage) -> None:
        """A verified `ota_status` message of a device."""
        params = message.params
        rollout_id, status = params.get("rollout_id"), params.get("status")
        reason = params.get("reason")
        if not isinstance(rollout_id, str) or not plausible_id(rollout_id) or status not in PROGRESS:
            log.info("ota_status from %s names no rollout or an unknown status; ignored", message.device_id)
            return
        text = reason[:_REASON_MAX] if isinstance(reason, str) and reason else None
        async with self._lock:
            async with self._db.session() as session:
                row = await session.get(FirmwareRolloutDevice, (rollout_id, message.device_id))
            if row is None or row.tenant_id != message.tenant_id:
                log.info("ota_status from %s for a rollout it is not in; ignored", message.device_id)
                return
            if row.status in FINAL or _RANK[str(status)] < _RANK[row.status]:
                return  # a late or repeated report never moves a device back
            updated = await self._set_device(rollout_id, message.device_id, str(status), text)
            assert updated is not None
            await self._events.publish(
                message.tenant_id,
                Event(
                    OTA_STATUS,
                    message.device_id,
                    epoch_ms(),
                    command_id=updated.command_id,
                    status=str(status),
                    error=text,
                ),
            )
            if status in FINAL:
                if updated.command_id is not None:
                    ok = status == "applied"
                    await self._commands.mark_outcome(updated.command_id, ok, error=text)
                    await self._events.publish_command_status(
                        message.tenant_id,
                        message.device_id,
                        updated.command_id,
                        "acked" if ok else "failed",
                        text,
                    )
                await self._audit.append(
                    "firmware.ota_applied" if status == "applied" else "firmware.ota_failed",
                    tenant_id=message.tenant_id,
                    user_id=None,
                    device_id=message.device_id,
                    action="ota",
                    result="success" if status == "applied" else "failure",
                    details={"rollout_id": rollout_id, "version": params.get("version"), "reason": text},
                )
                await self._advance(rollout_id)

    # -- reads ---------------------------------------------------------------------------------

    async def latest(self, tenant_id: str, firmware_id: str) -> RolloutView:
        await self._releases.get(tenant_id, firmware_id)  # 404 for another tenant's firmware
        async with self._db.session() as session:
            row = (
                await session.exec(
                    select(FirmwareRollout)
                    .where(FirmwareRollout.tenant_id == tenant_id, FirmwareRollout.firmware_id == firmware_id)
                    .order_by(col(FirmwareRollout.created_at).desc())
                )
            ).first()
        if row is None:
            raise HxtpError(Code.NOT_FOUND, "This firmware has no rollout", field="firmware_id")
        return await self._view(tenant_id, row.id)

    async def _view(self, tenant_id: str, rollout_id: str) -> RolloutView:
        async with self._db.session() as session:
            row = await session.get(FirmwareRollout, rollout_id)
            assert row is not None and row.tenant_id == tenant_id
            devices = list(
                await session.exec(
                    select(FirmwareRolloutDevice)
                    .where(FirmwareRolloutDevice.rollout_id == rollout_id)
                    .order_by(col(FirmwareRolloutDevice.stage), col(FirmwareRolloutDevice.device_id))
                )
            )
        return RolloutView(
            row.id,
            row.firmware_id,
            row.version,
            row.status,
            json.loads(row.stages_json),
            row.current_stage,
            row.failure_threshold,
            row.reason,
            row.created_at,
            row.updated_at,
            [
                RolloutDeviceView(d.device_id, d.stage, d.status, d.reason, d.command_id, d.updated_at)
                for d in devices
            ],
        )

    # -- image download ------------------------------------------------------------------------

    async def image_for_device(self, firmware_id: str, headers: Mapping[str, str]) -> bytes:
        """The image bytes for the device that signed the request (headers with lower-case names)."""
        device_id = headers.get("x-hxtp-device-id", "")
        device = await self._directory.profile(device_id) if plausible_id(device_id) else None
        if device is None:
            raise HxtpError(Code.UNAUTHORIZED, "UNKNOWN_DEVICE")
        if device.revoked:
            raise HxtpError(Code.FORBIDDEN, "DEVICE_REVOKED")
        try:
            nonce = await self._verify(device_id, device.tenant_id, firmware_id, headers)
        except HxtpRejection as rejection:
            raise HxtpError(Code.UNAUTHORIZED, rejection.reason) from None
        ttl = float(self._max_age_s + self._max_future_s + 1)
        if not await self._cache.set_if_absent(f"hxtp:image-nonce:{device_id}:{nonce}", b"1", ttl):
            raise HxtpError(Code.UNAUTHORIZED, Reason.NONCE_REUSED)
        async with self._db.session() as session:
            offered = (
                await session.exec(
                    select(FirmwareRolloutDevice.device_id)
                    .join(FirmwareRollout, col(FirmwareRollout.id) == col(FirmwareRolloutDevice.rollout_id))
                    .where(
                        FirmwareRollout.firmware_id == firmware_id,
                        FirmwareRollout.tenant_id == device.tenant_id,
                        FirmwareRolloutDevice.device_id == device_id,
                        FirmwareRolloutDevice.status != "pending",
                    )
                )
            ).first()
        if offered is None:
            raise HxtpError(Code.NOT_FOUND, "Firmware not found", field="firmware_id")
        return await self._releases.image(device.tenant_id, firmware_id)

    async def _verify(
        self, device_id: str, tenant_id: str, firmware_id: str, headers: Mapping[str, str]
    ) -> str:
        version = ext.check_version(headers.get("x-hxtp-version"), _VERSIONS)
        timestamp = ext.wire_int(headers.get("x-hxtp-timestamp"), "timestamp")
        now_ms = epoch_ms()
        ext.check_timestamp(timestamp, now_ms, max_age_s=self._max_age_s, max_future_s=self._max_future_s)
        nonce = headers.get("x-hxtp-nonce", "")
        if not nonce or len(nonce) > 64:
            raise HxtpRejection(Reason.NONCE_MISSING, "Missing nonce")
        if headers.get("x-hxtp-message-id", "") != firmware_id:
            raise HxtpRejection(Reason.FIELD_INVALID, "the request names another firmware")
        secrets = await self._directory.active_and_previous(device_id)
        if not secrets:
            raise HxtpRejection(Reason.SECRET_INVALID, "no usable secret")
        text = "|".join((version, "firmware_image", device_id, tenant_id, str(timestamp), firmware_id, nonce))
        ext.verify_hmac(text, headers.get("x-hxtp-signature"), [ext.HmacKey(s) for s in secrets])
        return nonce
