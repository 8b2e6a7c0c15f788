"""Firmware rollout tables: one row per rollout, one per targeted device (its stage and OTA progress).

No foreign keys to the fleet tables: the rollout branch of the migrations is a sibling of the fleet
branch (like the device-link one), and every query filters on `tenant_id`. Migration
0008_firmware_rollout builds exactly these tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from server.storage.models import ID_LENGTH, new_id
from server.storage.types import UTCDateTime, utc_now

DEVICE_ID_LENGTH = 32


class FirmwareRollout(SQLModel, table=True):
    __tablename__ = "firmware_rollout"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=ID_LENGTH)
    tenant_id: str = Field(index=True, max_length=ID_LENGTH)
    firmware_id: str = Field(index=True, max_length=ID_LENGTH)
    version: str = Field(max_length=64)
    user_id: str | None = Field(default=None, max_length=ID_LENGTH)
    # running | completed | stopped
    status: str = Field(default="running", max_length=16)
    # Cumulative percentages of the targets per stage, as JSON (e.g. [50, 100]).
    stages_json: str = Field(sa_type=Text)
    current_stage: int = Field(default=0)
    failure_threshold: int = Field(default=0)  # percent of a stage's devices that may fail
    reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class FirmwareRolloutDevice(SQLModel, table=True):
    __tablename__ = "firmware_rollout_device"

    rollout_id: str = Field(primary_key=True, max_length=ID_LENGTH)
    device_id: str = Field(primary_key=True, max_length=DEVICE_ID_LENGTH)
    tenant_id: str = Field(max_length=ID_LENGTH)
    stage: int
    # pending | sent | downloading | verified | applied | failed
    status: str = Field(default="pending", max_length=16)
    reason: str | None = Field(default=None, max_length=500)
    command_id: str | None = Field(default=None, max_length=ID_LENGTH)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
