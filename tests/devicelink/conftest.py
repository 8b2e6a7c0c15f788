"""A running server on the embedded broker or on this machine's Mosquitto, devices registered through
the REST API, firmware-like peers on the broker, and the Prometheus counters of the device link."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

import ext
from server.app import Application
from tests.devicelink.firmware import FirmwareDevice, MqttPeer
from tests.integration.harness import base_url, running, token

TENANT = "tenant-1"


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def rejected(reason: str) -> float:
    return counter("hxtp_device_messages_rejected_total", reason=reason)


def accepted(message_type: str) -> float:
    return counter("hxtp_device_messages_total", message_type=message_type)


async def eventually(check: Callable[[], Any], within: float = 5.0) -> Any:
    """Poll `check` (plain or async) until it returns something truthy."""
    async with asyncio.timeout(within):
        while True:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return result
            await asyncio.sleep(0.02)


@dataclass
class Link:
    app: Application
    http: httpx.AsyncClient
    broker_url: str
    home_id: str = ""

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {token(self.app, tenant_id=TENANT)}"}

    async def register(self, **extra: Any) -> dict[str, Any]:
        if not self.home_id:
            home = {"home_name": "Lab"}
            response = await self.http.post("/api/v1/homes", headers=self.headers(), json=home)
            assert response.status_code == 201, response.text
            self.home_id = response.json()["id"]
        body = {"device_type": "esp32", "home_id": self.home_id, **extra}
        response = await self.http.post("/api/v1/devices/register", headers=self.headers(), json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def device(self, variant: str = ext.VARIANT_FIRMWARE_31, **extra: Any) -> FirmwareDevice:
        registration = await self.register(**extra)
        return FirmwareDevice(
            registration["device_id"], registration["tenant_id"], registration["device_secret"], variant
        )

    async def peer(self, device: FirmwareDevice) -> MqttPeer:
        peer = MqttPeer(self.broker_url, f"hxtp-{device.device_id}")
        await peer.connect()
        await peer.subscribe(device.topic("cmd"))
        return peer


async def _ready(link: Link) -> Link:
    """Wait until the server's subscription is live: a probe from an unknown device gets counted."""
    probe = MqttPeer(link.broker_url, "probe")
    await probe.connect()
    before = rejected("UNKNOWN_DEVICE")
    try:
        async with asyncio.timeout(5):
            while rejected("UNKNOWN_DEVICE") == before:
                probe.publish("hxtp/t/device/no-such-device/state", b"{}")
                await asyncio.sleep(0.05)
    finally:
        await probe.close()
    return link


@pytest.fixture(params=["embedded", "mosquitto"])
def broker_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def link(tmp_path: Path, request: pytest.FixtureRequest, broker_kind: str) -> AsyncIterator[Link]:
    env = {}
    if broker_kind == "mosquitto":
        env["HXTP_MQTT_URL"] = request.getfixturevalue("mosquitto_url")
    async with running(tmp_path, **env) as app:
        broker_url = app.broker.url if app.broker is not None else env["HXTP_MQTT_URL"]
        async with httpx.AsyncClient(base_url=base_url(app)) as http:
            yield await _ready(Link(app, http, broker_url))


@pytest.fixture
async def embedded_link(tmp_path: Path) -> AsyncIterator[Link]:
    async with running(tmp_path) as app:
        assert app.broker is not None
        async with httpx.AsyncClient(base_url=base_url(app)) as http:
            yield await _ready(Link(app, http, app.broker.url))
