"""A server on this machine's Mosquitto (HXTP_MQTT_URL) whose bootstrap hands devices that broker,
a unique tenant per test, and hxtp-device processes (firmware/host) registered over REST."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.app import Application
from server.domain.identity.principal import Role
from server.storage.fleet_tables import Device
from tests.devicelink.conftest import eventually as link_eventually
from tests.firmware.device_process import DeviceProcess
from tests.integration.harness import base_url, running, token


async def eventually(check: Callable[[], Any], within: float = 20.0) -> Any:
    """Poll `check` until it returns something truthy (a wait for a device process, not an assertion
    on time): the device link tests' helper with room for a process to start."""
    return await link_eventually(check, within)


@dataclass
class Cloud:
    app: Application
    http: httpx.AsyncClient
    tmp: Path
    tenant: str = field(default_factory=lambda: f"fw-{secrets.token_hex(4)}")
    home_id: str = ""
    devices: list[DeviceProcess] = field(default_factory=list)

    def token(self) -> str:
        return token(self.app, Role.ADMIN, self.tenant)

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token()}"}

    @property
    def api(self) -> str:
        return f"{base_url(self.app)}/api/v1"

    async def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post(path, headers=self.headers(), json=body)

    async def get(self, path: str) -> httpx.Response:
        return await self.http.get(path, headers=self.headers())

    async def register(self, device_type: str = "light") -> dict[str, Any]:
        if not self.home_id:
            home = await self.post("/api/v1/homes", {"home_name": "Lab"})
            assert home.status_code == 201, home.text
            self.home_id = home.json()["id"]
        response = await self.post(
            "/api/v1/devices/register", {"device_type": device_type, "home_id": self.home_id}
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def start_device(self, registration: dict[str, Any], **options: str) -> DeviceProcess:
        state_dir = self.tmp / f"device-{registration['device_id']}"
        device = DeviceProcess(registration, self.api, state_dir, **options)
        self.devices.append(device)
        await device.start()
        await device.wait_for("ready")
        # The hello is verified and its profile recorded before the server writes to the device.
        await eventually(lambda: self._profile_is(registration["device_id"], "hxtp-3.1-bound"))
        return device

    # Polling reads the server's state directly: REST is rate limited per tenant (free tier 60/min),
    # and a poll loop would spend that. Final answers are still read over REST by the tests.

    async def device_row(self, device_id: str) -> Device | None:
        async with self.app.database.session() as session:
            return await session.get(Device, device_id)

    async def profile(self, device_id: str) -> str | None:
        """The wire profile recorded for the device (what the outbound link writes to it with)."""
        row = await self.device_row(device_id)
        return None if row is None else row.protocol

    async def _profile_is(self, device_id: str, profile: str) -> bool:
        return await self.profile(device_id) == profile

    async def command(self, device_id: str, action: str, params: dict[str, Any]) -> str:
        sent = await self.post(f"/api/v1/devices/{device_id}/command", {"action": action, "params": params})
        assert sent.status_code == 202, sent.text
        return str(sent.json()["command_id"])

    async def rest_until(self, path: str, holds: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """GET path every half second until `holds` (device views are memoised for a second)."""

        async def check() -> dict[str, Any] | None:
            response = await self.get(path)
            assert response.status_code == 200, response.text
            body = dict(response.json())
            return body if holds(body) else None

        async with asyncio.timeout(20):
            while True:
                body = await check()
                if body is not None:
                    return body
                await asyncio.sleep(0.5)

    async def status(self, command_id: str) -> str:
        return (await self.app.command_log.get(self.tenant, command_id)).status

    async def status_over_rest(self, command_id: str) -> str:
        record = await self.get(f"/api/v1/commands/{command_id}")
        assert record.status_code == 200, record.text
        return str(record.json()["status"])


@pytest.fixture
async def cloud(tmp_path: Path, mosquitto_url: str, free_tcp_port: int) -> AsyncIterator[Cloud]:
    env = {
        "HXTP_MQTT_URL": mosquitto_url,
        "HXTP_DEVICE_MQTT_ENDPOINT": mosquitto_url,
        "HXTP_HEARTBEAT_INTERVAL": "1",  # handed out by bootstrap: devices beat every second
        # A known port, so the image URLs in `ota` messages point at this server.
        "HXTP_HTTP_PORT": str(free_tcp_port),
        "HXTP_API_BASE_URL": f"http://127.0.0.1:{free_tcp_port}/api/v1",
    }
    async with running(tmp_path / "server", **env) as app:
        async with httpx.AsyncClient(base_url=base_url(app), timeout=30) as http:
            state = Cloud(app, http, tmp_path)
            try:
                yield state
            finally:
                for device in state.devices:
                    await device.stop()
                    print(f"--- hxtp-device {device.device_id}", *device.lines, sep="\n")  # shown on failure
