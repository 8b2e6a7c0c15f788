"""GroupService: device groups of the caller's tenant (rules in server.domain.fleet.groups)."""

from __future__ import annotations

from typing import Any

from hxtp.cloud.v1 import group_pb2
from server.domain.fleet.groups import Groups, GroupView
from server.rpc import call_context
from server.rpc.convert import tenant, when


def _group(group: GroupView) -> group_pb2.Group:
    return group_pb2.Group(
        id=group.id,
        slug=group.slug,
        name=group.name,
        description=group.description,
        group_type=group.group_type,
        device_ids=group.device_ids,
        created_at=when(group.created_at),
        device_count=len(group.device_ids),
        member_count=group.member_count,
    )


class GroupServicer:
    def __init__(self, groups: Groups) -> None:
        self._groups = groups

    async def ListGroups(
        self, request: group_pb2.ListGroupsRequest, context: Any
    ) -> group_pb2.ListGroupsResponse:
        return group_pb2.ListGroupsResponse(groups=[_group(g) for g in await self._groups.all(tenant())])

    async def CreateGroup(
        self, request: group_pb2.CreateGroupRequest, context: Any
    ) -> group_pb2.CreateGroupResponse:
        group = await self._groups.create(
            tenant(),
            request.name,
            request.description if request.HasField("description") else None,
            list(request.device_ids),
            request.slug if request.HasField("slug") else None,
            request.group_type if request.HasField("group_type") else None,
        )
        return group_pb2.CreateGroupResponse(status="created", slug=group.slug, id=group.id)

    async def JoinGroup(
        self, request: group_pb2.JoinGroupRequest, context: Any
    ) -> group_pb2.JoinGroupResponse:
        group = await self._groups.join(tenant(), request.slug, call_context.principal().user_id)
        return group_pb2.JoinGroupResponse(status="joined", slug=group.slug)

    async def AddGroupDevices(
        self, request: group_pb2.AddGroupDevicesRequest, context: Any
    ) -> group_pb2.AddGroupDevicesResponse:
        group = await self._groups.add_devices(tenant(), request.group_id, list(request.device_ids))
        return group_pb2.AddGroupDevicesResponse(
            status="updated", id=group.id, slug=group.slug, device_ids=group.device_ids
        )
