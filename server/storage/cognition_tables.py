"""Observations, the proposals rules derive from them, and each tenant's rule set."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from server.storage.models import ID_LENGTH, new_id
from server.storage.types import UTCDateTime, utc_now


class Observation(SQLModel, table=True):
    __tablename__ = "observation"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=ID_LENGTH)
    tenant_id: str = Field(index=True, max_length=ID_LENGTH)
    device_id: str = Field(max_length=64)
    context: str = Field(default="", max_length=200)
    data_json: str = Field(default="{}")
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class Proposal(SQLModel, table=True):
    __tablename__ = "proposal"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=ID_LENGTH)
    tenant_id: str = Field(index=True, max_length=ID_LENGTH)
    observation_id: str = Field(max_length=ID_LENGTH)
    device_id: str = Field(max_length=64)
    context: str = Field(default="", max_length=200)
    observation_json: str = Field(default="{}")
    action: str = Field(max_length=64)
    params_json: str = Field(default="{}")
    targets_json: str = Field(default="[]")
    status: str = Field(default="pending", max_length=16)
    rationale: str = Field(default="", max_length=500)
    command_id: str | None = Field(default=None, max_length=ID_LENGTH)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RuleSet(SQLModel, table=True):
    __tablename__ = "rule_set"

    tenant_id: str = Field(primary_key=True, max_length=ID_LENGTH)
    rules_json: str = Field(default="[]")
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
