"""Fleet tables: homes, rooms, devices and their key versions, groups, manifests, firmware releases.

Every row carries (or reaches through its parent) a `tenant_id`, and every query filters on it. There
is no foreign key to `tenant.id`: tenants are owned by the identity module, and a principal's tenant id
comes from its token, so fleet rows must not depend on the order in which identity rows are written.
Migration 0003_fleet builds exactly these tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from server.storage.models import ID_LENGTH, new_id
from server.storage.types import UTCDateTime, utc_now

DEVICE_ID_LENGTH = 32  # the firmware's limit (wire protocol §3.1)


class Home(SQLModel, table=True):
    __tablename__ = "home"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=ID_LENGTH)
    tenant_id: str = Field(index=True, max_length=ID_LENGTH)
    name: str = Field(max_length=200)
    timezone: str = Field(default="UTC", max_length=64)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class Room(SQLModel, table=True):
    __tablename__ = "room"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=ID_LENGTH)
    tenant_id: str = Field(index=True, max_length=ID_LENGTH)
    home_id: str = Field(foreign_key="home.id", index=True, max_length=ID_LENGTH)
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class Device(SQLModel, table=True):
    __tablename__ = "device"

    id: str = Field(primary_key=True, max_length=DEVICE_ID_LENGTH)
    tenant_id: str = Field(index=True, max_length=ID_LENGTH)
    device_type: str = Field(max_length=64)
    home_id: str | None = Field(default=None, foreign_key="home.id", index=True, max_length=ID_LENGTH)
    room_id: str | None = Field(default=None, foreign_key="room.id", index=True, max_length=ID_LENGTH)
    protocol: str = Field(default="hxtp-3.1", max_length=32)
    public_key: str | None = Field(default=None, max_length=64)  # Ed25519, lowercase hex
    firmware: str = Field(default="0.0.0", max_length=64)
    key_version: int = Field(default=1)
    revoked: bool = Field(default=False)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_seen: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_heartbeat: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class DeviceKey(SQLModel, table=True):
    """One version of a device secret, AES-GCM encrypted under the master key (nonce || ciphertext)."""

    __tablename__ = "device_key"
    __table_args__ = (UniqueConstraint("device_id", "version", name="uq_device_key_device_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=ID_LENGTH)
    device_id: str = Field(
        sa_column=Column(
            String(DEVICE_ID_LENGTH),
            ForeignKey("device.id", name="fk_device_key_device_id_device"),
            nullable=False,
            index=True,
        )
    )
    version: int
    algorithm: str = Field(default="HMAC-SHA256", max_length=32)
    sealed_secret: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    # When a newer version replaced this one; the secret is still accepted for the grace period after.
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When the device was first seen holding this secret (registration for version 1; the first
    # message verified under it after a rotation). Until then the server keeps signing with the
    # version the device has.
    adopted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DeviceGroup(SQLModel, table=True):
    __tablename__ = "device_group"
    __table_args__ = (UniqueConstraint("tenant_id", "slug", name="uq_device_group_tenant_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=ID_LENGTH)
    tenant_id: str = Field(index=True, max_length=ID_LENGTH)
    slug: str = Field(max_length=100)
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=1000)
    group_type: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class GroupDevice(SQLModel, table=True):
    __tablename__ = "group_device"

    group_id: str = Field(foreign_key="device_group.id", primary_key=True, max_length=ID_LENGTH)
    device_id: str = Field(foreign_key="device.id", primary_key=True, max_length=DEVICE_ID_LENGTH)
    added_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class GroupMember(SQLModel, table=True):
    __tablename__ = "group_member"

    group_id: str = Field(foreign_key="device_group.id", primary_key=True, max_length=ID_LENGTH)
    user_id: str = Field(primary_key=True, max_length=ID_LENGTH)
    joined_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class DeviceManifest(SQLModel, table=True):
    """One immutable manifest version; a new version is a new row, never an update."""

    __tablename__ = "device_manifest"
    __table_args__ = (UniqueConstraint("device_id", "version", name="uq_device_manifest_device_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=ID_LENGTH)
    tenant_id: str = Field(index=True, max_length=ID_LENGTH)
    device_id: str = Field(
        sa_column=Column(
            String(DEVICE_ID_LENGTH),
            ForeignKey("device.id", name="fk_device_manifest_device_id_device"),
            nullable=False,
            index=True,
        )
    )
    version: int
    capabilities: str = Field(sa_column=Column(Text, nullable=False))  # JSON list, camelCase
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class FirmwareRelease(SQLModel, table=True):
    __tablename__ = "firmware_release"
    __table_args__ = (
        UniqueConstraint("tenant_id", "device_type", "version", name="uq_firmware_release_tenant_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=ID_LENGTH)
    tenant_id: str = Field(index=True, max_length=ID_LENGTH)
    device_type: str = Field(max_length=64)
    version: str = Field(max_length=64)
    checksum: str = Field(max_length=64)
    size: int = Field(default=0, sa_type=BigInteger)
    ed25519_signature: str = Field(max_length=128)
    # Externally hosted image; NULL for uploaded images, which are served from the firmware directory.
    url: str | None = Field(default=None, max_length=2000)
    status: str = Field(default="uploaded", max_length=16)
    released_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
