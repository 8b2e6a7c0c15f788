"""The capability registry, categories and device manifests through REST and native gRPC."""

from __future__ import annotations

from google.protobuf import struct_pb2
from sqlmodel import delete

from hxtp.cloud.v1 import manifest_pb2
from server.app import Application
from server.domain.identity.principal import Role
from server.storage.fleet_tables import DeviceManifest
from tests.fleet.conftest import OTHER_TENANT, TENANT, Client, Rpc

MANIFEST = "/hxtp.cloud.v1.ManifestService/"
DIMMER = {
    "action": "dim",
    "safetyClass": "standard",
    "paramSchema": {
        "type": "object",
        "properties": {"level": {"type": "integer", "minimum": 0, "maximum": 10}},
    },
}


async def test_registry_and_types_are_the_reference_shapes(client: Client) -> None:
    registry = (await client.call("GET", "/manifest/capabilities", role=Role.VIEWER)).json()["capabilities"]
    assert registry[0] == {
        "id": 1,
        "action": "light_on",
        "description": "Turn light on",
        "category": "light",
        "safetyClass": "normal",
        "paramSchema": {},
        "supportsDryRun": False,
    }
    assert [c["id"] for c in registry] == list(range(1, len(registry) + 1))
    by_action = {c["action"]: c for c in registry}
    assert [c["action"] for c in registry[:5]] == [
        "light_on",
        "light_off",
        "light_brightness",
        "temp_set",
        "mode_auto",
    ]
    brightness = by_action["light_brightness"]["paramSchema"]["properties"]["brightness"]
    assert brightness == {"type": "integer", "minimum": 0, "maximum": 100}
    assert by_action["unlock"]["safetyClass"] == "critical" and by_action["unlock"]["supportsDryRun"] is True
    assert {"turn_on", "read_temperature", "ping", "status"} <= set(by_action)
    categories = (await client.call("GET", "/manifest/types")).json()["categories"]
    assert categories["light"] == ["light_on", "light_off", "light_brightness"]
    assert categories["climate"] == ["temp_set", "mode_auto"]
    assert categories["lock"] == ["lock", "unlock"] and "switch" in categories and "sensor" in categories


async def test_manifest_versions_are_kept_and_validated(client: Client) -> None:
    device_id = (await client.device(await client.home(), device_type="esp32"))["device_id"]
    # Registration made version 1; POST refuses a second "first" manifest.
    assert (
        await client.call("POST", f"/devices/{device_id}/manifest", json={"capabilities": [DIMMER]})
    ).status_code == 409
    v1 = (await client.call("GET", f"/devices/{device_id}/manifest", role=Role.VIEWER)).json()
    assert (v1["deviceId"], v1["tenantId"], v1["version"]) == (device_id, TENANT, 1)

    put = await client.call(
        "PUT",
        f"/devices/{device_id}/manifest",
        json={
            "capabilities": [
                DIMMER,
                {"id": 40, "action": "reboot", "safety_class": "sensitive"},
                {"action": "ping"},
            ]
        },
    )
    assert put.status_code == 201 and put.json()["status"] == "updated" and put.json()["version"] == 2
    capabilities = put.json()["capabilities"]
    assert [(c["id"], c["action"], c["safetyClass"]) for c in capabilities] == [
        (41, "dim", "normal"),
        (40, "reboot", "sensitive"),
        (13, "ping", "normal"),
    ]
    assert capabilities[0]["paramSchema"] == DIMMER["paramSchema"]
    v3 = await client.call(
        "PUT", f"/devices/{device_id}/manifest", json={"capabilities": [{"action": "status"}]}
    )
    assert v3.json()["version"] == 3
    current = (await client.call("GET", f"/devices/{device_id}/manifest")).json()
    assert current["version"] == 3 and [c["action"] for c in current["capabilities"]] == ["status"]
    history = (await client.call("GET", f"/devices/{device_id}/manifest/history")).json()
    assert [v["version"] for v in history["versions"]] == [3, 2, 1]
    assert history["versions"][1]["capabilities"] == capabilities  # unchanged by the later PUT
    assert [c["action"] for c in history["versions"][2]["capabilities"]] == ["ping", "status"]

    bad = [
        ({"capabilities": []}, "capabilities"),
        ({"capabilities": [{"action": "x", "safetyClass": "dangerous"}]}, "capabilities[0].safetyClass"),
        ({"capabilities": [{"action": "x"}, {"action": "x"}]}, "capabilities[1].action"),
        ({"capabilities": [{"id": 7, "action": "x"}, {"id": 7, "action": "y"}]}, "capabilities[1].id"),
        ({"capabilities": [{"id": 70000, "action": "x"}]}, "capabilities[0].id"),
        ({"capabilities": [{"action": ""}]}, "capabilities[0].action"),
        (
            {"capabilities": [{"action": "x", "paramSchema": {"properties": {"a": {"pattern": "^x"}}}}]},
            "capabilities[0].paramSchema",
        ),
        (
            {"capabilities": [{"action": "x", "paramSchema": {"type": "string"}}]},
            "capabilities[0].paramSchema",
        ),
    ]
    for body, field in bad:
        response = await client.call("PUT", f"/devices/{device_id}/manifest", json=body)
        assert (response.status_code, response.json().get("field")) == (400, field), body
    pattern = await client.call("PUT", f"/devices/{device_id}/manifest", json=bad[6][0])
    assert "'pattern'" in pattern.json()["error"]
    assert (await client.call("GET", f"/devices/{device_id}/manifest")).json()[
        "version"
    ] == 3  # nothing stored


async def test_first_manifest_of_a_device_without_one(app: Application, client: Client) -> None:
    device_id = (await client.device(await client.home()))["device_id"]
    # Manifests are stored as versions; a device whose versions were never written (a device claimed
    # before manifests existed) answers MANIFEST_NOT_FOUND, then accepts POST as version 1.
    async with app.database.session() as session:
        await session.exec(delete(DeviceManifest).where(DeviceManifest.device_id == device_id))
        await session.commit()
    missing = await client.call("GET", f"/devices/{device_id}/manifest")
    assert missing.status_code == 404 and missing.json()["code"] == "MANIFEST_NOT_FOUND"
    created = await client.call("POST", f"/devices/{device_id}/manifest", json={"capabilities": [DIMMER]})
    assert (
        created.status_code == 201
        and created.json()["status"] == "created"
        and created.json()["version"] == 1
    )
    compiled = await app.manifests.compiled(TENANT, device_id)
    assert compiled["dim"].validate({"level": "7"}) == {"level": 7}  # the CLIs' string params, converted


async def test_manifest_routes_refuse_unknown_and_foreign_devices(client: Client) -> None:
    device_id = (await client.device(await client.home()))["device_id"]
    for method, path in [
        ("GET", "/manifest"),
        ("POST", "/manifest"),
        ("PUT", "/manifest"),
        ("GET", "/manifest/history"),
        ("GET", "/capabilities"),
    ]:
        body = {"capabilities": [{"action": "x"}]}
        assert (await client.call(method, f"/devices/nope{path}", json=body)).status_code == 404
        assert (
            await client.call(method, f"/devices/{device_id}{path}", tenant=OTHER_TENANT, json=body)
        ).status_code == 404
    assert (
        await client.call("PUT", f"/devices/{device_id}/manifest", role=Role.USER, json={})
    ).status_code == 403


async def test_manifests_over_grpc(client: Client, rpc: Rpc) -> None:
    device_id = (await client.device(await client.home(), device_type="smart_switch"))["device_id"]
    registry = await rpc(
        MANIFEST + "ListCapabilities",
        manifest_pb2.ListCapabilitiesRequest(),
        manifest_pb2.ListCapabilitiesResponse,
        role=Role.VIEWER,
    )
    assert registry.capabilities[0].action == "light_on"
    types = await rpc(
        MANIFEST + "ListDeviceTypes",
        manifest_pb2.ListDeviceTypesRequest(),
        manifest_pb2.ListDeviceTypesResponse,
    )
    assert list(types.categories["switch"]) == ["turn_on", "turn_off", "toggle"]
    current = await rpc(
        MANIFEST + "GetDeviceManifest",
        manifest_pb2.GetDeviceManifestRequest(device_id=device_id),
        manifest_pb2.GetDeviceManifestResponse,
    )
    assert [c.action for c in current.capabilities] == ["turn_on", "turn_off", "toggle", "ping", "status"]
    schema = struct_pb2.Struct()
    schema.update({"properties": {"seconds": {"type": "integer", "minimum": 1}}})
    updated = await rpc(
        MANIFEST + "UpdateDeviceManifest",
        manifest_pb2.UpdateDeviceManifestRequest(
            device_id=device_id,
            capabilities=[
                manifest_pb2.ManifestCapability(action="pulse", safety_class="normal", param_schema=schema)
            ],
        ),
        manifest_pb2.UpdateDeviceManifestResponse,
    )
    assert (
        updated.version == 2 and updated.capabilities[0].param_schema["properties"]["seconds"]["minimum"] == 1
    )
    history = await rpc(
        MANIFEST + "ListDeviceManifestHistory",
        manifest_pb2.ListDeviceManifestHistoryRequest(device_id=device_id),
        manifest_pb2.ListDeviceManifestHistoryResponse,
    )
    assert [v.version for v in history.versions] == [2, 1]
    capabilities = await rpc(
        MANIFEST + "ListDeviceCapabilities",
        manifest_pb2.ListDeviceCapabilitiesRequest(device_id=device_id),
        manifest_pb2.ListDeviceCapabilitiesResponse,
        role=Role.USER,
    )
    assert capabilities.version == 2 and [c.action for c in capabilities.capabilities] == ["pulse"]
    failures = [
        (
            "CreateDeviceManifest",
            manifest_pb2.CreateDeviceManifestRequest(
                device_id=device_id, capabilities=[manifest_pb2.ManifestCapability(action="x")]
            ),
            manifest_pb2.CreateDeviceManifestResponse,
            "CONFLICT",
        ),
        (
            "UpdateDeviceManifest",
            manifest_pb2.UpdateDeviceManifestRequest(
                device_id=device_id,
                capabilities=[manifest_pb2.ManifestCapability(action="x", safety_class="odd")],
            ),
            manifest_pb2.UpdateDeviceManifestResponse,
            "BAD_REQUEST",
        ),
        (
            "GetDeviceManifest",
            manifest_pb2.GetDeviceManifestRequest(device_id="nope"),
            manifest_pb2.GetDeviceManifestResponse,
            "NOT_FOUND",
        ),
        (
            "ListDeviceManifestHistory",
            manifest_pb2.ListDeviceManifestHistoryRequest(device_id="nope"),
            manifest_pb2.ListDeviceManifestHistoryResponse,
            "NOT_FOUND",
        ),
        (
            "ListDeviceCapabilities",
            manifest_pb2.ListDeviceCapabilitiesRequest(device_id="nope"),
            manifest_pb2.ListDeviceCapabilitiesResponse,
            "NOT_FOUND",
        ),
    ]
    for method, request, reply, code in failures:
        assert (await rpc.fails(MANIFEST + method, request, reply))[0] == code, method
    assert (
        await rpc.fails(
            MANIFEST + "ListCapabilities",
            manifest_pb2.ListCapabilitiesRequest(),
            manifest_pb2.ListCapabilitiesResponse,
            tenant=None,
        )
    )[0] == "TENANT_REQUIRED"
