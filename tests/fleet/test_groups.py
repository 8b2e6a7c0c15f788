"""Groups through REST and native gRPC: both body forms, slugs, membership, tenant isolation."""

from __future__ import annotations

import pytest

from hxtp.cloud.v1 import group_pb2
from server.domain.identity.principal import Role
from server.errors import HxtpError
from tests.fleet.conftest import OTHER_TENANT, TENANT, Client, Rpc

GROUP = "/hxtp.cloud.v1.GroupService/"


async def test_both_create_forms_list_join_and_add(client: Client) -> None:
    home_id = await client.home()
    a, b, c = [(await client.device(home_id))["device_id"] for _ in range(3)]
    seed = await client.call(
        "POST",
        "/groups",
        json={
            "name": "Living Room Lights",
            "description": "All lights in living room",
            "device_ids": [a, b, a],
        },
    )
    assert seed.status_code == 201
    assert seed.json()["status"] == "created" and seed.json()["slug"] == "living-room-lights"
    sdk = await client.call(
        "POST", "/groups", json={"name": "Night", "slug": "night-mode", "group_type": "scene"}
    )
    assert sdk.json()["slug"] == "night-mode"

    joined = await client.call("POST", "/groups/living-room-lights/join", role=Role.USER, json={})
    assert joined.json() == {"status": "joined", "slug": "living-room-lights"}
    rejoined = await client.call("POST", f"/groups/{seed.json()['id']}/join", role=Role.USER)
    assert rejoined.status_code == 200  # by id too; joining twice changes nothing

    added = await client.call("POST", "/groups/night-mode/devices", json={"device_ids": [c]})
    assert added.json() == {
        "status": "updated",
        "id": sdk.json()["id"],
        "slug": "night-mode",
        "device_ids": [c],
    }
    more = await client.call("POST", f"/groups/{seed.json()['id']}/devices", json={"device_ids": [b, c]})
    assert more.json()["device_ids"] == [a, b, c]

    groups = (await client.call("GET", "/groups", role=Role.USER)).json()["groups"]
    summary = [(g["slug"], g["name"], g["group_type"], g["device_count"], g["member_count"]) for g in groups]
    assert summary == [
        ("living-room-lights", "Living Room Lights", "", 3, 1),
        ("night-mode", "Night", "scene", 1, 0),
    ]
    assert groups[0]["description"] == "All lights in living room" and groups[0]["device_ids"] == [a, b, c]
    assert (await client.call("GET", "/groups", tenant=OTHER_TENANT)).json() == {"groups": []}
    # The domain's lookup (used by group commands) takes a slug or an id, within the tenant only.
    by_slug = await client.app.groups.get(TENANT, "night-mode")
    assert by_slug == await client.app.groups.get(TENANT, sdk.json()["id"])
    with pytest.raises(HxtpError):
        await client.app.groups.get(OTHER_TENANT, "night-mode")
    # The same slug in another tenant is a different group.
    assert (
        await client.call("POST", "/groups", tenant=OTHER_TENANT, json={"name": "Night Mode"})
    ).status_code == 201


async def test_group_errors(client: Client) -> None:
    home_id = await client.home()
    mine = (await client.device(home_id))["device_id"]
    theirs = (await client.device(await client.home(tenant=OTHER_TENANT), tenant=OTHER_TENANT))["device_id"]
    await client.call("POST", "/groups", json={"name": "Kitchen"})
    cases = [
        ({"name": "Kitchen"}, 409, None),
        ({"name": ""}, 400, "name"),
        ({"name": "!!!"}, 400, "name"),
        ({"name": "X", "slug": "Bad Slug"}, 400, "slug"),
        ({"name": "X", "device_ids": [mine, theirs]}, 404, "device_id"),
        ({"name": "X", "description": "d" * 1001}, 400, "description"),
    ]
    for body, status, field in cases:
        response = await client.call("POST", "/groups", json=body)
        assert (response.status_code, response.json().get("field")) == (status, field), body
    assert (
        await client.call("POST", "/groups/kitchen/devices", json={"device_ids": [theirs]})
    ).status_code == 404
    assert (await client.call("POST", "/groups/kitchen/devices", json={"device_ids": []})).status_code == 400
    assert (await client.call("POST", "/groups/nope/devices", json={"device_ids": [mine]})).status_code == 404
    assert (await client.call("POST", "/groups/nope/join")).status_code == 404
    assert (await client.call("POST", "/groups/kitchen/join", tenant=OTHER_TENANT)).status_code == 404
    assert (await client.call("POST", "/groups", role=Role.USER, json={"name": "U"})).status_code == 403
    assert (await client.call("GET", "/groups", role=Role.VIEWER)).status_code == 403
    # Nothing was half-created by the refused calls.
    assert [g["slug"] for g in (await client.call("GET", "/groups")).json()["groups"]] == ["kitchen"]


async def test_groups_over_grpc(client: Client, rpc: Rpc) -> None:
    device_id = (await client.device(await client.home()))["device_id"]
    created = await rpc(
        GROUP + "CreateGroup",
        group_pb2.CreateGroupRequest(name="Porch Lights"),
        group_pb2.CreateGroupResponse,
    )
    assert (created.status, created.slug) == ("created", "porch-lights")
    joined = await rpc(
        GROUP + "JoinGroup",
        group_pb2.JoinGroupRequest(slug="porch-lights"),
        group_pb2.JoinGroupResponse,
        role=Role.USER,
    )
    assert joined.status == "joined"
    added = await rpc(
        GROUP + "AddGroupDevices",
        group_pb2.AddGroupDevicesRequest(group_id=created.id, device_ids=[device_id]),
        group_pb2.AddGroupDevicesResponse,
    )
    assert list(added.device_ids) == [device_id]
    listed = await rpc(
        GROUP + "ListGroups", group_pb2.ListGroupsRequest(), group_pb2.ListGroupsResponse, role=Role.USER
    )
    assert [(g.slug, g.device_count, g.member_count) for g in listed.groups] == [("porch-lights", 1, 1)]
    failures = [
        (
            "CreateGroup",
            group_pb2.CreateGroupRequest(name="Porch Lights"),
            group_pb2.CreateGroupResponse,
            "CONFLICT",
        ),
        ("CreateGroup", group_pb2.CreateGroupRequest(name=""), group_pb2.CreateGroupResponse, "BAD_REQUEST"),
        ("JoinGroup", group_pb2.JoinGroupRequest(slug="nope"), group_pb2.JoinGroupResponse, "NOT_FOUND"),
        (
            "AddGroupDevices",
            group_pb2.AddGroupDevicesRequest(group_id=created.id, device_ids=["nope"]),
            group_pb2.AddGroupDevicesResponse,
            "NOT_FOUND",
        ),
    ]
    for method, request, reply, code in failures:
        assert (await rpc.fails(GROUP + method, request, reply))[0] == code, method
    assert (
        await rpc.fails(
            GROUP + "ListGroups", group_pb2.ListGroupsRequest(), group_pb2.ListGroupsResponse, tenant=None
        )
    )[0] == "TENANT_REQUIRED"
