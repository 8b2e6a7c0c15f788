"""HomeService: homes and rooms of the caller's tenant (rules in server.domain.fleet.homes)."""

from __future__ import annotations

from typing import Any

from hxtp.cloud.v1 import home_pb2
from server.domain.fleet.homes import Homes, HomeView, RoomView
from server.rpc.convert import tenant, when


def _home(home: HomeView) -> home_pb2.Home:
    return home_pb2.Home(
        id=home.id,
        home_name=home.name,
        name=home.name,
        timezone=home.timezone,
        created_at=when(home.created_at),
    )


def _room(room: RoomView) -> home_pb2.Room:
    return home_pb2.Room(id=room.id, name=room.name, home_id=room.home_id, created_at=when(room.created_at))


class HomeServicer:
    def __init__(self, homes: Homes) -> None:
        self._homes = homes

    async def CreateHome(
        self, request: home_pb2.CreateHomeRequest, context: Any
    ) -> home_pb2.CreateHomeResponse:
        timezone = request.timezone if request.HasField("timezone") else None
        home = await self._homes.create(tenant(), request.home_name, timezone)
        return home_pb2.CreateHomeResponse(status="created", id=home.id)

    async def ListHomes(self, request: home_pb2.ListHomesRequest, context: Any) -> home_pb2.ListHomesResponse:
        return home_pb2.ListHomesResponse(homes=[_home(h) for h in await self._homes.all(tenant())])

    async def UpdateHome(
        self, request: home_pb2.UpdateHomeRequest, context: Any
    ) -> home_pb2.UpdateHomeResponse:
        home = await self._homes.update(
            tenant(),
            request.home_id,
            request.home_name if request.HasField("home_name") else None,
            request.timezone if request.HasField("timezone") else None,
        )
        return home_pb2.UpdateHomeResponse(status="updated", id=home.id)

    async def DeleteHome(
        self, request: home_pb2.DeleteHomeRequest, context: Any
    ) -> home_pb2.DeleteHomeResponse:
        await self._homes.delete(tenant(), request.home_id)
        return home_pb2.DeleteHomeResponse(status="deleted", id=request.home_id)

    async def CreateRoom(
        self, request: home_pb2.CreateRoomRequest, context: Any
    ) -> home_pb2.CreateRoomResponse:
        room = await self._homes.add_room(tenant(), request.home_id, request.name)
        return home_pb2.CreateRoomResponse(status="created", id=room.id)

    async def ListRooms(self, request: home_pb2.ListRoomsRequest, context: Any) -> home_pb2.ListRoomsResponse:
        rooms = await self._homes.rooms(tenant(), request.home_id)
        return home_pb2.ListRoomsResponse(rooms=[_room(r) for r in rooms])

    async def DeleteRoom(
        self, request: home_pb2.DeleteRoomRequest, context: Any
    ) -> home_pb2.DeleteRoomResponse:
        await self._homes.delete_room(tenant(), request.home_id, request.room_id)
        return home_pb2.DeleteRoomResponse(status="deleted", id=request.room_id)
