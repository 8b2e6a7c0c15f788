"""Platform operations and assistant state: tenant suspensions, invites, feature flags, plans and
agent memories. No foreign keys to tenants: an operator's records outlive what they name, and a
plan's history outlives a deleted device. Migration 0008_platform builds these."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from server.storage.models import ID_LENGTH, new_id
from server.storage.types import UTCDateTime, utc_now


class TenantSuspension(SQLModel, table=True):
    __tablename__ = "tenant_suspension"

    tenant_id: str = Field(primary_key=True, max_length=ID_LENGTH)
    reason: str = Field(default="", max_length=500)
    suspended_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class Invite(SQLModel, table=True):
    __tablename__ = "invite"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=ID_LENGTH)
    # SHA-256 hex of the token: the token itself is shown once, in the invite link.
    token_hash: str = Field(max_length=64, unique=True)
    email: str = Field(index=True, max_length=320)
    # The inviter's tenant; NULL: the invitee gets a tenant of their own.
    tenant_id: str | None = Field(default=None, max_length=ID_LENGTH)
    role: str = Field(default="user", max_length=32)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    used_by: str | None = Field(default=None, max_length=ID_LENGTH)


class FeatureFlag(SQLModel, table=True):
    __tablename__ = "feature_flag"

    name: str = Field(primary_key=True, max_length=64)
    state: bool = Field(default=False)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class Plan(SQLModel, table=True):
    __tablename__ = "plan"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=ID_LENGTH)
    tenant_id: str = Field(index=True, max_length=ID_LENGTH)
    user_id: str = Field(default="", max_length=ID_LENGTH)
    name: str = Field(default="", max_length=200)
    status: str = Field(default="pending", max_length=16)
    execution_mode: str = Field(default="sequential", max_length=32)
    on_failure: str = Field(default="rollback_all", max_length=32)
    # The steps as reported: each step's request, status, command id, error and rollback.
    steps_json: str = Field(default="[]")
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class AgentMemory(SQLModel, table=True):
    __tablename__ = "agent_memory"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=ID_LENGTH)
    tenant_id: str = Field(index=True, max_length=ID_LENGTH)
    agent_id: str = Field(index=True, max_length=200)
    memory_type: str = Field(max_length=64)
    subject: str | None = Field(default=None, max_length=200)
    content_json: str = Field(default="{}")
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, index=True)
