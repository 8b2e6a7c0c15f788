"""Fleet: homes, rooms, devices, device keys, groups, manifests, firmware releases.

Revision ID: 0003_fleet
Revises: 0001
Create Date: 2026-01-02

A sibling of the identity branch (0002): neither depends on the other, and start-up upgrades to
"heads". Written by hand like 0001; names follow the naming convention of server.storage.models and
match server/storage/fleet_tables.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_fleet"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 36
DEVICE_ID = 32


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "home",
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("tenant_id", sa.String(ID), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_home"),
    )
    op.create_index("ix_home_tenant_id", "home", ["tenant_id"])
    op.create_table(
        "room",
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("tenant_id", sa.String(ID), nullable=False),
        sa.Column("home_id", sa.String(ID), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_room"),
        sa.ForeignKeyConstraint(["home_id"], ["home.id"], name="fk_room_home_id_home"),
    )
    op.create_index("ix_room_tenant_id", "room", ["tenant_id"])
    op.create_index("ix_room_home_id", "room", ["home_id"])
    op.create_table(
        "device",
        sa.Column("id", sa.String(DEVICE_ID), nullable=False),
        sa.Column("tenant_id", sa.String(ID), nullable=False),
        sa.Column("device_type", sa.String(64), nullable=False),
        sa.Column("home_id", sa.String(ID), nullable=True),
        sa.Column("room_id", sa.String(ID), nullable=True),
        sa.Column("protocol", sa.String(32), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=True),
        sa.Column("firmware", sa.String(64), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        _when("revoked_at", nullable=True),
        _when("last_seen", nullable=True),
        _when("last_heartbeat", nullable=True),
        _when("created_at"),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_device"),
        sa.ForeignKeyConstraint(["home_id"], ["home.id"], name="fk_device_home_id_home"),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"], name="fk_device_room_id_room"),
    )
    op.create_index("ix_device_tenant_id", "device", ["tenant_id"])
    op.create_index("ix_device_home_id", "device", ["home_id"])
    op.create_index("ix_device_room_id", "device", ["room_id"])
    op.create_table(
        "device_key",
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("device_id", sa.String(DEVICE_ID), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("algorithm", sa.String(32), nullable=False),
        sa.Column("sealed_secret", sa.LargeBinary(), nullable=False),
        _when("created_at"),
        _when("retired_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_device_key"),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"], name="fk_device_key_device_id_device"),
        sa.UniqueConstraint("device_id", "version", name="uq_device_key_device_id"),
    )
    op.create_index("ix_device_key_device_id", "device_key", ["device_id"])
    op.create_table(
        "device_group",
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("tenant_id", sa.String(ID), nullable=False),
        sa.Column("slug", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.String(1000), nullable=False),
        sa.Column("group_type", sa.String(64), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_device_group"),
        sa.UniqueConstraint("tenant_id", "slug", name="uq_device_group_tenant_id"),
    )
    op.create_index("ix_device_group_tenant_id", "device_group", ["tenant_id"])
    op.create_table(
        "group_device",
        sa.Column("group_id", sa.String(ID), nullable=False),
        sa.Column("device_id", sa.String(DEVICE_ID), nullable=False),
        _when("added_at"),
        sa.PrimaryKeyConstraint("group_id", "device_id", name="pk_group_device"),
        sa.ForeignKeyConstraint(
            ["group_id"], ["device_group.id"], name="fk_group_device_group_id_device_group"
        ),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"], name="fk_group_device_device_id_device"),
    )
    op.create_table(
        "group_member",
        sa.Column("group_id", sa.String(ID), nullable=False),
        sa.Column("user_id", sa.String(ID), nullable=False),
        _when("joined_at"),
        sa.PrimaryKeyConstraint("group_id", "user_id", name="pk_group_member"),
        sa.ForeignKeyConstraint(
            ["group_id"], ["device_group.id"], name="fk_group_member_group_id_device_group"
        ),
    )
    op.create_table(
        "device_manifest",
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("tenant_id", sa.String(ID), nullable=False),
        sa.Column("device_id", sa.String(DEVICE_ID), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("capabilities", sa.Text(), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_device_manifest"),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"], name="fk_device_manifest_device_id_device"),
        sa.UniqueConstraint("device_id", "version", name="uq_device_manifest_device_id"),
    )
    op.create_index("ix_device_manifest_tenant_id", "device_manifest", ["tenant_id"])
    op.create_index("ix_device_manifest_device_id", "device_manifest", ["device_id"])
    op.create_table(
        "firmware_release",
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("tenant_id", sa.String(ID), nullable=False),
        sa.Column("device_type", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("ed25519_signature", sa.String(128), nullable=False),
        sa.Column("url", sa.String(2000), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        _when("released_at", nullable=True),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_firmware_release"),
        sa.UniqueConstraint("tenant_id", "device_type", "version", name="uq_firmware_release_tenant_id"),
    )
    op.create_index("ix_firmware_release_tenant_id", "firmware_release", ["tenant_id"])


def downgrade() -> None:
    op.drop_table("firmware_release")
    op.drop_table("device_manifest")
    op.drop_table("group_member")
    op.drop_table("group_device")
    op.drop_table("device_group")
    op.drop_table("device_key")
    op.drop_table("device")
    op.drop_table("room")
    op.drop_table("home")
