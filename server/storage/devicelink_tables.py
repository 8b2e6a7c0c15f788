"""Device-link tables: the persisted outbound sequence counter of each device.

The firmware rejects any cloud message whose sequence number is not strictly greater than the last
one it accepted (wire protocol §7), so the counter must survive restarts and be shared by replicas.
One row per device, advanced by a single atomic UPDATE ... RETURNING (see
server.domain.outbound_sequence). No foreign key to `device`: the fleet branch of the migrations is
a sibling of this one, and a counter row for a deleted device is harmless.
Migration 0004_devicelink builds exactly this table.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, String
from sqlmodel import Field, SQLModel

DEVICE_ID_LENGTH = 32  # the firmware's limit (wire protocol §3.1)


class DeviceLinkSequence(SQLModel, table=True):
    __tablename__ = "device_link_sequence"

    device_id: str = Field(sa_column=Column(String(DEVICE_ID_LENGTH), primary_key=True))
    last_sequence: int = Field(sa_column=Column(BigInteger, nullable=False))
