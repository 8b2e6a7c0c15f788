"""Every text a client can send, on every route that takes text, is never a 500, on PostgreSQL.

The cases are generated from the route table (the protos), not written per route: for each route and
each string field of its request (path, query or body, one level into body messages, repeated
fields as a one-item list), the field gets a NUL character (PostgreSQL text cannot hold one) or a
text far beyond any storage bound, while the other fields get plausible values so the request gets
as deep as it can.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from gateway.descriptors import load_methods
from gateway.routes import Route, Router
from tests.integration.harness import base_url, running

HOSTILE = {"nul": "a\x00b", "long": "x" * 5000}
_PLAUSIBLE = {
    "device_type": "light",
    "type": "light",
    "action": "light_on",
    "version": "1.0.0",
    "current_version": "1.0.0",
    "email": "someone@example.com",
    "checksum": "ab" * 32,
    "url": "https://example.com/fw.bin",
    "context": "room_entry",
    "intent": "device.control",
    "scopes": "devices:read",
}


@dataclass(frozen=True)
class Case:
    route: Route
    field: str  # dotted for a body message's field
    value: str

    def __str__(self) -> str:
        return f"{self.route.http_method} {self.route.template} {self.field}"


def _text_fields(
    descriptor: Descriptor, prefix: str = "", depth: int = 0
) -> Iterator[tuple[str, FieldDescriptor]]:
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_STRING:
            yield prefix + field.name, field
        elif (
            field.type == FieldDescriptor.TYPE_MESSAGE
            and depth == 0
            and not field.message_type.full_name.startswith("google.protobuf")
            and not field.message_type.GetOptions().map_entry
        ):
            yield from _text_fields(field.message_type, f"{prefix}{field.name}.", depth + 1)


def cases() -> list[Case]:
    found = []
    for route in Router(load_methods()).routes:
        if route.websocket:
            continue
        for name, _ in _text_fields(route.method.input_type.DESCRIPTOR):
            for value in HOSTILE.values():
                found.append(Case(route, name, value))
    return found


def _plausible(name: str, ids: dict[str, str]) -> str:
    leaf = name.rsplit(".", 1)[-1]
    if leaf in ids:
        return ids[leaf]
    return _PLAUSIBLE.get(leaf, "x")


def _set(body: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for parent in parents:
        body = body.setdefault(parent, {})
    body[leaf] = value


def request_for(case: Case, ids: dict[str, str]) -> tuple[str, str, dict[str, Any] | None, dict[str, str]]:
    route = case.route
    path = route.template
    query: dict[str, str] = {}
    body: dict[str, Any] = {}
    for name, field in _text_fields(route.method.input_type.DESCRIPTOR):
        value = case.value if name == case.field else _plausible(name, ids)
        if name in route.path_fields:
            path = path.replace("{" + name + "}", quote(value, safe=""))
        elif route.body:
            _set(body, name, [value] if field.is_repeated else value)
        elif "." not in name:
            query[name] = value
    return route.http_method, path, body if route.body else None, query


async def test_hostile_text_on_every_route_is_never_a_server_error(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    generated = cases()
    assert len({c.route.template for c in generated}) > 40  # the generator really walks the table
    failures: list[str] = []
    async with running(tmp_path, wait_for_mqtt=False, HXTP_DATABASE_URL=fresh_postgres_url) as app:
        async with httpx.AsyncClient(base_url=base_url(app), timeout=30) as http:
            contexts: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
            for case in generated:
                # One tenant per route, so no route's cases run into another's rate limit.
                key = case.route.template + case.route.http_method
                if key not in contexts:
                    contexts[key] = await _tenant_with_a_device(app, http)
                auth, ids = contexts[key]
                method, path, body, query = request_for(case, ids)
                response = await http.request(method, path, json=body, params=query, headers=auth)
                if response.status_code >= 500 and response.status_code != 501:
                    kind = "long" if len(case.value) > 100 else "NUL"
                    failures.append(f"{case} ({kind}): {response.status_code} {response.text[:200]}")
    assert not failures, "\n".join(failures)
    assert len(generated) > 250


async def _tenant_with_a_device(app: Any, http: httpx.AsyncClient) -> tuple[dict[str, str], dict[str, str]]:
    principal = await app.identity.identity.ensure_user(
        f"owner-{secrets.token_hex(4)}@example.com", "owner", f"Tenant {secrets.token_hex(4)}"
    )
    await app.identity.identity.set_tier(principal.tenant_id, "pro")
    auth = {"authorization": f"Bearer {app.tokens.mint(principal)}"}
    home = (await http.post("/api/v1/homes", json={"home_name": "H"}, headers=auth)).json()["id"]
    device = await http.post(
        "/api/v1/devices/register", json={"type": "light", "home_id": home}, headers=auth
    )
    device_id = device.json()["device_id"]
    ids = {"device_id": device_id, "home_id": home, "id": device_id}
    return auth, ids
