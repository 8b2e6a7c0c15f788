"""Commands: an index on status, for the restart sweep of commands left in flight.

Revision ID: 0008_command_status
Revises: 0005_commands
Create Date: 2026-12-01

Continues the commands branch; start-up upgrades to "heads". Matches server/storage/command_tables.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008_command_status"
down_revision: str | None = "0005_commands"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_command_status", "command", ["status"])


def downgrade() -> None:
    op.drop_index("ix_command_status", table_name="command")
