"""The two matrices, generated from the route table so every new route is covered on arrival:

1. every route x every kind of caller: the chain refuses exactly what the route's proto policy says
   (401 without a credential, 403 TENANT_REQUIRED when tenantless, 403 below the minimum role or
   without the API-key scope) and admits the rest (an unbuilt domain then answers 501, which counts
   as admitted). Aliases are separate routes, so an alias cannot skip a rule.
2. every route with ids of another tenant's resources: never 403, never that tenant's data, and
   404 for every built route that names one of its resources; the victim's data is unchanged after.

The policies themselves are pinned in golden/policies.txt, so a route that loses its rule shows up
as a diff (regenerate with HXTP_UPDATE_GOLDEN=1 when a change is intended).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from gateway.descriptors import load_methods
from gateway.routes import Route, Router
from hxtp.cloud.v1 import options_pb2
from server.app import Application
from server.domain.identity.principal import Role
from tests.identity.conftest import bearer, user_token
from tests.integration.harness import base_url

ROUTES = Router(load_methods()).routes
GOLDEN = Path(__file__).parent / "golden" / "policies.txt"
CHAIN_REFUSALS = {"UNAUTHORIZED", "FORBIDDEN", "TENANT_REQUIRED"}
_VARIABLE = re.compile(r"\{([a-z_][a-z0-9_.]*)(?:=\*)?\}")


def policy_line(route: Route) -> str:
    policy = route.method.policy
    auth = options_pb2.AuthMode.Name(policy.auth).removeprefix("AUTH_MODE_")
    role = Role(policy.min_role).name
    flags = [f for f in ("tenant_required", "rate_limit_exempt", "device_lookup_first") if getattr(policy, f)]
    scope = policy.scope or "-"
    line = f"{route.http_method} {route.template} auth={auth} min_role={role} scope={scope} {' '.join(flags)}"
    return line.rstrip()


def test_route_policies_match_the_golden_snapshot() -> None:
    lines = sorted(policy_line(route) for route in ROUTES)
    if os.environ.get("HXTP_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text("\n".join(lines) + "\n")
    assert GOLDEN.read_text().splitlines() == lines


# ----------------------------------------------------------------------------- callers


@dataclass(frozen=True)
class Caller:
    name: str
    credential: str | None
    role: Role  # NONE = tenantless
    scopes: frozenset[str] | None = None  # an API key's scopes


async def _callers(app: Application, http: httpx.AsyncClient) -> list[Caller]:
    callers = [
        Caller("anonymous", None, Role.UNSPECIFIED),
        Caller("tenantless", await user_token(app, "none"), Role.NONE),
    ]
    for role in (Role.VIEWER, Role.USER, Role.ADMIN, Role.OWNER):
        # each in its own pro tenant, so ~90 routes stay under one tenant's limit
        callers.append(Caller(role.label, await user_token(app, role.label, tier="pro"), role))
    owner = await user_token(app, "owner", tier="pro")
    created = await http.post(
        "/api/v1/auth/api-keys", json={"name": "narrow", "scopes": ["health:read"]}, headers=bearer(owner)
    )
    callers.append(
        Caller("owner-key-without-scopes", created.json()["key"], Role.OWNER, frozenset({"health:read"}))
    )
    return callers


def _path(route: Route, values: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: values.get(m.group(1), str(uuid.uuid4())), route.template)


def _expected_refusal(route: Route, caller: Caller) -> str | None:
    """The chain's answer for this caller, from the route's policy alone (None = admitted)."""
    policy = route.method.policy
    if policy.auth != options_pb2.AUTH_MODE_UNSPECIFIED:
        return None
    if caller.credential is None:
        return "UNAUTHORIZED"
    if policy.device_lookup_first:
        return "NOT_FOUND"  # no device exists: the lookup answers before any other gate
    if policy.tenant_required and caller.role <= Role.NONE:
        return "TENANT_REQUIRED"
    if policy.min_role > Role.NONE and caller.role < policy.min_role:
        return "FORBIDDEN"
    if caller.scopes is not None and policy.scope:
        return "FORBIDDEN"
    return None


async def _call(
    http: httpx.AsyncClient, app: Application, route: Route, path: str, credential: str | None
) -> tuple[int, str]:
    """(HTTP status or WebSocket close code, error code or "")."""
    if route.websocket:
        query = f"?token={credential}" if credential else ""
        try:
            async with connect(f"ws://127.0.0.1:{app.ports.http}{path}{query}", open_timeout=5) as socket:
                await asyncio.wait_for(socket.recv(), 0.3)
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else 1006
            return code, {4401: "UNAUTHORIZED", 4403: "FORBIDDEN"}.get(code, "")
        except TimeoutError:
            return 101, ""  # open and streaming: admitted
        return 101, ""
    headers = bearer(credential) if credential else {}
    response = await http.request(route.http_method, path, json={} if route.body else None, headers=headers)
    code = ""
    if (
        response.headers.get("content-type", "").startswith("application/json")
        and response.status_code >= 400
    ):
        code = str(response.json().get("code", ""))
    return response.status_code, code


async def test_every_route_for_every_caller(app: Application) -> None:
    async with httpx.AsyncClient(base_url=base_url(app), timeout=10) as http:
        callers = await _callers(app, http)
        failures = []
        for route in ROUTES:
            path = _path(route, {"code": "HXT-" + secrets.token_hex(32)})
            public_answers: set[tuple[int, str]] = set()
            for caller in callers:
                status, code = await _call(http, app, route, path, caller.credential)
                expected = _expected_refusal(route, caller)
                if route.method.policy.auth == options_pb2.AUTH_MODE_PUBLIC:
                    # The chain admits everyone; the servicer may still refuse (broker or admin
                    # secrets), but then alike for every caller: who calls must not change it.
                    public_answers.add((status, code))
                    ok = len(public_answers) == 1
                elif route.method.policy.auth == options_pb2.AUTH_MODE_DEVICE:
                    ok = status >= 400 and code not in ("FORBIDDEN", "TENANT_REQUIRED")  # HMAC, not a user
                elif expected is None:
                    ok = code not in CHAIN_REFUSALS and status not in (4401, 4403)
                elif route.websocket:  # close codes cannot tell TENANT_REQUIRED from FORBIDDEN
                    ok = code == {"TENANT_REQUIRED": "FORBIDDEN"}.get(expected, expected)
                else:
                    ok = code == expected
                if not ok:
                    wanted = expected or "admitted"
                    failures.append(
                        f"{route.http_method} {route.template} as {caller.name}: {status} {code!r}, {wanted=}"
                    )
    assert not failures, "\n".join(failures)


# ----------------------------------------------------------------------------- cross-tenant


MARKER = "victim-marker-" + secrets.token_hex(4)


async def _victim_resources(
    app: Application, http: httpx.AsyncClient, owner: dict[str, str]
) -> dict[str, str]:
    """Ids of tenant A's resources, created through the API wherever that route is built."""
    ids: dict[str, str] = {}
    key = await http.post(
        "/api/v1/auth/api-keys", json={"name": MARKER, "scopes": ["devices:read"]}, headers=owner
    )
    ids["id"] = key.json()["id"]
    home = await http.post("/api/v1/homes", json={"name": MARKER}, headers=owner)
    if home.status_code < 300:
        ids["home_id"] = home.json()["id"]
        room = await http.post(f"/api/v1/homes/{ids['home_id']}/rooms", json={"name": MARKER}, headers=owner)
        if room.status_code < 300:
            ids["room_id"] = room.json()["id"]
        device = await http.post(
            "/api/v1/devices/register",
            json={"device_type": "light", "home_id": ids["home_id"]},
            headers=owner,
        )
        if device.status_code < 300:
            ids["device_id"] = device.json()["device_id"]
    group = await http.post("/api/v1/groups", json={"name": MARKER, "slug": MARKER}, headers=owner)
    if group.status_code < 300:
        ids["slug"] = group.json().get("slug", MARKER)
        listed = (await http.get("/api/v1/groups", headers=owner)).json()
        ids["group_id"] = next(
            (g.get("id", "") for g in listed.get("groups", []) if g.get("slug") == ids["slug"]), ids["slug"]
        )
    return ids


async def _victim_snapshot(http: httpx.AsyncClient, owner: dict[str, str]) -> list[Any]:
    snapshot = []
    for path in ("/api/v1/auth/api-keys", "/api/v1/homes", "/api/v1/devices", "/api/v1/groups"):
        response = await http.get(path, headers=owner)
        snapshot.append(
            (path, response.status_code, response.json() if response.status_code == 200 else None)
        )
    return snapshot


async def test_another_tenants_resources_are_not_found(app: Application) -> None:
    async with httpx.AsyncClient(base_url=base_url(app), timeout=10) as http:
        victim = bearer(await user_token(app, "owner", tier="pro"))
        ids = await _victim_resources(app, http, victim)
        before = await _victim_snapshot(http, victim)
        attacker = await user_token(app, "owner", tier="pro")
        failures = []
        for route in ROUTES:
            if route.websocket or route.method.policy.auth == options_pb2.AUTH_MODE_DEVICE:
                continue  # streams carry no resource ids; device routes authenticate devices
            path = _path(route, {**ids, "code": "HXT-" + secrets.token_hex(32)})
            response = await http.request(
                route.http_method, path, json={} if route.body else None, headers=bearer(attacker)
            )
            names_victim = any(name in ids for name in _VARIABLE.findall(route.template))
            problem = ""
            user_route = route.method.policy.auth == options_pb2.AUTH_MODE_UNSPECIFIED
            if response.status_code == 403 and user_route:
                problem = "403 (must be 404)"
            elif MARKER in response.text or any(v in response.text for k, v in ids.items() if k not in path):
                problem = "leaks the other tenant's data"
            elif names_victim and response.status_code < 300:
                problem = "acted on the other tenant's resource"
            elif names_victim and response.status_code not in (400, 404, 501):
                problem = "must answer 404"
            if problem:
                failures.append(
                    f"{route.http_method} {path}: {response.status_code} {problem}: {response.text[:200]}"
                )
        assert await _victim_snapshot(http, victim) == before
    assert not failures, "\n".join(failures)
