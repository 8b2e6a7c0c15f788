"""SQLModel tables and the one MetaData every table and migration shares.

Every table lives under ``server.storage`` and is registered on ``SQLModel.metadata`` (exported here as
``metadata``). The naming convention gives every constraint and index a stable, predictable name, which
later migrations need to drop or alter them (SQLite's batch mode cannot address unnamed constraints).
It is set before the first table is declared because names are assigned when a table is built.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import MetaData
from sqlmodel import Field, SQLModel

from contract.ids import random_uuid
from server.storage.types import UTCDateTime, utc_now

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata: MetaData = SQLModel.metadata
metadata.naming_convention = NAMING_CONVENTION

ID_LENGTH = 36  # a canonical UUID string


def new_id() -> str:
    return random_uuid()


class Tenant(SQLModel, table=True):
    __tablename__ = "tenant"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=ID_LENGTH)
    name: str = Field(max_length=200)
    slug: str = Field(max_length=100, unique=True)
    tier: str = Field(default="free", max_length=32)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class User(SQLModel, table=True):
    __tablename__ = "user"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=ID_LENGTH)
    # Unique as stored: callers normalise (lower-case) addresses before they reach this table.
    email: str = Field(max_length=320, unique=True)
    tenant_id: str | None = Field(default=None, foreign_key="tenant.id", index=True, max_length=ID_LENGTH)
    role: str = Field(default="none", max_length=32)
    # The identity provider's subject ("sub" claim); NULL for users who never signed in through one.
    external_subject: str | None = Field(default=None, unique=True, max_length=255)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
