"""Cognition: observations, proposals, per-tenant rule sets.

Revision ID: 0006_cognition
Revises: 0001
Create Date: 2026-11-26

A sibling branch: start-up upgrades to "heads". Matches server/storage/cognition_tables.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_cognition"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "observation",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("context", sa.String(200), nullable=False),
        sa.Column("data_json", sa.String(), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_observation"),
    )
    op.create_index("ix_observation_tenant_id", "observation", ["tenant_id"])
    op.create_table(
        "proposal",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("observation_id", sa.String(36), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("context", sa.String(200), nullable=False),
        sa.Column("observation_json", sa.String(), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("params_json", sa.String(), nullable=False),
        sa.Column("targets_json", sa.String(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rationale", sa.String(500), nullable=False),
        sa.Column("command_id", sa.String(36), nullable=True),
        _when("created_at"),
        _when("decided_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_proposal"),
    )
    op.create_index("ix_proposal_tenant_id", "proposal", ["tenant_id"])
    op.create_table(
        "rule_set",
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("rules_json", sa.String(), nullable=False),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_rule_set"),
    )


def downgrade() -> None:
    op.drop_table("rule_set")
    op.drop_index("ix_proposal_tenant_id", table_name="proposal")
    op.drop_table("proposal")
    op.drop_index("ix_observation_tenant_id", table_name="observation")
    op.drop_table("observation")
