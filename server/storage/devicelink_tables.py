"""Device-link tables: the link state of each device: its persisted outbound sequence counter and the
signing variant its verified messages were seen to use.

The firmware rejects any cloud message whose sequence number is not strictly greater than the last
one it accepted (wire protocol §7), so the counter must survive restarts and be shared by replicas.
One row per device, advanced by a single atomic UPDATE ... RETURNING (see
server.domain.link.sequence). No foreign key to `device`: the fleet branch of the migrations is
a sibling of this one, and a counter row for a deleted device is harmless.
`signing_variant` (an ext VARIANT_* name, NULL until a verified message was seen) is written by
server.domain.link.variants and decides how outbound messages are signed, framed and hashed; a row
created for it alone starts `last_sequence` at 0 (the counter's clock floor then applies).
Migration 0004_devicelink builds this table, 0007_link_variant adds `signing_variant`.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, String
from sqlmodel import Field, SQLModel

DEVICE_ID_LENGTH = 32  # the firmware's limit (wire protocol §3.1)
VARIANT_LENGTH = 32  # the longest ext VARIANT_* name is 20 characters


class DeviceLinkSequence(SQLModel, table=True):
    __tablename__ = "device_link_sequence"

    device_id: str = Field(sa_column=Column(String(DEVICE_ID_LENGTH), primary_key=True))
    last_sequence: int = Field(sa_column=Column(BigInteger, nullable=False))
    signing_variant: str | None = Field(default=None, sa_column=Column(String(VARIANT_LENGTH), nullable=True))
