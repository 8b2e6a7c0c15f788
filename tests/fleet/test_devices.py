"""Devices through REST and native gRPC: the public clients' shapes, fields, secrets, keys, revocation."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from hxtp.cloud.v1 import device_pb2
from server.app import Application
from server.domain.identity.principal import Role
from tests.fleet.conftest import OTHER_TENANT, TENANT, Client, Rpc
from tests.integration.harness import base_url, running, token

DEVICE = "/hxtp.cloud.v1.DeviceService/"
HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
DEVICE_FIELDS = {
    "id",
    "device_type",
    "home_id",
    "room_id",
    "firmware",
    "last_seen",
    "last_heartbeat",
    "active",
    "revoked",
    "key_version",
    "status",
    "created_at",
    "updated_at",
}


async def test_public_clients_register_devices_that_work(app: Application, client: Client) -> None:
    home_id = await client.home()
    room = (await client.call("POST", f"/homes/{home_id}/rooms", json={"name": "Lab"})).json()["id"]
    jscli = await client.call("POST", "/devices/register", json={"type": "light", "home_id": home_id})
    gosdk = await client.call("POST", "/devices/register", json={"device_type": "esp32", "home_id": home_id})
    web = await client.http.post(
        "/api/v1/device/register",
        json={"device_type": "helix_lock", "home_id": home_id, "room_id": room},
        headers={**client.headers(), "content-type": "application/json"},
    )
    for response in (jscli, gosdk, web):
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["status"] == "registered" and body["tenant_id"] == TENANT
        assert HEX32.match(body["device_id"]) and HEX64.match(body["device_secret"])
        assert body["api_base_url"] == app.settings.api_base_url and body["initial_sequence"] == 0
        assert body["home_id"] == home_id
    assert jscli.json()["room_id"] is None and web.json()["room_id"] == room
    assert len({r.json()["device_secret"] for r in (jscli, gosdk, web)}) == 3

    listed = (await client.call("GET", "/devices", role=Role.USER)).json()
    assert listed["count"] == 3
    assert [d["device_type"] for d in listed["devices"]] == ["light", "esp32", "helix_lock"]
    for device in listed["devices"]:
        assert set(device) == DEVICE_FIELDS
        assert device["firmware"] == "0.0.0" and device["key_version"] == 1
        assert (device["active"], device["revoked"], device["status"]) == (False, False, "offline")

    # Each fresh device can list what it may be asked to do, from its type's category.
    expected = {
        jscli.json()["device_id"]: ["light_on", "light_off", "light_brightness", "ping", "status"],
        gosdk.json()["device_id"]: ["ping", "status"],
        web.json()["device_id"]: ["lock", "unlock", "ping", "status"],
    }
    for device_id, actions in expected.items():
        capabilities = await client.call("GET", f"/devices/{device_id}/capabilities", role=Role.USER)
        assert [c["action"] for c in capabilities.json()["capabilities"]] == actions
        assert capabilities.json()["version"] == 1
    lock = (await client.call("GET", f"/devices/{web.json()['device_id']}/manifest")).json()["capabilities"][
        0
    ]
    assert (lock["safetyClass"], lock["supportsDryRun"]) == ("critical", True)


async def test_listing_pages_and_filters(client: Client) -> None:
    first, second = await client.home("A"), await client.home("B")
    room = (await client.call("POST", f"/homes/{second}/rooms", json={"name": "R"})).json()["id"]
    ids = [(await client.device(first))["device_id"] for _ in range(3)]
    in_room = (await client.device(second, room_id=room))["device_id"]
    await client.device(await client.home(tenant=OTHER_TENANT), tenant=OTHER_TENANT)

    page = (await client.call("GET", "/devices", params={"limit": 2, "offset": 1})).json()
    assert [d["id"] for d in page["devices"]] == ids[1:3] and page["count"] == 4
    by_home = (await client.call("GET", "/devices", params={"home_id": first})).json()
    assert [d["id"] for d in by_home["devices"]] == ids and by_home["count"] == 3
    by_room = (await client.call("GET", "/devices", params={"room_id": room})).json()
    assert [d["id"] for d in by_room["devices"]] == [in_room]
    single = (await client.call("GET", f"/devices/{in_room}")).json()
    assert set(single) == DEVICE_FIELDS and single["room_id"] == room

    for params, field in [({"limit": -1}, "limit"), ({"limit": 5000}, "limit"), ({"offset": -3}, "offset")]:
        bad = await client.call("GET", "/devices", params=params)
        assert bad.status_code == 400 and bad.json()["field"] == field
    assert (await client.call("GET", "/devices", params={"home_id": "nope"})).status_code == 404
    assert (await client.call("GET", "/devices", params={"room_id": "nope"})).status_code == 404
    assert (await client.call("GET", "/devices/ping")).status_code == 404
    assert (await client.call("GET", f"/devices/{in_room}", tenant=OTHER_TENANT)).status_code == 404


async def test_registration_input_errors(client: Client) -> None:
    home_id = await client.home()
    other_home = await client.home(tenant=OTHER_TENANT)
    other_room = (
        await client.call("POST", f"/homes/{other_home}/rooms", tenant=OTHER_TENANT, json={"name": "R"})
    ).json()["id"]
    cases = [
        ({"home_id": home_id}, 400, "device_type"),
        ({"device_type": "esp 32!", "home_id": home_id}, 400, "device_type"),
        ({"device_type": "esp32"}, 400, "home_id"),
        ({"device_type": "esp32", "home_id": other_home}, 404, "home_id"),
        ({"device_type": "esp32", "home_id": home_id, "room_id": other_room}, 404, "room_id"),
        ({"device_type": "esp32", "home_id": home_id, "protocol": "mqtt-9"}, 400, "protocol"),
        ({"device_type": "esp32", "home_id": home_id, "protocol": "hxtp-3.1-ed25519"}, 400, "public_key"),
        ({"device_type": "esp32", "home_id": home_id, "public_key": "abc"}, 400, "public_key"),
    ]
    for body, status, field in cases:
        response = await client.call("POST", "/devices/register", json=body)
        assert (response.status_code, response.json().get("field")) == (status, field), body
    signed = await client.call(
        "POST",
        "/devices/register",
        json={
            "device_type": "esp32",
            "home_id": home_id,
            "protocol": "hxtp-3.1-ed25519",
            "public_key": "ab" * 32,
        },
    )
    assert signed.status_code == 201
    for role in (Role.USER, Role.VIEWER):
        refused = await client.call(
            "POST", "/device/register", role=role, json={"type": "x", "home_id": home_id}
        )
        assert refused.status_code == 403


async def test_rotation_history_and_revocation(app: Application, client: Client) -> None:
    device = await client.device(await client.home())
    device_id, first_secret = device["device_id"], device["device_secret"]
    empty_json = {**client.headers(), "content-type": "application/json"}
    rotated = await client.http.post(f"/api/v1/device/{device_id}/rotate-secret", headers=empty_json)
    assert rotated.status_code == 200
    assert set(rotated.json()) == {"device_id", "new_secret", "key_version", "next_step"}
    assert rotated.json()["key_version"] == 2 and HEX64.match(rotated.json()["new_secret"])
    again = await client.call("POST", f"/devices/{device_id}/rotate-secret")
    assert again.json()["key_version"] == 3

    history = (await client.call("GET", f"/device/{device_id}/key-history")).json()
    assert history["current_version"] == 3
    # No message from the device yet: it still holds version 1, which stays the signing key; 3 waits
    # for the device, 2 was superseded before the device was seen using it.
    assert [(h["version"], h["status"], h["algorithm"]) for h in history["history"]] == [
        (3, "pending", "HMAC-SHA256"),
        (2, "grace", "HMAC-SHA256"),
        (1, "active", "HMAC-SHA256"),
    ]
    # The device link's port: the secret the device holds first, then the pending one, then grace.
    secrets = await app.device_keys.active_and_previous(device_id)
    assert [s.hex() for s in secrets] == [
        first_secret,
        again.json()["new_secret"],
        rotated.json()["new_secret"],
    ]
    profile = await app.device_keys.profile(device_id)
    assert profile is not None and (profile.protocol, profile.tenant_id, profile.key_version) == (
        "hxtp-3.1",
        TENANT,
        3,
    )
    assert (await client.call("GET", "/devices")).json()["devices"][0]["key_version"] == 3

    revoked = await client.http.post(f"/api/v1/device/{device_id}/revoke", headers=empty_json)
    assert revoked.json() == {"device_id": device_id, "status": "revoked"}
    assert (await client.call("POST", f"/devices/{device_id}/revoke")).status_code == 200  # idempotent
    shown = (await client.call("GET", f"/devices/{device_id}")).json()
    assert (shown["revoked"], shown["active"], shown["status"]) == (True, False, "revoked")
    refused = await client.call("POST", f"/devices/{device_id}/rotate-secret")
    assert refused.status_code == 403 and refused.json()["error"] == "Device is revoked"
    assert await app.device_keys.active_and_previous(device_id) == []
    assert {
        h["status"] for h in (await client.call("GET", f"/device/{device_id}/key-history")).json()["history"]
    } == {"revoked"}

    for method, path in [
        ("POST", f"/device/{device_id}/rotate-secret"),
        ("GET", f"/device/{device_id}/key-history"),
        ("POST", f"/device/{device_id}/revoke"),
    ]:
        assert (await client.call(method, path, tenant=OTHER_TENANT)).status_code == 404
        assert (await client.call(method, path.replace(device_id, "missing"))).status_code == 404
    assert (await client.call("GET", f"/device/{device_id}/key-history", role=Role.USER)).status_code == 403


def _database_bytes(data_dir: Path) -> bytes:
    return b"".join(path.read_bytes() for path in data_dir.glob("hxtp.db*"))


async def test_secrets_are_sealed_at_rest_and_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(tmp_path, wait_for_mqtt=False, HXTP_LOG_LEVEL="debug") as app:
        async with httpx.AsyncClient(base_url=base_url(app)) as http:
            auth = {"authorization": f"Bearer {token(app)}"}
            home = (await http.post("/api/v1/homes", json={"home_name": "H"}, headers=auth)).json()["id"]
            body = (
                await http.post("/api/v1/devices/register", json={"type": "x", "home_id": home}, headers=auth)
            ).json()
            rotated = (
                await http.post(f"/api/v1/devices/{body['device_id']}/rotate-secret", headers=auth)
            ).json()
    stored = _database_bytes(tmp_path)
    for secret in (body["device_secret"], rotated["new_secret"]):
        assert secret.encode() not in stored and bytes.fromhex(secret) not in stored
        assert secret not in caplog.text
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


async def test_grace_period_is_configurable(tmp_path: Path) -> None:
    async with running(tmp_path, wait_for_mqtt=False, HXTP_KEY_GRACE_SECONDS="0") as app:
        async with httpx.AsyncClient(base_url=base_url(app)) as http:
            auth = {"authorization": f"Bearer {token(app)}"}
            home = (await http.post("/api/v1/homes", json={"home_name": "H"}, headers=auth)).json()["id"]
            device_id = (
                await http.post("/api/v1/devices/register", json={"type": "x", "home_id": home}, headers=auth)
            ).json()["device_id"]
            new = (await http.post(f"/api/v1/devices/{device_id}/rotate-secret", headers=auth)).json()[
                "new_secret"
            ]
            # The grace period starts once the device is seen holding the new secret.
            assert await app.device_keys.adopt(device_id, bytes.fromhex(new))
            history = (await http.get(f"/api/v1/device/{device_id}/key-history", headers=auth)).json()[
                "history"
            ]
        assert [h["status"] for h in history] == ["active", "retired"]
        assert [s.hex() for s in await app.device_keys.active_and_previous(device_id)] == [new]


async def test_devices_over_grpc(client: Client, rpc: Rpc) -> None:
    home_id = await client.home()
    registered = await rpc(
        DEVICE + "RegisterDevice",
        device_pb2.RegisterDeviceRequest(device_type="light", home_id=home_id),
        device_pb2.RegisterDeviceResponse,
    )
    assert registered.status == "registered" and HEX64.match(registered.device_secret)
    assert not registered.HasField("room_id")
    device_id = registered.device_id
    listed = await rpc(
        DEVICE + "ListDevices",
        device_pb2.ListDevicesRequest(home_id=home_id),
        device_pb2.ListDevicesResponse,
        role=Role.USER,
    )
    assert listed.count == 1 and listed.devices[0].id == device_id and listed.devices[0].firmware == "0.0.0"
    got = await rpc(DEVICE + "GetDevice", device_pb2.GetDeviceRequest(device_id=device_id), device_pb2.Device)
    assert got.device_type == "light" and got.status == "offline"
    rotated = await rpc(
        DEVICE + "RotateDeviceSecret",
        device_pb2.RotateDeviceSecretRequest(device_id=device_id),
        device_pb2.RotateDeviceSecretResponse,
    )
    assert rotated.key_version == 2
    history = await rpc(
        DEVICE + "GetDeviceKeyHistory",
        device_pb2.GetDeviceKeyHistoryRequest(device_id=device_id),
        device_pb2.GetDeviceKeyHistoryResponse,
    )
    assert history.current_version == 2 and [h.version for h in history.history] == [2, 1]
    revoked = await rpc(
        DEVICE + "RevokeDevice",
        device_pb2.RevokeDeviceRequest(device_id=device_id),
        device_pb2.RevokeDeviceResponse,
    )
    assert revoked.status == "revoked"

    failures = [
        (
            "RegisterDevice",
            device_pb2.RegisterDeviceRequest(home_id=home_id),
            device_pb2.RegisterDeviceResponse,
            "BAD_REQUEST",
        ),
        (
            "RegisterDevice",
            device_pb2.RegisterDeviceRequest(device_type="x", home_id="nope"),
            device_pb2.RegisterDeviceResponse,
            "NOT_FOUND",
        ),
        (
            "ListDevices",
            device_pb2.ListDevicesRequest(limit=-1),
            device_pb2.ListDevicesResponse,
            "BAD_REQUEST",
        ),
        ("GetDevice", device_pb2.GetDeviceRequest(device_id="nope"), device_pb2.Device, "NOT_FOUND"),
        (
            "RotateDeviceSecret",
            device_pb2.RotateDeviceSecretRequest(device_id=device_id),
            device_pb2.RotateDeviceSecretResponse,
            "DEVICE_REVOKED",
        ),
        (
            "GetDeviceKeyHistory",
            device_pb2.GetDeviceKeyHistoryRequest(device_id="nope"),
            device_pb2.GetDeviceKeyHistoryResponse,
            "NOT_FOUND",
        ),
        (
            "RevokeDevice",
            device_pb2.RevokeDeviceRequest(device_id="nope"),
            device_pb2.RevokeDeviceResponse,
            "NOT_FOUND",
        ),
    ]
    for method, request, reply, code in failures:
        assert (await rpc.fails(DEVICE + method, request, reply))[0] == code, method
    other = await rpc.fails(
        DEVICE + "GetDevice",
        device_pb2.GetDeviceRequest(device_id=device_id),
        device_pb2.Device,
        tenant=OTHER_TENANT,
    )
    assert other[0] == "NOT_FOUND"
