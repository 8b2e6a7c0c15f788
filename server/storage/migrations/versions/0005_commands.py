"""Commands and their status.

Revision ID: 0005_commands
Revises: 0001
Create Date: 2026-11-26

A sibling branch like 0002-0004: start-up upgrades to "heads". Matches server/storage/command_tables.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_commands"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "command",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("params_json", sa.String(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_command"),
    )
    for column in ("tenant_id", "device_id", "message_id", "created_at"):
        op.create_index(f"ix_command_{column}", "command", [column])


def downgrade() -> None:
    for column in ("tenant_id", "device_id", "message_id", "created_at"):
        op.drop_index(f"ix_command_{column}", table_name="command")
    op.drop_table("command")
