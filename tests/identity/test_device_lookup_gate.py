"""The device-lookup gate (contract §4.2): on methods flagged `device_lookup_first`, a device the
caller's tenant does not have is a 404 before the tenant, role, scope and rate-limit gates; a device
it has goes on to those gates. The device directory is the port the fleet repository satisfies; here
a directory over a fixed set stands in for it (a seam, not a mock of the chain)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.app import Gateway
from gateway.transport import InProcessTransport
from server.cache.memory import MemoryCache
from server.domain.identity.api_keys import ApiKeys
from server.domain.identity.authentication import Authenticator
from server.domain.identity.principal import Principal, Role
from server.domain.identity.rate_limits import InProcessRateLimiter
from server.domain.identity.sessions import Sessions
from server.domain.identity.tokens import TokenService
from server.domain.identity.users import Identity
from server.domain.resources import FoundBy
from server.errors import Code, HxtpError
from server.rpc.chain import Chain
from server.rpc.registry import build_endpoints
from server.storage.database import Database
from server.storage.migrate import run_migrations_async

DEVICES = {("tenant-a", "lamp-1")}


async def fixed_directory_get(tenant_id: str, device_id: str) -> object:
    if (tenant_id, device_id) not in DEVICES:
        raise HxtpError(Code.NOT_FOUND, "Device not found")
    return object()


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, TokenService, ApiKeys]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    await run_migrations_async(url)
    database, cache, tokens = Database(url), MemoryCache(), TokenService("k" * 32)
    keys = ApiKeys(database)
    authenticator = Authenticator(tokens, Identity(database), keys, Sessions(cache))
    chain = Chain(authenticator, devices=FoundBy(fixed_directory_get), limiter=InProcessRateLimiter())
    endpoints = build_endpoints({}, chain)
    gateway = Gateway(InProcessTransport({name: e.handler for name, e in endpoints.items()}))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gateway), base_url="http://t/api/v1"
    ) as http:
        yield http, tokens, keys
    await database.dispose()


def auth(tokens: TokenService, role: Role, tenant: str | None = "tenant-a") -> dict[str, str]:
    return {"authorization": "Bearer " + tokens.mint(Principal("u-" + role.label, tenant, role))}


async def test_known_device_goes_on_to_the_role_gate(
    setup: tuple[httpx.AsyncClient, TokenService, ApiKeys],
) -> None:
    http, tokens, _ = setup
    body = {"action": "status", "params": None}
    for path in ("/devices/lamp-1/command", "/device/lamp-1/command", "/devices/lamp-1/command/confirm"):
        viewer = await http.post(path, json=body, headers=auth(tokens, Role.VIEWER))
        assert viewer.status_code == 403 and viewer.json()["code"] == "FORBIDDEN", path
        user = await http.post(path, json=body, headers=auth(tokens, Role.USER))
        assert user.status_code == 501, path  # admitted; the command domain is not built here
        # Command routes take the tenant quota at the gates' rate-limit step, after validation, and
        # no command servicer runs here (tests/commands covers the quota on the real gates).
        assert "x-ratelimit-limit" not in user.headers
    for credential in (auth(tokens, Role.OWNER, "tenant-b"), auth(tokens, Role.NONE, None)):
        other = await http.post("/devices/lamp-1/command", json=body, headers=credential)
        assert other.status_code == 404 and "x-ratelimit-limit" not in other.headers
    unknown = await http.post("/devices/ping/command", json=body, headers=auth(tokens, Role.VIEWER))
    assert unknown.status_code == 404


async def test_directory_errors_other_than_not_found_propagate() -> None:
    async def broken(tenant_id: str, device_id: str) -> object:
        raise HxtpError(Code.SERVICE_UNAVAILABLE)

    with pytest.raises(HxtpError):
        await FoundBy(broken).device_in_tenant("t", "d")
    assert await FoundBy(fixed_directory_get).device_in_tenant("tenant-a", "lamp-1") is True
