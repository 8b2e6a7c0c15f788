"""What accepted device messages do beyond commands: bounded telemetry with its events, heartbeat;
the bridge after a broker restart. Presence: test_presence.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.devicelink.conftest import Link, _ready, accepted, eventually
from tests.integration.harness import base_url, running


@pytest.fixture
async def link(tmp_path: Path) -> AsyncIterator[Link]:
    env = {"HXTP_TELEMETRY_KEEP": "2", "HXTP_PRESENCE_WINDOW_SECONDS": "0.5"}
    async with running(tmp_path, **env) as app:
        assert app.broker is not None
        async with httpx.AsyncClient(base_url=base_url(app)) as http:
            yield await _ready(Link(app, http, app.broker.url))


async def test_telemetry_is_bounded_and_published(link: Link) -> None:
    app = link.app
    device = await link.device()
    peer = await link.peer(device)
    async with app.events.subscribe(device.tenant_id) as events:
        first = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0.05)
        try:
            before = accepted("telemetry")
            for reading in ("22.40", "22.50", "22.60"):
                peer.publish(
                    device.topic("telemetry"),
                    device.build(
                        "telemetry", f'{{"temperature":{reading},"humidity":41.30,"status":"nominal"}}'
                    ),
                )
            await eventually(lambda: accepted("telemetry") >= before + 3)
            kept = await app.device_messages.telemetry(device.device_id)
            assert [entry["data"]["temperature"] for entry in kept] == [22.6, 22.5]  # newest first
            event = await asyncio.wait_for(first, 5)
            assert event.type == "telemetry" and event.data is not None and event.data["temperature"] == 22.4

            shown = await link.http.get(f"/api/v1/devices/{device.device_id}", headers=link.headers())
            assert shown.json()["active"] is True and shown.json()["last_seen"] is not None
        finally:
            first.cancel()
            await peer.close()


async def test_the_bridge_resubscribes_after_the_broker_comes_back(embedded_link: Link) -> None:
    app = embedded_link.app
    assert app.broker is not None and app.mqtt is not None
    device = await embedded_link.device()
    await app.broker.stop()
    await eventually(lambda: not app.mqtt.connected)  # type: ignore[union-attr]
    down = await embedded_link.http.get("/health")
    assert down.json()["checks"]["mqtt"] is False
    await app.broker.start()  # same port
    await eventually(lambda: app.mqtt.connected, within=10)  # type: ignore[union-attr]
    up = await embedded_link.http.get("/health")
    assert up.json()["checks"]["mqtt"] is True
    peer = await embedded_link.peer(device)
    try:
        before = accepted("state")

        async def served() -> bool:
            peer.publish(device.topic("state"), device.build("state", '{"back":true}'))
            await asyncio.sleep(0.1)
            return accepted("state") > before

        await eventually(served, within=10)
    finally:
        await peer.close()
