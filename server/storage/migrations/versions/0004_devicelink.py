"""Device link: the persisted outbound sequence counter per device.

Revision ID: 0004_devicelink
Revises: 0001
Create Date: 2026-01-03

A sibling branch (like 0002 identity and 0003 fleet): start-up upgrades to "heads". Matches
server/storage/devicelink_tables.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_devicelink"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_link_sequence",
        sa.Column("device_id", sa.String(32), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("device_id", name="pk_device_link_sequence"),
    )


def downgrade() -> None:
    op.drop_table("device_link_sequence")
