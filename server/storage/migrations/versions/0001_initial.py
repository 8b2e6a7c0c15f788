"""Tenants and users.

Revision ID: 0001
Revises:
Create Date: 2026-01-01

Written by hand: every column, constraint and index is spelled out (names follow the naming convention
in server.storage.models) so the schema does not depend on how a future model change renders.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenant",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("tier", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenant"),
        sa.UniqueConstraint("slug", name="uq_tenant_slug"),
    )
    op.create_table(
        "user",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("external_subject", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_user"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_user_tenant_id_tenant"),
        sa.UniqueConstraint("email", name="uq_user_email"),
        sa.UniqueConstraint("external_subject", name="uq_user_external_subject"),
    )
    op.create_index("ix_user_tenant_id", "user", ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_user_tenant_id", table_name="user")
    op.drop_table("user")
    op.drop_table("tenant")
