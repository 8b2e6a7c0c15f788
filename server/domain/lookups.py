"""Loading one fleet row of the caller's tenant. Another tenant's row answers exactly like a missing
one (404), so ids from other tenants reveal nothing."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from server.errors import Code, HxtpError
from server.storage.fleet_tables import Device, Home, Room


def plausible_id(value: str) -> bool:
    """Worth a query: ids are short, and PostgreSQL refuses NUL characters in text outright."""
    return 0 < len(value) <= 64 and "\x00" not in value


async def home_in_tenant(session: AsyncSession, tenant_id: str, home_id: str) -> Home:
    home = await session.get(Home, home_id) if plausible_id(home_id) else None
    if home is None or home.tenant_id != tenant_id:
        raise HxtpError(Code.NOT_FOUND, "Home not found", field="home_id")
    return home


async def room_in_home(session: AsyncSession, home: Home, room_id: str) -> Room:
    room = await session.get(Room, room_id) if plausible_id(room_id) else None
    if room is None or room.home_id != home.id or room.tenant_id != home.tenant_id:
        raise HxtpError(Code.NOT_FOUND, "Room not found", field="room_id")
    return room


async def device_in_tenant(session: AsyncSession, tenant_id: str, device_id: str) -> Device:
    device = await session.get(Device, device_id) if plausible_id(device_id) else None
    if device is None or device.tenant_id != tenant_id:
        raise HxtpError(Code.NOT_FOUND, "Device not found", field="device_id")
    return device


async def room_in_tenant(session: AsyncSession, tenant_id: str, room_id: str) -> Room:
    room = await session.get(Room, room_id) if plausible_id(room_id) else None
    if room is None or room.tenant_id != tenant_id:
        raise HxtpError(Code.NOT_FOUND, "Room not found", field="room_id")
    return room


async def count(session: AsyncSession, statement: SelectOfScalar[int]) -> int:
    return int((await session.exec(statement)).one())
