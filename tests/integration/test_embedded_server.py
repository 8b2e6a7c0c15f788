"""The whole server on its embedded defaults (SQLite, in-process cache, embedded MQTT broker),
exercised over real sockets as a client would."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from server.app import Application
from server.domain.identity.principal import Role
from tests.contract.test_route_table import REFERENCE
from tests.integration.harness import base_url, running, token

CHANGELOG = (Path(__file__).resolve().parents[2] / "CHANGELOG.md").read_text()
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Application]:
    async with running(tmp_path) as application:
        yield application


@pytest.fixture
async def http(app: Application) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url(app), timeout=10) as client:
        yield client


async def test_status_and_version_are_the_reference_bodies(http: httpx.AsyncClient) -> None:
    status = await http.get("/api/v1/status")
    assert status.status_code == 200
    assert status.json() == {
        "system": "HXTP Cloud",
        "status": "operational",
        "beta": True,
        "version": "1.0.0",
        "protocol": "HxTP/3.0",
    }
    version = await http.get("/api/v1/version")
    assert version.json() == {"version": "1.0.0", "protocol": "HxTP/3.0"}


async def test_changelog_is_served_from_the_file(http: httpx.AsyncClient) -> None:
    body = (await http.get("/api/v1/changelog")).json()
    assert body["entries"][0]["version"] == "1.0.0"
    assert body["entries"][0]["changes"]
    assert body["markdown"] == CHANGELOG


@pytest.mark.parametrize("path", ["/health", "/api/v1/health"])
async def test_health_is_ok_with_every_check(http: httpx.AsyncClient, path: str) -> None:
    response = await http.get(path)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert ISO_Z.match(body["timestamp"])
    assert body["checks"] == {"database": True, "redis": True, "mqtt": True, "protocol_ready": True}
    assert set(body["services"]) == {
        "api",
        "database",
        "redis",
        "mqtt",
        "worker",
        "build_service",
        "cloud_editor",
    }
    assert all(s["status"] == "operational" for s in body["services"].values())
    # What runs here, not the production parts the dashboard's labels name.
    assert body["backends"] == {"database": "sqlite", "cache": "in-process", "mqtt": "embedded"}
    assert body["services"]["database"] == {"status": "operational", "backend": "sqlite"}
    assert body["services"]["redis"] == {"status": "operational", "backend": "in-process"}
    assert body["services"]["api"] == {"status": "operational"}
    assert body["metrics"] == {"active_devices": 0}


async def test_liveness_and_readiness(http: httpx.AsyncClient) -> None:
    assert (await http.get("/health/live")).json() == {"status": "ok"}
    ready = await http.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


async def test_metrics_count_http_and_rpc_calls(http: httpx.AsyncClient) -> None:
    await http.get("/api/v1/status")
    text = (await http.get("/metrics")).text
    assert 'hxtp_http_requests_total{method="GET",route="/api/v1/status",status="200"}' in text
    assert 'hxtp_grpc_calls_total{code="OK",method="/hxtp.cloud.v1.SystemService/GetStatus"}' in text
    assert "hxtp_http_request_duration_seconds_bucket" in text
    assert "hxtp_active_devices 0.0" in text
    assert "process_resident_memory_bytes" in text


async def test_openapi_lists_every_reference_route(http: httpx.AsyncClient) -> None:
    document = (await http.get("/api/v1/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    templates = {
        re.sub(r"\{[^}]+\}", "{}", path): {m.upper() for m in operations}
        for path, operations in document["paths"].items()
    }
    for method, path in REFERENCE:
        key = re.sub(r"\{[^}]+\}", "{}", path)
        assert method in templates.get(key, set()), f"{method} {path} missing from the OpenAPI document"


async def test_missing_or_bad_credentials_are_401(app: Application, http: httpx.AsyncClient) -> None:
    assert (await http.get("/api/v1/homes")).status_code == 401
    bad = await http.get("/api/v1/homes", headers={"authorization": "Bearer not-a-jwt"})
    assert bad.status_code == 401 and bad.json()["code"] == "UNAUTHORIZED"
    expired = app.tokens.mint(
        __import__("server.domain.identity.principal", fromlist=["Principal"]).Principal(
            "u", "t", Role.ADMIN
        ),
        ttl_seconds=-10,
    )
    response = await http.get("/api/v1/homes", headers={"authorization": f"Bearer {expired}"})
    assert response.status_code == 401 and response.json()["reason"] == "Token expired"


async def test_tenant_and_role_come_from_the_proto_policy(app: Application, http: httpx.AsyncClient) -> None:
    tenantless = token(app, role=Role.NONE, tenant_id=None)
    response = await http.get("/api/v1/homes", headers={"authorization": f"Bearer {tenantless}"})
    assert response.status_code == 403 and response.json()["code"] == "TENANT_REQUIRED"
    viewer = token(app, role=Role.VIEWER)
    response = await http.post(
        "/api/v1/homes", json={"home_name": "x"}, headers={"authorization": f"Bearer {viewer}"}
    )
    assert response.status_code == 403 and response.json()["code"] == "FORBIDDEN"


async def test_websocket_without_credentials_is_closed_4401(app: Application) -> None:
    async with connect(f"ws://127.0.0.1:{app.ports.http}/ws/state") as socket:
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_tokens_survive_a_restart(tmp_path: Path) -> None:
    async with running(tmp_path) as first:
        credential = token(first)
    async with running(tmp_path) as second, httpx.AsyncClient(base_url=base_url(second)) as http:
        response = await http.get("/api/v1/homes", headers={"authorization": f"Bearer {credential}"})
    assert response.status_code == 200  # authenticated (not 401): the signing key was kept under ./var
