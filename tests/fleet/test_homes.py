"""Homes and rooms through REST and native gRPC."""

from __future__ import annotations

import re

from hxtp.cloud.v1 import home_pb2
from server.domain.identity.principal import Role
from tests.fleet.conftest import OTHER_TENANT, Client, Rpc

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
HOME = "/hxtp.cloud.v1.HomeService/"


async def test_homes_accept_both_names_and_list_both(client: Client) -> None:
    web = await client.call("POST", "/homes", json={"name": "Flat", "timezone": "Europe/Berlin"})
    assert web.status_code == 201 and web.json()["status"] == "created"
    sdk = await client.call("POST", "/homes", json={"home_name": "Cabin"})
    assert sdk.status_code == 201
    homes = (await client.call("GET", "/homes", role=Role.VIEWER)).json()["homes"]
    assert [(h["id"], h["home_name"], h["name"], h["timezone"]) for h in homes] == [
        (web.json()["id"], "Flat", "Flat", "Europe/Berlin"),
        (sdk.json()["id"], "Cabin", "Cabin", "UTC"),
    ]
    assert all(ISO_Z.match(h["created_at"]) for h in homes)

    patched = await client.call("PATCH", f"/homes/{sdk.json()['id']}", json={"timezone": "Asia/Tokyo"})
    assert patched.json() == {"status": "updated", "id": sdk.json()["id"]}
    renamed = await client.call("PATCH", f"/homes/{sdk.json()['id']}", json={"name": "Lodge"})
    assert renamed.status_code == 200
    homes = (await client.call("GET", "/homes")).json()["homes"]
    assert (homes[1]["name"], homes[1]["timezone"]) == ("Lodge", "Asia/Tokyo")
    # Another tenant sees none of them.
    assert (await client.call("GET", "/homes", tenant=OTHER_TENANT)).json() == {"homes": []}

    deleted = await client.call("DELETE", f"/homes/{web.json()['id']}")
    assert deleted.json() == {"status": "deleted", "id": web.json()["id"]}
    assert [h["name"] for h in (await client.call("GET", "/homes")).json()["homes"]] == ["Lodge"]


async def test_home_input_errors_name_the_field(client: Client) -> None:
    missing = await client.call("POST", "/homes", json={"timezone": "UTC"})
    assert missing.status_code == 400 and missing.json()["field"] == "home_name"
    bad_zone = await client.call("POST", "/homes", json={"home_name": "X", "timezone": "Mars/Olympus"})
    assert bad_zone.status_code == 400 and bad_zone.json()["field"] == "timezone"
    assert "Mars/Olympus" in bad_zone.json()["error"]
    too_long = await client.call("POST", "/homes", json={"home_name": "x" * 201})
    assert too_long.status_code == 400 and too_long.json()["field"] == "home_name"
    home_id = await client.home()
    blank = await client.call("PATCH", f"/homes/{home_id}", json={"home_name": "  "})
    assert blank.status_code == 400 and blank.json()["field"] == "home_name"
    traversal = await client.call("PATCH", f"/homes/{home_id}", json={"timezone": "../../etc/passwd"})
    assert traversal.status_code == 400 and traversal.json()["field"] == "timezone"
    for method, path in [("PATCH", "/homes/nope"), ("DELETE", "/homes/nope"), ("GET", "/homes/nope/rooms")]:
        assert (await client.call(method, path, json={})).status_code == 404
    # Another tenant's home is as unknown as a missing one.
    for method, path in [("PATCH", f"/homes/{home_id}"), ("DELETE", f"/homes/{home_id}")]:
        assert (await client.call(method, path, tenant=OTHER_TENANT, json={})).status_code == 404
    assert (
        await client.call("POST", f"/homes/{home_id}/rooms", tenant=OTHER_TENANT, json={"name": "R"})
    ).status_code == 404
    viewer = await client.call("POST", "/homes", role=Role.VIEWER, json={"home_name": "X"})
    assert viewer.status_code == 403


async def test_rooms_and_the_delete_home_rule(client: Client) -> None:
    home_id = await client.home()
    room = await client.call("POST", f"/homes/{home_id}/rooms", json={"name": "Kitchen"})
    assert room.status_code == 201 and room.json()["status"] == "created"
    room_id = room.json()["id"]
    rooms = (await client.call("GET", f"/homes/{home_id}/rooms", role=Role.VIEWER)).json()["rooms"]
    assert [(r["id"], r["name"], r["home_id"]) for r in rooms] == [(room_id, "Kitchen", home_id)]
    assert ISO_Z.match(rooms[0]["created_at"])
    assert (await client.call("POST", f"/homes/{home_id}/rooms", json={"name": ""})).json()["field"] == "name"

    device = await client.device(home_id, room_id=room_id)
    refused = await client.call("DELETE", f"/homes/{home_id}")
    assert refused.status_code == 409 and "1 room(s)" in refused.json()["error"]

    other_home = await client.home("Other")
    wrong_home = await client.call("DELETE", f"/homes/{other_home}/rooms/{room_id}")
    assert wrong_home.status_code == 404
    gone = await client.call("DELETE", f"/homes/{home_id}/rooms/{room_id}")
    assert gone.json() == {"status": "deleted", "id": room_id}
    unassigned = (await client.call("GET", f"/devices/{device['device_id']}")).json()
    assert unassigned["room_id"] is None and unassigned["home_id"] == home_id

    still = await client.call("DELETE", f"/homes/{home_id}")
    assert still.status_code == 409 and "1 device(s)" in still.json()["error"]
    await client.call("POST", f"/device/{device['device_id']}/revoke")
    assert (await client.call("DELETE", f"/homes/{home_id}")).status_code == 200
    detached = (await client.call("GET", f"/devices/{device['device_id']}")).json()
    assert detached["home_id"] is None and detached["revoked"] is True


async def test_homes_and_rooms_over_grpc(rpc: Rpc) -> None:
    created = await rpc(
        HOME + "CreateHome", home_pb2.CreateHomeRequest(home_name="G"), home_pb2.CreateHomeResponse
    )
    assert created.status == "created"
    listed = await rpc(
        HOME + "ListHomes", home_pb2.ListHomesRequest(), home_pb2.ListHomesResponse, role=Role.VIEWER
    )
    assert [(h.id, h.name, h.home_name, h.timezone) for h in listed.homes] == [(created.id, "G", "G", "UTC")]
    updated = await rpc(
        HOME + "UpdateHome",
        home_pb2.UpdateHomeRequest(home_id=created.id, timezone="America/New_York"),
        home_pb2.UpdateHomeResponse,
    )
    assert updated.status == "updated"
    room = await rpc(
        HOME + "CreateRoom",
        home_pb2.CreateRoomRequest(home_id=created.id, name="Hall"),
        home_pb2.CreateRoomResponse,
    )
    rooms = await rpc(
        HOME + "ListRooms", home_pb2.ListRoomsRequest(home_id=created.id), home_pb2.ListRoomsResponse
    )
    assert [r.id for r in rooms.rooms] == [room.id]
    assert (
        await rpc.fails(
            HOME + "DeleteHome", home_pb2.DeleteHomeRequest(home_id=created.id), home_pb2.DeleteHomeResponse
        )
    )[0] == "CONFLICT"
    await rpc(
        HOME + "DeleteRoom",
        home_pb2.DeleteRoomRequest(home_id=created.id, room_id=room.id),
        home_pb2.DeleteRoomResponse,
    )
    deleted = await rpc(
        HOME + "DeleteHome", home_pb2.DeleteHomeRequest(home_id=created.id), home_pb2.DeleteHomeResponse
    )
    assert deleted.status == "deleted"

    code, reason = await rpc.fails(
        HOME + "CreateHome",
        home_pb2.CreateHomeRequest(home_name="X", timezone="Nowhere"),
        home_pb2.CreateHomeResponse,
    )
    assert code == "BAD_REQUEST" and reason.startswith("timezone:")
    for method, request, reply in [
        (
            "UpdateHome",
            home_pb2.UpdateHomeRequest(home_id=created.id, home_name="Y"),
            home_pb2.UpdateHomeResponse,
        ),
        ("DeleteHome", home_pb2.DeleteHomeRequest(home_id=created.id), home_pb2.DeleteHomeResponse),
        ("CreateRoom", home_pb2.CreateRoomRequest(home_id=created.id, name="R"), home_pb2.CreateRoomResponse),
        ("ListRooms", home_pb2.ListRoomsRequest(home_id=created.id), home_pb2.ListRoomsResponse),
        (
            "DeleteRoom",
            home_pb2.DeleteRoomRequest(home_id=created.id, room_id=room.id),
            home_pb2.DeleteRoomResponse,
        ),
    ]:
        assert (await rpc.fails(HOME + method, request, reply))[0] == "NOT_FOUND", method
    forbidden = await rpc.fails(
        HOME + "CreateHome",
        home_pb2.CreateHomeRequest(home_name="V"),
        home_pb2.CreateHomeResponse,
        role=Role.VIEWER,
    )
    assert forbidden[0] == "FORBIDDEN"
    assert (
        await rpc.fails(
            HOME + "ListHomes", home_pb2.ListHomesRequest(), home_pb2.ListHomesResponse, tenant=None
        )
    )[0] == "TENANT_REQUIRED"
