"""Homes ("Smart Spaces") and their rooms, always within the caller's tenant.

Deleting a home is refused with 409 while it still has rooms or unrevoked devices: deleting devices
silently would destroy their secrets and manifests, so the caller deletes the rooms and revokes the
devices first; revoked devices then stay on record with home_id null. Deleting a room leaves its
devices in the home, unassigned (room_id null).
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select, update

from server.domain import fields
from server.domain.lookups import count, home_in_tenant, room_in_home
from server.errors import Code, HxtpError
from server.storage.database import Database
from server.storage.fleet_tables import Device, Home, Room
from server.storage.types import utc_now

DEFAULT_TIMEZONE = "UTC"


@dataclass(frozen=True)
class HomeView:
    id: str
    name: str
    timezone: str
    created_at: datetime


@dataclass(frozen=True)
class RoomView:
    id: str
    name: str
    home_id: str
    created_at: datetime


def valid_timezone(value: str | None) -> str:
    """An IANA zone name as the tz database spells it; "UTC" when none is given."""
    zone = (value or "").strip()
    if not zone:
        return DEFAULT_TIMEZONE
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise fields.bad("timezone", f"unknown IANA time zone {zone!r}") from None
    return zone


def _home_view(home: Home) -> HomeView:
    return HomeView(home.id, home.name, home.timezone, home.created_at)


def _room_view(room: Room) -> RoomView:
    return RoomView(room.id, room.name, room.home_id, room.created_at)


class Homes:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(self, tenant_id: str, name: str, timezone: str | None) -> HomeView:
        home = Home(
            tenant_id=tenant_id,
            name=fields.text("home_name", name, 200),
            timezone=valid_timezone(timezone),
        )
        async with self._db.session() as session:
            session.add(home)
            await session.commit()
        return _home_view(home)

    async def all(self, tenant_id: str) -> list[HomeView]:
        async with self._db.session() as session:
            rows = await session.exec(
                select(Home).where(Home.tenant_id == tenant_id).order_by(col(Home.created_at), col(Home.id))
            )
            return [_home_view(home) for home in rows]

    async def update(self, tenant_id: str, home_id: str, name: str | None, timezone: str | None) -> HomeView:
        async with self._db.session() as session:
            home = await home_in_tenant(session, tenant_id, home_id)
            if name is not None:
                home.name = fields.text("home_name", name, 200)
            if timezone is not None:
                home.timezone = valid_timezone(timezone)
            session.add(home)
            await session.commit()
        return _home_view(home)

    async def delete(self, tenant_id: str, home_id: str) -> None:
        async with self._db.session() as session:
            home = await home_in_tenant(session, tenant_id, home_id)
            rooms = await count(session, select(func.count()).where(Room.home_id == home.id))
            devices = await count(
                session, select(func.count()).where(Device.home_id == home.id, col(Device.revoked).is_(False))
            )
            if rooms or devices:
                raise HxtpError(
                    Code.CONFLICT,
                    f"Home still has {rooms} room(s) and {devices} device(s); delete the rooms and "
                    "revoke or move the devices first",
                )
            # Revoked devices keep their history but leave the home.
            await session.exec(
                update(Device)
                .where(col(Device.home_id) == home.id)
                .values(home_id=None, updated_at=utc_now())
            )
            await session.delete(home)
            await session.commit()

    async def add_room(self, tenant_id: str, home_id: str, name: str) -> RoomView:
        room_name = fields.text("name", name, 200)
        async with self._db.session() as session:
            home = await home_in_tenant(session, tenant_id, home_id)
            room = Room(tenant_id=tenant_id, home_id=home.id, name=room_name)
            session.add(room)
            await session.commit()
        return _room_view(room)

    async def rooms(self, tenant_id: str, home_id: str) -> list[RoomView]:
        async with self._db.session() as session:
            home = await home_in_tenant(session, tenant_id, home_id)
            rows = await session.exec(
                select(Room).where(Room.home_id == home.id).order_by(col(Room.created_at), col(Room.id))
            )
            return [_room_view(room) for room in rows]

    async def delete_room(self, tenant_id: str, home_id: str, room_id: str) -> None:
        async with self._db.session() as session:
            home = await home_in_tenant(session, tenant_id, home_id)
            room = await room_in_home(session, home, room_id)
            await session.exec(
                update(Device)
                .where(col(Device.room_id) == room.id)
                .values(room_id=None, updated_at=utc_now())
            )
            await session.delete(room)
            await session.commit()
