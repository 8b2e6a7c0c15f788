"""How one HTTP request becomes the request message: sources, precedence, typing, aliases."""

from __future__ import annotations

import httpx
import pytest

from gateway.codec import convert_text, struct_to_python
from hxtp.cloud.v1 import command_pb2, device_pb2, home_pb2
from tests.gateway.scripted import ScriptedTransport


async def test_path_wins_over_body(client: httpx.AsyncClient, transport: ScriptedTransport) -> None:
    await client.patch("/api/v1/homes/from-path", json={"home_id": "from-body", "home_name": "Den"})
    request = transport.last.request
    assert isinstance(request, home_pb2.UpdateHomeRequest)
    assert request.home_id == "from-path"
    assert request.home_name == "Den"


async def test_get_binds_typed_query_parameters(
    client: httpx.AsyncClient, transport: ScriptedTransport
) -> None:
    response = await client.get("/api/v1/devices", params={"limit": "5", "offset": "10", "home_id": "h1"})
    assert response.status_code == 200
    request = transport.last.request
    assert isinstance(request, device_pb2.ListDevicesRequest)
    assert (request.limit, request.offset, request.home_id) == (5, 10, "h1")
    assert not request.HasField("room_id")


async def test_path_wins_over_query(client: httpx.AsyncClient, transport: ScriptedTransport) -> None:
    await client.get("/api/v1/devices/from-path", params={"device_id": "from-query"})
    assert transport.last.request.device_id == "from-path"  # type: ignore[attr-defined]


async def test_bad_query_integer_is_400_naming_the_field(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/devices", params={"limit": "many"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "BAD_REQUEST" and body["field"] == "limit"
    assert "limit" in body["error"]


def test_query_booleans_are_typed() -> None:
    field = command_pb2.ExecuteCommandRequest.DESCRIPTOR.fields_by_name["dry_run"]
    assert convert_text(field, "true", "dry_run") is True
    assert convert_text(field, "0", "dry_run") is False
    with pytest.raises(ValueError, match="dry_run"):
        convert_text(field, "maybe", "dry_run")


async def test_field_alias_is_accepted(client: httpx.AsyncClient, transport: ScriptedTransport) -> None:
    await client.post("/api/v1/devices/register", json={"type": "light", "home_id": "h1"})
    request = transport.last.request
    assert isinstance(request, device_pb2.RegisterDeviceRequest)
    assert request.device_type == "light"


async def test_canonical_name_wins_over_alias_in_any_order(
    client: httpx.AsyncClient, transport: ScriptedTransport
) -> None:
    await client.post(
        "/api/v1/devices/d1/command/confirm", json={"token": "alias", "dry_run_token": "canonical"}
    )
    assert transport.last.request.dry_run_token == "canonical"  # type: ignore[attr-defined]
    await client.post(
        "/api/v1/devices/d1/command/confirm", json={"dry_run_token": "canonical", "token": "alias"}
    )
    assert transport.last.request.dry_run_token == "canonical"  # type: ignore[attr-defined]
    await client.post("/api/v1/devices/d1/command/confirm", json={"token": "only-alias"})
    assert transport.last.request.dry_run_token == "only-alias"  # type: ignore[attr-defined]


async def test_null_params_and_absent_dry_run(
    client: httpx.AsyncClient, transport: ScriptedTransport
) -> None:
    response = await client.post("/api/v1/devices/ping/command", json={"action": "status", "params": None})
    assert response.status_code == 202
    request = transport.last.request
    assert isinstance(request, command_pb2.ExecuteCommandRequest)
    assert request.device_id == "ping" and request.action == "status"
    assert not request.HasField("params") and request.dry_run is False


async def test_free_form_params_keep_their_types(
    client: httpx.AsyncClient, transport: ScriptedTransport
) -> None:
    params = {"brightness": 100, "ratio": 0.5, "on": True, "name": "x", "nested": {"a": [1, "b"]}}
    await client.post("/api/v1/device/d1/command", json={"action": "light_on", "params": params})
    assert struct_to_python(transport.last.request.params) == params  # type: ignore[attr-defined]


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", None])
async def test_empty_body_counts_as_empty_object(
    client: httpx.AsyncClient, transport: ScriptedTransport, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post("/api/v1/device/d7/revoke", content=b"", headers=headers)
    assert response.status_code == 200
    assert transport.last.request.device_id == "d7"  # type: ignore[attr-defined]


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/homes", content=b'{"home_name": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "BAD_REQUEST"
    assert "malformed JSON" in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"home_name": 5}, "home_name"),
        ({"home_name": "x", "timezone": ["UTC"]}, "timezone"),
        ([1, 2], "body"),
    ],
)
async def test_wrong_types_are_400_naming_the_field(
    client: httpx.AsyncClient, body: object, field: str
) -> None:
    response = await client.post("/api/v1/homes", json=body)
    assert response.status_code == 400
    assert response.json()["field"] == field


async def test_nested_wrong_type_names_the_path(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/devices/command", json={"device_ids": ["a", 7], "action": "x"})
    assert response.status_code == 400
    assert response.json()["field"] == "device_ids[1]"


async def test_unknown_fields_are_ignored(client: httpx.AsyncClient, transport: ScriptedTransport) -> None:
    response = await client.post("/api/v1/homes", json={"home_name": "Cabin", "colour": "blue"})
    assert response.status_code == 201
    assert transport.last.request.home_name == "Cabin"  # type: ignore[attr-defined]


async def test_oversized_json_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/homes", content=b'{"home_name": "' + b"x" * (2 << 20) + b'"}')
    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"


async def test_multipart_upload_binds_file_and_text_parts(
    client: httpx.AsyncClient, transport: ScriptedTransport
) -> None:
    image = bytes(range(256)) * 4
    response = await client.post(
        "/api/v1/firmware/upload",
        files={"firmware": ("fw.bin", image, "application/octet-stream")},
        data={"version": "1.2.3", "device_type": "esp32"},
    )
    assert response.status_code == 201
    request = transport.last.request
    assert request.firmware == image  # type: ignore[attr-defined]
    assert (request.version, request.device_type) == ("1.2.3", "esp32")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "field"),
    [
        ("GET", "/api/v1/devices", {"params": {"offset": "2147483648"}}, "offset"),
        ("GET", "/api/v1/devices", {"params": {"limit": "-2147483649"}}, "limit"),
        ("POST", "/api/v1/firmware/release", {"json": {"size": 2**63}}, "size"),
        (
            "PUT",
            "/api/v1/devices/d/manifest",
            {"json": {"capabilities": [{"id": 2**31}]}},
            "capabilities[0].id",
        ),
    ],
)
async def test_integers_out_of_their_type_range_are_400(
    client: httpx.AsyncClient, method: str, path: str, kwargs: dict[str, object], field: str
) -> None:
    response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field and "between" in response.json()["error"]
