"""Audit: the hash-chained log and its one-row chain head.

Revision ID: 0004_audit
Revises: 0001
Create Date: 2026-01-03

A sibling of the identity (0002) and fleet (0003) branches; start-up upgrades to "heads". Written by
hand like 0001; names follow the naming convention of server.storage.models and match
server/storage/audit_tables.py. The chain head starts at the genesis: no rows, previous hash 64 zeros.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_audit"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 36
HASH = 64


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("row_id", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("prev_hash", sa.String(HASH), nullable=False),
        sa.Column("row_hash", sa.String(HASH), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(ID), nullable=True),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("device_id", sa.String(64), nullable=True),
        sa.Column("action", sa.String(128), nullable=True),
        sa.Column("result", sa.String(64), nullable=False),
        sa.Column("timestamp", sa.String(32), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("row_id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_tenant_id", "audit_log", ["tenant_id"], unique=False)
    op.create_index("ix_audit_log_device_id", "audit_log", ["device_id"], unique=False)
    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("last_row_id", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(HASH), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_chain_head"),
    )
    op.bulk_insert(head, [{"id": 1, "last_row_id": 0, "last_hash": "0" * HASH}])


def downgrade() -> None:
    op.drop_table("audit_chain_head")
    op.drop_index("ix_audit_log_device_id", table_name="audit_log")
    op.drop_index("ix_audit_log_tenant_id", table_name="audit_log")
    op.drop_table("audit_log")
