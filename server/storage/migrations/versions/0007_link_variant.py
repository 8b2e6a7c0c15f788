"""Device link: the signing variant each device's verified messages were seen to use.

Revision ID: 0007_link_variant
Revises: 0004_devicelink
Create Date: 2026-01-07

Continues the device-link branch; start-up upgrades to "heads". Matches
server/storage/devicelink_tables.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_link_variant"
down_revision: str | None = "0004_devicelink"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("device_link_sequence", sa.Column("signing_variant", sa.String(32), nullable=True))


def downgrade() -> None:
    # SQLite cannot drop a column in place; batch mode rebuilds the table there, and is a plain
    # ALTER TABLE on PostgreSQL.
    with op.batch_alter_table("device_link_sequence") as batch:
        batch.drop_column("signing_variant")
