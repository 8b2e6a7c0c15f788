"""The application with a home and registered devices, plus firmware-like test devices on MQTT: called
in this process (`commands`) or over HTTP on a running server (`fleet`)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.app import Application
from server.domain.identity.principal import Principal, Role
from tests.commands.domain import Commands, listening
from tests.devicelink.firmware import FirmwareDevice, MqttPeer
from tests.integration.harness import base_url, running


@dataclass
class Fleet:
    app: Application
    http: httpx.AsyncClient
    tenant_id: str = field(default_factory=lambda: f"tenant-{uuid.uuid4().hex[:8]}")
    home_id: str = ""
    peers: list[MqttPeer] = field(default_factory=list)

    def headers(self, role: Role = Role.ADMIN, user_id: str = "user-1") -> dict[str, str]:
        credential = self.app.tokens.mint(Principal(user_id=user_id, tenant_id=self.tenant_id, role=role))
        return {"authorization": f"Bearer {credential}"}

    async def post(self, path: str, body: Any = None, **headers: str) -> httpx.Response:
        return await self.http.post(path, json=body, headers=headers or self.headers())

    async def register(self, device_type: str, room_id: str | None = None) -> dict[str, Any]:
        if not self.home_id:
            home = await self.post("/api/v1/homes", {"home_name": "Lab"})
            assert home.status_code == 201, home.text
            self.home_id = home.json()["id"]
        body: dict[str, Any] = {"device_type": device_type, "home_id": self.home_id}
        if room_id:
            body["room_id"] = room_id
        response = await self.post("/api/v1/devices/register", body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def room(self, name: str) -> str:
        if not self.home_id:
            await self.register("esp32")
        response = await self.post(f"/api/v1/homes/{self.home_id}/rooms", {"name": name})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def device_on_mqtt(
        self, device_type: str, room_id: str | None = None
    ) -> tuple[FirmwareDevice, MqttPeer]:
        """A registered device whose firmware twin listens on its `cmd` topic."""
        registration = await self.register(device_type, room_id)
        device = FirmwareDevice(
            registration["device_id"], registration["tenant_id"], registration["device_secret"]
        )
        peer = await listening(self.app, device)
        self.peers.append(peer)
        return device, peer


async def _fleet(tmp_path: Path, **env: str) -> AsyncIterator[Fleet]:
    async with running(tmp_path, **env) as app, httpx.AsyncClient(base_url=base_url(app), timeout=10) as http:
        fleet = Fleet(app, http)
        try:
            yield fleet
        finally:
            for peer in fleet.peers:
                await peer.close()


# The production parts are real services: those variants are integration tests.
@pytest.fixture(params=["embedded", pytest.param("production", marks=pytest.mark.integration)])
def parts(request: pytest.FixtureRequest) -> dict[str, str]:
    """The embedded defaults, or this machine's PostgreSQL, Redis and Mosquitto.

    Synchronous on purpose: the service fixtures it pulls in run their own event loops.
    """
    if request.param == "embedded":
        return {}
    return {
        "HXTP_DATABASE_URL": request.getfixturevalue("fresh_postgres_url"),
        "HXTP_REDIS_URL": request.getfixturevalue("redis_url"),
        "HXTP_MQTT_URL": request.getfixturevalue("mosquitto_url"),
    }


@pytest.fixture
async def fleet(tmp_path: Path, parts: dict[str, str]) -> AsyncIterator[Fleet]:
    async for value in _fleet(tmp_path, HXTP_CRITICAL_COMMANDS_PER_HOUR="100", **parts):
        yield value


@contextlib.asynccontextmanager
async def in_process(tmp_path: Path, wait_for_mqtt: bool = True, **env: str) -> AsyncIterator[Commands]:
    """The application on ``tmp_path`` without listeners, and a fresh tenant's caller of its commands."""
    async with running(tmp_path, wait_for_mqtt, listeners=False, **env) as app:
        commands = Commands(app)
        try:
            yield commands
        finally:
            await commands.close()


@pytest.fixture
async def commands(tmp_path: Path, parts: dict[str, str]) -> AsyncIterator[Commands]:
    """The command domain of an application without HTTP or gRPC listeners."""
    async with in_process(tmp_path, HXTP_CRITICAL_COMMANDS_PER_HOUR="100", **parts) as value:
        yield value
