"""The port the device link uses to authenticate and sign for a device.

The device link (MQTT bridge, bootstrap route) never reads the fleet tables itself; it asks this port:

- `profile(device_id)`: the device's tenant, type, wire profile, Ed25519 public key (if any), current
  key version and whether it is revoked; None for an unknown device.
- `active_and_previous(device_id)`: the raw 32-byte secrets that verify the device's messages: the
  one the device holds first (what commands are signed with), then a rotated-in secret the device
  was not yet seen using, then earlier versions still inside the rotation grace period; empty for a
  revoked or unknown device, so its messages and bootstrap are refused.
- `adopt(device_id, secret)`: a message verified under `secret`; when that is a pending
  (rotated-in) version, the device holds it now: it becomes the signing key, the adoption is
  recorded in the key history (`adopted_at`) and the older versions start their grace period
  (wire protocol §6: sign with the secret the device actually has).

Opening a secret raises `SecretUnreadable` when HXTP_SECRET_KEY is not the key that sealed it (a
misconfigured replica): that is an operator error to surface, not a device to treat as unknown.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import col, select

from server.domain.fleet.devices import key_status
from server.domain.fleet.secrets import SecretBox
from server.domain.memo import DEVICE_KEYS, MemoHub, TtlMemo
from server.storage.database import Database
from server.storage.fleet_tables import Device, DeviceKey
from server.storage.types import utc_now

_VERIFYING = ("active", "pending", "grace")  # key statuses that verify, in the order they are tried


@dataclass(frozen=True)
class DeviceProfile:
    device_id: str
    tenant_id: str
    device_type: str
    protocol: str
    public_key: bytes | None
    key_version: int
    revoked: bool


def _profile(device: Device) -> DeviceProfile:
    return DeviceProfile(
        device.id,
        device.tenant_id,
        device.device_type,
        device.protocol,
        bytes.fromhex(device.public_key) if device.public_key else None,
        device.key_version,
        device.revoked,
    )


class DeviceKeys:
    def __init__(
        self, database: Database, box: SecretBox, grace: timedelta, memos: MemoHub | None = None
    ) -> None:
        self._db = database
        self._box = box
        self._grace = grace
        self._memos = memos if memos is not None else MemoHub()

    async def profile(self, device_id: str) -> DeviceProfile | None:
        async with self._db.session() as session:
            device = await session.get(Device, device_id)
        return None if device is None else _profile(device)

    async def active_and_previous(self, device_id: str) -> list[bytes]:
        return (await self.profile_and_secrets(device_id))[1]

    async def profile_and_secrets(self, device_id: str) -> tuple[DeviceProfile | None, list[bytes]]:
        """Both in one read of the device (what an outbound message needs)."""
        async with self._db.session() as session:
            device = await session.get(Device, device_id)
            if device is None:
                return None, []
            profile = _profile(device)
            if device.revoked:
                return profile, []
            keys = list(
                await session.exec(
                    select(DeviceKey)
                    .where(DeviceKey.device_id == device_id)
                    .order_by(col(DeviceKey.version).desc())
                )
            )
            now = utc_now()
            statuses = {key.version: key_status(key, device, self._grace, now) for key in keys}
            usable = [key for key in keys if statuses[key.version] in _VERIFYING]
        usable.sort(key=lambda key: _VERIFYING.index(statuses[key.version]))  # stable: newest first within
        return profile, [self._box.open(key.sealed_secret, device_id, key.version) for key in usable]

    async def adopt(self, device_id: str, secret: bytes) -> bool:
        """True when `secret` was a pending version and is the device's key from now on."""
        async with self._db.session() as session:
            keys = list(
                await session.exec(
                    select(DeviceKey).where(
                        DeviceKey.device_id == device_id,
                        col(DeviceKey.retired_at).is_(None),
                    )
                )
            )
            adopted = next(
                (
                    key
                    for key in keys
                    if key.adopted_at is None
                    and hmac.compare_digest(self._box.open(key.sealed_secret, device_id, key.version), secret)
                ),
                None,
            )
            if adopted is None:
                return False
            now = utc_now()
            adopted.adopted_at = now
            session.add(adopted)
            for older in keys:
                if older.version < adopted.version:
                    older.retired_at = now
                    session.add(older)
            await session.commit()
        # Every replica's outbound memo drops the old secret: commands are signed with this one now.
        await self._memos.forget((DEVICE_KEYS, device_id))
        return True


class RecentDeviceKeys:
    """DeviceKeys for the command path, remembered per device.

    Every command reads the device's profile and secrets; not re-reading (and re-opening the sealed
    secrets) each time is what keeps that off the database. A rotation or revocation forgets both
    on every replica before it answers (server/domain/memo.py).
    """

    def __init__(self, keys: DeviceKeys, memos: MemoHub | None = None) -> None:
        self._keys = keys
        hub = memos if memos is not None else MemoHub()
        # Profile and secrets together: one read of the device per refresh, not one for each.
        self._facts: TtlMemo[str, tuple[DeviceProfile | None, list[bytes]]] = hub.memo(DEVICE_KEYS)

    async def _read(self, device_id: str) -> tuple[DeviceProfile | None, list[bytes]]:
        return await self._facts.get(device_id, lambda: self._keys.profile_and_secrets(device_id))

    async def profile(self, device_id: str) -> DeviceProfile | None:
        return (await self._read(device_id))[0]

    async def active_and_previous(self, device_id: str) -> list[bytes]:
        return (await self._read(device_id))[1]

    async def adopt(self, device_id: str, secret: bytes) -> bool:
        return await self._keys.adopt(device_id, secret)  # forgets this memo on every replica
