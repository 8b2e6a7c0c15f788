"""Commands as dispatched to devices: one row per command, its status moving
dispatched -> acked | failed | expired (or failed at once when the broker refused it)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from server.storage.models import ID_LENGTH, new_id
from server.storage.types import UTCDateTime, utc_now


class Command(SQLModel, table=True):
    __tablename__ = "command"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=ID_LENGTH)
    tenant_id: str = Field(index=True, max_length=ID_LENGTH)
    # No foreign key: history outlives a deleted device.
    device_id: str = Field(index=True, max_length=64)
    user_id: str = Field(default="", max_length=ID_LENGTH)
    action: str = Field(max_length=64)
    params_json: str = Field(default="{}")
    status: str = Field(default="pending", max_length=16, index=True)  # the restart sweep finds `pending`
    message_id: str | None = Field(default=None, index=True, max_length=ID_LENGTH)
    error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, index=True)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
