"""Devices of a tenant: registration, listing, secret rotation, key history and revocation.

`device_id` is a UUID4 written as 32 hex characters without dashes, because the firmware caps device
ids at 32 characters (wire protocol §3.1). Secrets are 32 CSPRNG bytes in lowercase hex, sealed at rest
(see device_secrets), and returned only by `register` and `rotate`. Registration also stores manifest
version 1 for the device's type (capability_catalog), so a fresh device can be commanded at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from server.domain import fields
from server.domain.catalog import manifests
from server.domain.fleet.presence import Presence
from server.domain.fleet.protocols import DEFAULT_PROFILE, parse_profile, parse_public_key
from server.domain.fleet.secrets import SecretBox, new_device_secret
from server.domain.lookups import count, device_in_tenant, home_in_tenant, room_in_home, room_in_tenant
from server.domain.memo import DEVICE, DEVICE_KEYS, MemoHub, TtlMemo
from server.domain.ports import AuditTrail
from server.errors import Code, HxtpError
from server.storage.database import Database
from server.storage.fleet_tables import Device, DeviceKey
from server.storage.types import utc_now

ALGORITHM = "HMAC-SHA256"
DEFAULT_PAGE = 100
MAX_PAGE = 1000


@dataclass(frozen=True)
class DeviceView:
    id: str
    device_type: str
    home_id: str | None
    room_id: str | None
    firmware: str
    last_seen: datetime | None
    last_heartbeat: datetime | None
    active: bool
    revoked: bool
    key_version: int
    status: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """What the memo keeps of a device row: plain values, read without the ORM's instrumentation on
    every command (twice per command: the chain's lookup and the gates)."""

    id: str
    device_type: str
    home_id: str | None
    room_id: str | None
    firmware: str | None
    last_seen: datetime | None
    last_heartbeat: datetime | None
    revoked: bool
    key_version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, device: Device) -> DeviceRecord:
        return cls(
            device.id,
            device.device_type,
            device.home_id,
            device.room_id,
            device.firmware,
            device.last_seen,
            device.last_heartbeat,
            device.revoked,
            device.key_version,
            device.created_at,
            device.updated_at,
        )


@dataclass(frozen=True)
class Registration:
    device_id: str
    tenant_id: str
    api_base_url: str
    device_secret: str
    initial_sequence: int
    home_id: str
    room_id: str | None


# What the rotation answer tells the operator (wire protocol §6: the firmware has no message that
# delivers a secret, so the device keeps the old one until someone re-provisions it).
ROTATION_NEXT_STEP = (
    "Provision the device with new_secret (the firmware cannot receive it over MQTT). Until a message "
    "from the device verifies under it, the server keeps signing with the previous secret and "
    "accepts both; then it switches, records the adoption in the key history, and the previous "
    "secret is accepted for the grace period only."
)


@dataclass(frozen=True)
class KeyVersion:
    version: int
    created_at: datetime
    algorithm: str
    status: str  # pending | active | grace | retired | revoked
    adopted_at: datetime | None = None


def key_status(key: DeviceKey, device: Device, grace: timedelta, now: datetime) -> str:
    """pending: issued, the device not yet seen using it; active: the secret the device holds (the
    server signs with it); grace: replaced, still accepted; retired: no longer accepted."""
    if device.revoked:
        return "revoked"
    if key.retired_at is not None:
        return "grace" if now - key.retired_at <= grace else "retired"
    return "active" if key.adopted_at is not None else "pending"


class Devices:
    def __init__(
        self,
        database: Database,
        box: SecretBox,
        presence: Presence,
        api_base_url: str,
        grace: timedelta,
        audit: AuditTrail,
        memos: MemoHub | None = None,
    ) -> None:
        self._db = database
        self._audit = audit
        # Commands read the device two or three times per call; a revocation or rotation forgets it
        # (and the outbound side's keys) on every replica before it answers.
        self._memos = memos if memos is not None else MemoHub()
        self._memo: TtlMemo[tuple[str, str], DeviceRecord] = self._memos.memo(DEVICE)
        self._box = box
        self._presence = presence
        self._api_base_url = api_base_url
        self._grace = grace

    def _view(self, device: Device | DeviceRecord) -> DeviceView:
        active = not device.revoked and self._presence.is_active(device.id, device.last_seen)
        status = "revoked" if device.revoked else ("online" if active else "offline")
        return DeviceView(
            device.id,
            device.device_type,
            device.home_id,
            device.room_id,
            device.firmware or "0.0.0",
            device.last_seen,
            device.last_heartbeat,
            active,
            device.revoked,
            device.key_version,
            status,
            device.created_at,
            device.updated_at,
        )

    async def register(
        self,
        tenant_id: str,
        device_type: str,
        home_id: str,
        room_id: str | None,
        protocol: str | None = None,
        public_key: str | None = None,
    ) -> Registration:
        kind = fields.identifier("device_type", device_type)
        profile = parse_profile(protocol) if protocol else DEFAULT_PROFILE
        key = parse_public_key(public_key, required=profile.needs_public_key)
        if not home_id:
            raise fields.bad("home_id", "is required")
        secret = new_device_secret()
        device_id = uuid.uuid4().hex
        async with self._db.session() as session:
            home = await home_in_tenant(session, tenant_id, home_id)
            room = await room_in_home(session, home, room_id) if room_id else None
            session.add(
                Device(
                    id=device_id,
                    tenant_id=tenant_id,
                    device_type=kind,
                    home_id=home.id,
                    room_id=room.id if room else None,
                    protocol=profile.name,
                    public_key=key,
                )
            )
            await session.flush()  # the key and manifest rows reference the device
            session.add(
                DeviceKey(
                    device_id=device_id,
                    version=1,
                    algorithm=ALGORITHM,
                    sealed_secret=self._box.seal(secret, device_id, 1),
                    adopted_at=utc_now(),  # the device is provisioned with what this answer carries
                )
            )
            manifests.add_version(session, tenant_id, device_id, 1, manifests.default_manifest(kind))
            await session.commit()
        await self._audit.append(
            "device_registered",
            tenant_id=tenant_id,
            device_id=device_id,
            details={"device_type": kind, "protocol": profile.name},
        )
        return Registration(
            device_id, tenant_id, self._api_base_url, secret, 0, home.id, room.id if room else None
        )

    async def page(
        self, tenant_id: str, home_id: str | None, room_id: str | None, limit: int, offset: int
    ) -> tuple[list[DeviceView], int]:
        if limit < 0 or limit > MAX_PAGE:
            raise fields.bad("limit", f"must be between 0 and {MAX_PAGE}")
        if offset < 0:
            raise fields.bad("offset", "must not be negative")
        async with self._db.session() as session:
            query = select(Device).where(Device.tenant_id == tenant_id)
            counted = select(func.count()).select_from(Device).where(Device.tenant_id == tenant_id)
            if home_id:
                await home_in_tenant(session, tenant_id, home_id)
                query, counted = (
                    query.where(Device.home_id == home_id),
                    counted.where(Device.home_id == home_id),
                )
            if room_id:
                await room_in_tenant(session, tenant_id, room_id)
                query, counted = (
                    query.where(Device.room_id == room_id),
                    counted.where(Device.room_id == room_id),
                )
            page = await session.exec(
                query.order_by(col(Device.created_at), col(Device.id))
                .offset(offset)
                .limit(limit or DEFAULT_PAGE)
            )
            devices = [self._view(device) for device in page]
            total = await count(session, counted)
        return devices, total

    async def get(self, tenant_id: str, device_id: str) -> DeviceView:
        """For the command path and existence checks: the row is memoised (what those read changes
        only through revocation and rotation, which forget it everywhere); the view is not: whether
        the device is live comes from presence now."""
        return self._view(await self.record(tenant_id, device_id))

    async def record(self, tenant_id: str, device_id: str) -> DeviceRecord:
        """The memoised row alone (404 for another tenant's device): for callers that need to know
        that it exists or whether it is revoked, not how it is doing."""
        return await self._memo.get((tenant_id, device_id), lambda: self._record(tenant_id, device_id))

    async def _record(self, tenant_id: str, device_id: str) -> DeviceRecord:
        return DeviceRecord.of(await self._load(tenant_id, device_id))

    async def read(self, tenant_id: str, device_id: str) -> DeviceView:
        """What the API shows: read now, since the device link moves last_seen, last_heartbeat,
        firmware and protocol without forgetting memos (that would be a broadcast per heartbeat)."""
        return self._view(await self._load(tenant_id, device_id))

    async def _load(self, tenant_id: str, device_id: str) -> Device:
        async with self._db.session() as session:
            return await device_in_tenant(session, tenant_id, device_id)

    async def rotate(self, tenant_id: str, device_id: str) -> tuple[str, int]:
        """A new secret and its key version, pending until the device is seen using it: the key the
        device holds stays active (signing and verifying) until then. A pending key that a newer
        rotation supersedes enters its grace period."""
        secret = new_device_secret()
        async with self._db.session() as session:
            device = await device_in_tenant(session, tenant_id, device_id)
            if device.revoked:
                raise HxtpError(Code.DEVICE_REVOKED)
            now = utc_now()
            pending = await session.exec(
                select(DeviceKey).where(
                    DeviceKey.device_id == device.id,
                    col(DeviceKey.adopted_at).is_(None),
                    col(DeviceKey.retired_at).is_(None),
                )
            )
            for superseded in pending:
                superseded.retired_at = now
                session.add(superseded)
            version = device.key_version + 1
            session.add(
                DeviceKey(
                    device_id=device.id,
                    version=version,
                    algorithm=ALGORITHM,
                    sealed_secret=self._box.seal(secret, device.id, version),
                    created_at=now,
                )
            )
            device.key_version, device.updated_at = version, now
            session.add(device)
            try:
                await session.commit()
            except IntegrityError:
                raise HxtpError(Code.CONFLICT, "The device secret was rotated concurrently; retry") from None
        await self._memos.forget((DEVICE, (tenant_id, device_id)), (DEVICE_KEYS, device_id))
        await self._audit.append(
            "safety_key_rotation", tenant_id=tenant_id, device_id=device_id, details={"key_version": version}
        )
        return secret, version

    async def key_history(self, tenant_id: str, device_id: str) -> tuple[int, list[KeyVersion]]:
        async with self._db.session() as session:
            device = await device_in_tenant(session, tenant_id, device_id)
            keys = await session.exec(
                select(DeviceKey)
                .where(DeviceKey.device_id == device.id)
                .order_by(col(DeviceKey.version).desc())
            )
            now = utc_now()
            history = [
                KeyVersion(
                    key.version,
                    key.created_at,
                    key.algorithm,
                    key_status(key, device, self._grace, now),
                    key.adopted_at,
                )
                for key in keys
            ]
        return device.key_version, history

    async def revoke(self, tenant_id: str, device_id: str) -> None:
        """Permanent: the device's secrets stop verifying and commands to it fail (idempotent)."""
        async with self._db.session() as session:
            device = await device_in_tenant(session, tenant_id, device_id)
            if device.revoked:
                return
            device.revoked, device.revoked_at = True, utc_now()
            device.updated_at = device.revoked_at
            session.add(device)
            await session.commit()
        await self._memos.forget((DEVICE, (tenant_id, device_id)), (DEVICE_KEYS, device_id))
        await self._audit.append("device_revoked", tenant_id=tenant_id, device_id=device_id)
