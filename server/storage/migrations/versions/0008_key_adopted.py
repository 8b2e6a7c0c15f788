"""Fleet: when the device was first seen holding each key version.

Revision ID: 0008_key_adopted
Revises: 0003_fleet
Create Date: 2026-01-08

Continues the fleet branch; start-up upgrades to "heads". Matches server/storage/fleet_tables.py.
Existing keys count as adopted when they were created: the server signed with the newest version
before this revision, so that stays the signing key.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_key_adopted"
down_revision: str | None = "0003_fleet"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("device_key", sa.Column("adopted_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE device_key SET adopted_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table("device_key") as batch:
        batch.drop_column("adopted_at")
