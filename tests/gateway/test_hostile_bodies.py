"""Bodies a hostile client sends: deep nesting, wrong media types, huge declared lengths."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from google.protobuf.descriptor import FieldDescriptor

from gateway.app import Gateway
from gateway.codec import MAX_JSON_DEPTH, MAX_JSON_NODES
from gateway.descriptors import load_methods
from gateway.routes import Route, Router
from tests.gateway.scripted import ScriptedTransport
from tests.serving import serving

_FREE_FORM = ("google.protobuf.Struct", "google.protobuf.Value")


def _free_form_fields() -> list[tuple[Route, str]]:
    """Every body route's free-form JSON field, one message deep (command params, rules, intents, ...)."""
    found = []
    for route in Router(load_methods()).routes:
        if route.body != "*":
            continue
        for field in route.method.input_type.DESCRIPTOR.fields:
            if field.type != FieldDescriptor.TYPE_MESSAGE:
                continue
            if field.message_type.full_name in _FREE_FORM:
                found.append((route, field.name + ("[]" if field.is_repeated else "")))
                continue
            if field.is_repeated:
                continue
            for inner in field.message_type.fields:
                if inner.type == FieldDescriptor.TYPE_MESSAGE and inner.message_type.full_name in _FREE_FORM:
                    found.append((route, f"{field.name}.{inner.name}"))
    return found


def _body(dotted: str, value: bytes) -> bytes:
    *parents, leaf = dotted.split(".")
    if leaf.endswith("[]"):
        leaf, value = leaf[:-2], b"[" + value + b"]"
    body = b'{"' + leaf.encode() + b'":' + value + b"}"
    for parent in reversed(parents):
        body = b'{"' + parent.encode() + b'":' + body + b"}"
    return body


def _nested(levels: int) -> object:
    value: object = {}
    for _ in range(levels):
        value = {"a": value}
    return value


def _nested_text(levels: int) -> bytes:
    # Written out by hand: the JSON encoders refuse to write what is this deep.
    return b'{"a":' * levels + b"{}" + b"}" * levels


def _path(route: Route) -> str:
    path = route.template
    for name in route.path_fields:
        path = path.replace("{" + name + "}", "x")
    return path


FREE_FORM = _free_form_fields()


def test_the_generator_finds_the_free_form_routes() -> None:
    names = {route.method.name for route, _ in FREE_FORM}
    assert {"ExecuteCommand", "SetRules", "SubmitObservation", "RouteIntent"} <= names


@pytest.mark.parametrize("levels", [400, 1022])
async def test_deep_nesting_in_any_free_form_field_is_400(client: httpx.AsyncClient, levels: int) -> None:
    for route, field in FREE_FORM:
        body = _body(field, _nested_text(levels))
        response = await client.request(
            route.http_method, _path(route), content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, (route.template, field, response.text[:200])
        assert response.json()["code"] == "BAD_REQUEST"
        assert "depth" in response.json()["reason"] or "nesting" in response.json()["reason"]


async def test_nesting_within_the_bound_is_bound(
    client: httpx.AsyncClient, transport: ScriptedTransport
) -> None:
    response = await client.post(
        "/api/v1/device/d1/command", json={"action": "a", "params": _nested(MAX_JSON_DEPTH - 3)}
    )
    assert response.status_code == 202, response.text


async def test_too_many_values_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/device/d1/command", json={"action": "a", "params": {"l": [[]] * MAX_JSON_NODES}}
    )
    assert response.status_code == 400
    assert "values" in response.json()["reason"]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
async def test_a_body_that_is_not_json_is_415(client: httpx.AsyncClient, content_type: str) -> None:
    response = await client.post(
        "/api/v1/homes", content=b'{"home_name": "H"}', headers={"content-type": content_type}
    )
    assert response.status_code == 415
    assert response.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "application/json; charset=utf-8", "application/merge-patch+json"],
)
async def test_json_media_types_and_none_are_read(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post("/api/v1/homes", content=b'{"home_name": "H"}', headers=headers)
    assert response.status_code == 201, response.text


async def _raw_exchange(port: int, head: bytes) -> bytes:
    """Sends only the head of a request and reads the answer; a server waiting for the body never answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 10)
    finally:
        writer.close()


@pytest.mark.integration  # a real uvicorn socket
@pytest.mark.parametrize(
    ("content_type", "length", "status"),
    [
        ("application/json", 10**9, b"413"),
        ("multipart/form-data; boundary=x", 10**10, b"413"),
        ("text/csv", 50, b"415"),
    ],
)
async def test_refusals_come_before_the_body_is_read(
    transport: ScriptedTransport, content_type: str, length: int, status: bytes
) -> None:
    async with serving(Gateway(transport)) as port:
        answer = await _raw_exchange(
            port,
            f"POST /api/v1/homes HTTP/1.1\r\nhost: x\r\ncontent-type: {content_type}\r\n"
            f"content-length: {length}\r\n\r\n".encode(),
        )
    assert answer.startswith(b"HTTP/1.1 " + status), answer[:200]
    assert not transport.calls
