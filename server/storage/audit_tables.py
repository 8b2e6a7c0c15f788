"""Audit tables: the hash-chained log, one chain per tenant, and each chain's head.

Migrations 0004_audit and 0008_audit_chains build exactly these tables. ``audit_chain`` holds one row
per chain that every batch of appends to that chain updates first: that UPDATE is the lock (a row lock
on PostgreSQL, the write lock on SQLite), so the read of the previous hash and the insert of the next
rows cannot interleave between writers, whether they are tasks, engines or server processes, while
appends to other tenants' chains do not wait. It also records the last row, so a deleted tail is
detected.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, String, Text
from sqlmodel import Field, SQLModel

from server.storage.models import ID_LENGTH

HASH_LENGTH = 64  # sha256, lowercase hex
GENESIS_HASH = "0" * HASH_LENGTH
# Rows written before the chains were split by tenant: one chain across all tenants.
LEGACY_CHAIN = "*"


class AuditEntryRow(SQLModel, table=True):
    __tablename__ = "audit_log"

    # The tenant id ("" for entries without one); not hashed: it is derived from the hashed tenant_id.
    chain_id: str = Field(sa_column=Column(String(ID_LENGTH), primary_key=True))
    # The position in the chain, assigned by the append (previous row_id + 1), not by the database: it
    # is hashed, so it must be known before the insert and gap-free.
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
    __tablename__ = "audit_chain"

    chain_id: str = Field(sa_column=Column(String(ID_LENGTH), primary_key=True))
    last_row_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_hash: str = Field(max_length=HASH_LENGTH)
