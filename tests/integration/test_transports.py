"""The gateway answers the same through both transports: in-process (default) and a remote gRPC target."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.app import Gateway
from gateway.transport import RemoteTransport
from server.app import Application
from server.domain.identity.principal import Role
from tests.integration.harness import base_url, running, token
from tests.serving import serving


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Application]:
    async with running(tmp_path) as application:
        yield application


@pytest.fixture(params=["in-process", "remote"])
async def http(request: pytest.FixtureRequest, app: Application) -> AsyncIterator[httpx.AsyncClient]:
    if request.param == "in-process":
        async with httpx.AsyncClient(base_url=base_url(app), timeout=10) as client:
            yield client
        return
    transport = RemoteTransport(f"127.0.0.1:{app.ports.grpc}")
    try:
        async with (
            serving(Gateway(transport)) as port,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
        ):
            yield client
    finally:
        await transport.close()


async def test_success_bodies(http: httpx.AsyncClient) -> None:
    assert (await http.get("/api/v1/version")).json() == {"version": "1.0.0", "protocol": "HxTP/3.0"}
    health = await http.get("/health")
    assert health.status_code == 200 and health.json()["checks"]["database"] is True
    metrics = await http.get("/metrics")
    assert (
        metrics.headers["content-type"].startswith("text/plain")
        and "hxtp_http_requests_total" in metrics.text
    )


async def test_error_bodies(app: Application, http: httpx.AsyncClient) -> None:
    unauthenticated = await http.get("/api/v1/devices")
    assert unauthenticated.status_code == 401
    assert unauthenticated.json() == {
        "error": "Missing credentials",
        "code": "UNAUTHORIZED",
        "reason": "Missing credentials",
    }
    viewer = token(app, role=Role.VIEWER)
    refused = await http.post(
        "/api/v1/device/register", json={}, headers={"authorization": f"Bearer {viewer}"}
    )
    assert refused.status_code == 403 and refused.json()["code"] == "FORBIDDEN"
    bad = await http.post(
        "/api/v1/homes", json={"home_name": 1}, headers={"authorization": f"Bearer {token(app)}"}
    )
    assert bad.status_code == 400 and bad.json()["field"] == "home_name"
