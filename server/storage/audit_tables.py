"""Audit tables: the hash-chained log and the one-row chain head that serialises appends.

Migration 0004_audit builds exactly these tables. ``audit_chain_head`` holds a single row (id 1) that
every append updates first: that UPDATE is the lock (a row lock on PostgreSQL, the write lock on
SQLite), so the read of the previous hash and the insert of the next row cannot interleave between
writers, whether they are tasks, engines or server processes. It also records the last row, so a
deleted tail is detected.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Text
from sqlmodel import Field, SQLModel

from server.storage.models import ID_LENGTH

HASH_LENGTH = 64  # sha256, lowercase hex
GENESIS_HASH = "0" * HASH_LENGTH
CHAIN_HEAD_ID = 1


class AuditEntryRow(SQLModel, table=True):
    __tablename__ = "audit_log"

    # Assigned by the append (previous row_id + 1), not by the database: it is hashed, so it must be
    # known before the insert and gap-free.
    row_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    prev_hash: str = Field(max_length=HASH_LENGTH)
    row_hash: str = Field(max_length=HASH_LENGTH)
    event_type: str = Field(max_length=64)
    tenant_id: str | None = Field(default=None, index=True, max_length=ID_LENGTH)
    user_id: str | None = Field(default=None, max_length=255)
    device_id: str | None = Field(default=None, index=True, max_length=64)
    action: str | None = Field(default=None, max_length=128)
    result: str = Field(max_length=64)
    # ISO 8601 text exactly as hashed: no driver round-trip can change what the hash covers.
    timestamp: str = Field(max_length=32)
    details: str = Field(sa_column=Column(Text, nullable=False))  # canonical JSON text, as hashed


class AuditChainHead(SQLModel, table=True):
    __tablename__ = "audit_chain_head"

    id: int = Field(primary_key=True)
    last_row_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_hash: str = Field(max_length=HASH_LENGTH)
