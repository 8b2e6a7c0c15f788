"""Route matching: literals before variables, mounts, 404 and 405."""

from __future__ import annotations

import httpx
import pytest

from gateway.app import Gateway
from gateway.routes import Match, MethodMismatch
from tests.gateway.scripted import ScriptedTransport


def test_literal_segment_beats_variable(gateway: Gateway) -> None:
    register = gateway.router.match("POST", "/api/v1/devices/register")
    assert isinstance(register, Match)
    assert register.route.method.name == "RegisterDevice"
    batch = gateway.router.match("POST", "/api/v1/devices/command")
    assert isinstance(batch, Match) and batch.route.method.name == "ExecuteBatchCommand"
    get = gateway.router.match("GET", "/api/v1/devices/dev-1")
    assert isinstance(get, Match)
    assert get.route.method.name == "GetDevice" and get.params == {"device_id": "dev-1"}


def test_firmware_check_is_not_taken_for_a_firmware_id(gateway: Gateway) -> None:
    check = gateway.router.match("GET", "/api/v1/firmware/check")
    assert isinstance(check, Match) and check.route.method.name == "CheckFirmware"
    detail = gateway.router.match("GET", "/api/v1/firmware/fw-9")
    assert isinstance(detail, Match) and detail.params == {"firmware_id": "fw-9"}


def test_variables_keep_their_own_names_on_shared_prefixes(gateway: Gateway) -> None:
    command = gateway.router.match("POST", "/api/v1/groups/kitchen/command")
    devices = gateway.router.match("POST", "/api/v1/groups/g-1/devices")
    assert isinstance(command, Match) and command.params == {"slug": "kitchen"}
    assert isinstance(devices, Match) and devices.params == {"group_id": "g-1"}


@pytest.mark.parametrize(
    ("path", "served"),
    [
        ("/health", True),
        ("/api/v1/health", True),
        ("/health/live", True),
        ("/api/v1/health/ready", True),
        ("/metrics", True),
        ("/api/v1/metrics", True),
        ("/ws/state", True),
        ("/ws", True),
        ("/api/v1/ws/state", False),
        ("/status", False),
        ("/api/v1/status", True),
        ("/api/v1/intent", False),  # POST only
        ("/api/v1/api/v1/intent", False),
    ],
)
def test_mounts(gateway: Gateway, path: str, served: bool) -> None:
    match = gateway.router.match("GET", path)
    if served:
        assert isinstance(match, Match), path
    else:
        assert not isinstance(match, Match), path


async def test_unknown_route_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/no/such/thing")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert isinstance(response.json()["error"], str)


async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient, gateway: Gateway) -> None:
    response = await client.delete("/api/v1/status")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"
    mismatch = gateway.router.match("PUT", "/api/v1/homes")
    assert isinstance(mismatch, MethodMismatch) and set(mismatch.allowed) == {"GET", "POST"}


async def test_trailing_slash_is_tolerated(client: httpx.AsyncClient, transport: ScriptedTransport) -> None:
    response = await client.get("/api/v1/homes/")
    assert response.status_code == 200
    assert transport.last.method == "/hxtp.cloud.v1.HomeService/ListHomes"


async def test_websocket_route_without_upgrade_is_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/ws/state")
    assert response.status_code == 400
    assert response.json()["code"] == "BAD_REQUEST"
