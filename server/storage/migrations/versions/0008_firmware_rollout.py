"""Firmware rollouts: staged OTA delivery and each targeted device's progress.

Revision ID: 0008_firmware_rollout
Revises: 0001
Create Date: 2026-12-01

A sibling branch (like 0003 fleet and 0004 device link): start-up upgrades to "heads". Matches
server/storage/rollout_tables.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_firmware_rollout"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 36
DEVICE_ID = 32


def _when(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "firmware_rollout",
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("tenant_id", sa.String(ID), nullable=False),
        sa.Column("firmware_id", sa.String(ID), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(ID), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("stages_json", sa.Text(), nullable=False),
        sa.Column("current_stage", sa.Integer(), nullable=False),
        sa.Column("failure_threshold", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        _when("created_at"),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_firmware_rollout"),
    )
    op.create_index("ix_firmware_rollout_tenant_id", "firmware_rollout", ["tenant_id"])
    op.create_index("ix_firmware_rollout_firmware_id", "firmware_rollout", ["firmware_id"])
    op.create_table(
        "firmware_rollout_device",
        sa.Column("rollout_id", sa.String(ID), nullable=False),
        sa.Column("device_id", sa.String(DEVICE_ID), nullable=False),
        sa.Column("tenant_id", sa.String(ID), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("command_id", sa.String(ID), nullable=True),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("rollout_id", "device_id", name="pk_firmware_rollout_device"),
    )


def downgrade() -> None:
    op.drop_table("firmware_rollout_device")
    op.drop_table("firmware_rollout")
