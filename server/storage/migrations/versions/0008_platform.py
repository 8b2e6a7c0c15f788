"""Platform operations and assistant state: suspensions, invites, feature flags, plans, memories.

Revision ID: 0008_platform
Revises: 0001
Create Date: 2026-12-01

A sibling branch: start-up upgrades to "heads". Matches server/storage/platform_tables.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_platform"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "tenant_suspension",
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        _when("suspended_at"),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_tenant_suspension"),
    )
    op.create_table(
        "invite",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=True),
        sa.Column("role", sa.String(32), nullable=False),
        _when("created_at"),
        _when("expires_at"),
        _when("used_at", nullable=True),
        sa.Column("used_by", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_invite"),
        sa.UniqueConstraint("token_hash", name="uq_invite_token_hash"),
    )
    op.create_index("ix_invite_email", "invite", ["email"])
    op.create_table(
        "feature_flag",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("state", sa.Boolean(), nullable=False),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("name", name="pk_feature_flag"),
    )
    op.create_table(
        "plan",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("execution_mode", sa.String(32), nullable=False),
        sa.Column("on_failure", sa.String(32), nullable=False),
        sa.Column("steps_json", sa.String(), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_plan"),
    )
    op.create_index("ix_plan_tenant_id", "plan", ["tenant_id"])
    op.create_table(
        "agent_memory",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("agent_id", sa.String(200), nullable=False),
        sa.Column("memory_type", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(200), nullable=True),
        sa.Column("content_json", sa.String(), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_agent_memory"),
    )
    op.create_index("ix_agent_memory_tenant_id", "agent_memory", ["tenant_id"])
    op.create_index("ix_agent_memory_agent_id", "agent_memory", ["agent_id"])
    op.create_index("ix_agent_memory_created_at", "agent_memory", ["created_at"])


def downgrade() -> None:
    for index, table in (
        ("ix_agent_memory_created_at", "agent_memory"),
        ("ix_agent_memory_agent_id", "agent_memory"),
        ("ix_agent_memory_tenant_id", "agent_memory"),
    ):
        op.drop_index(index, table_name=table)
    op.drop_table("agent_memory")
    op.drop_index("ix_plan_tenant_id", table_name="plan")
    op.drop_table("plan")
    op.drop_table("feature_flag")
    op.drop_index("ix_invite_email", table_name="invite")
    op.drop_table("invite")
    op.drop_table("tenant_suspension")
