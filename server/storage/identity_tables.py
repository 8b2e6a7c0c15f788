"""Identity tables beyond users and tenants: API keys.

A key's secret is never stored: only its SHA-256 hash (unique, the lookup index) and a short display
prefix. The key keeps the creator's tenant and role at creation; authentication also caps it at the
creator's current role, so demoting a user demotes their keys. Browser sessions and CLI handshakes are
short-lived and live in the cache (shared by replicas), not here. Migration 0002_identity builds this.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from server.storage.models import ID_LENGTH, new_id
from server.storage.types import UTCDateTime, utc_now


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=ID_LENGTH)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=ID_LENGTH)
    user_id: str = Field(foreign_key="user.id", index=True, max_length=ID_LENGTH)
    name: str = Field(max_length=200)
    # Lowercase hex SHA-256 of the whole key ("hxtp_..."); the secret itself is shown once and dropped.
    key_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=32)
    # Normalised scopes ("resource:verb"), space separated.
    scopes: str = Field(default="", max_length=2000)
    role: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used: datetime | None = Field(default=None, sa_type=UTCDateTime)
