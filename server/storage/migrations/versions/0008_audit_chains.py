"""Audit: one hash chain per tenant, each with its own head.

Revision ID: 0008_audit_chains
Revises: 0004_audit
Create Date: 2026-12-01

Continues the audit branch; start-up upgrades to "heads". Matches server/storage/audit_tables.py.
`audit_log` gains `chain_id` (the tenant id, "" for entries without a tenant) and its key becomes
(chain_id, row_id): row_id now counts within the chain. Rows written before this revision were
hashed as one chain across all tenants; they stay exactly as they are, in the chain named "*", so
their hashes still verify and nothing is rewritten. `audit_chain` holds one head per chain and
replaces the single `audit_chain_head` row, whose values become the head of "*".
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_audit_chains"
down_revision: str | None = "0004_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 36
HASH = 64
LEGACY_CHAIN = "*"


def upgrade() -> None:
    # Batch mode: SQLite cannot change a primary key in place (the table is rebuilt there). The default
    # only labels the existing rows; new rows always name their chain.
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("chain_id", sa.String(ID), nullable=False, server_default=LEGACY_CHAIN))
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("chain_id", existing_type=sa.String(ID), server_default=None)
        batch.drop_constraint("pk_audit_log", type_="primary")
        batch.create_primary_key("pk_audit_log", ["chain_id", "row_id"])
    op.create_table(
        "audit_chain",
        sa.Column("chain_id", sa.String(ID), nullable=False),
        sa.Column("last_row_id", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(HASH), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", name="pk_audit_chain"),
    )
    op.execute(
        "INSERT INTO audit_chain (chain_id, last_row_id, last_hash) "
        f"SELECT '{LEGACY_CHAIN}', last_row_id, last_hash FROM audit_chain_head WHERE last_row_id > 0"
    )
    op.drop_table("audit_chain_head")


def downgrade() -> None:
    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("last_row_id", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(HASH), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_chain_head"),
    )
    op.bulk_insert(head, [{"id": 1, "last_row_id": 0, "last_hash": "0" * HASH}])
    op.execute(
        "UPDATE audit_chain_head SET last_row_id = c.last_row_id, last_hash = c.last_hash "
        f"FROM (SELECT last_row_id, last_hash FROM audit_chain WHERE chain_id = '{LEGACY_CHAIN}') AS c"
    )
    op.drop_table("audit_chain")
    # Rows of the per-tenant chains cannot join the single chain without rewriting their hashes.
    op.execute(f"DELETE FROM audit_log WHERE chain_id <> '{LEGACY_CHAIN}'")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_constraint("pk_audit_log", type_="primary")
        batch.create_primary_key("pk_audit_log", ["row_id"])
        batch.drop_column("chain_id")
