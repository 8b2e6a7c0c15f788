"""Presence follows the broker's view of the connection where the broker tells it: an idle device
connected to the embedded broker stays online past the presence window and goes offline when it
disconnects; EMQX's client event topics do the same; the broker auth endpoints' connect call and
traffic count within the window only (Mosquitto, which reports nothing else)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from server.devicelink.broker_events import apply_emqx_client_event
from server.domain.fleet.presence import Presence
from server.storage.fleet_tables import Device
from server.storage.types import utc_now
from tests.devicelink.conftest import Link, _ready, eventually
from tests.devicelink.firmware import MqttPeer
from tests.integration.harness import base_url, running

WINDOW = "0.3"


@pytest.fixture
async def link(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Link]:
    env = {"HXTP_PRESENCE_WINDOW_SECONDS": WINDOW, "HXTP_BROKER_SERVER_PASSWORD": "pw"}
    if getattr(request, "param", "embedded") == "mosquitto":
        env["HXTP_MQTT_URL"] = request.getfixturevalue("mosquitto_url")
    async with running(tmp_path, **env) as app:
        broker_url = app.broker.url if app.broker is not None else env["HXTP_MQTT_URL"]
        async with httpx.AsyncClient(base_url=base_url(app)) as http:
            yield await _ready(Link(app, http, broker_url))


async def _status(link: Link, device_id: str) -> str:
    shown = await link.http.get(f"/api/v1/devices/{device_id}", headers=link.headers())
    return str(shown.json()["status"])


async def test_an_idle_connected_device_stays_online_until_it_disconnects(link: Link) -> None:
    device = await link.register()
    device_id = device["device_id"]
    assert await _status(link, device_id) == "offline"
    peer = MqttPeer(link.broker_url, f"hxtp-{device_id}")  # the firmware's client id; it sends nothing
    await peer.connect()
    try:
        await eventually(lambda: _online(link, device_id))
        await asyncio.sleep(float(WINDOW) * 2)  # idle for longer than the presence window
        assert await _status(link, device_id) == "online"
    finally:
        await peer.close()
    await eventually(lambda: _offline(link, device_id))


async def test_emqx_client_events_drive_presence(link: Link) -> None:
    device_id = (await link.register())["device_id"]
    topic = f"$SYS/brokers/emqx@127.0.0.1/clients/hxtp-{device_id}/"
    body = json.dumps({"clientid": f"hxtp-{device_id}", "username": device_id}).encode()
    apply_emqx_client_event(link.app.presence, topic + "connected", body)
    await asyncio.sleep(float(WINDOW) * 2)
    assert await _status(link, device_id) == "online"
    apply_emqx_client_event(link.app.presence, topic + "disconnected", body)
    assert await _status(link, device_id) == "offline"
    apply_emqx_client_event(link.app.presence, topic + "connected", b"not json")  # skipped, no raise
    assert await _status(link, device_id) == "offline"


async def test_a_broker_auth_connect_call_is_a_sign_of_life(link: Link) -> None:
    device = await link.register()
    device_id = device["device_id"]
    body = {"username": device_id, "password": device["device_secret"], "clientid": f"hxtp-{device_id}"}
    allowed = await link.http.post("/api/v1/broker/mosquitto/user", json=body)
    assert allowed.status_code == 200
    assert await _status(link, device_id) == "online"
    await eventually(lambda: _offline(link, device_id))  # nothing more from this broker: the window ends


async def _online(link: Link, device_id: str) -> bool:
    return await _status(link, device_id) == "online"


async def _offline(link: Link, device_id: str) -> bool:
    return await _status(link, device_id) == "offline"


async def test_traffic_another_replica_verified_counts_here(link: Link) -> None:
    """The stored last_seen (written by whichever replica verified the device's traffic) counts
    within the window."""
    device_id = (await link.register())["device_id"]
    await _store_last_seen(link, device_id)
    await eventually(lambda: _online(link, device_id))  # device reads are memoised for a second
    await eventually(lambda: _offline(link, device_id))  # the window ends


def test_a_connection_end_seen_here_outweighs_older_stored_traffic() -> None:
    presence = Presence(window_seconds=60)
    before = datetime.now(UTC)
    assert presence.is_active("d" * 32, before)
    presence.connected("d" * 32)
    presence.disconnected("d" * 32)
    assert not presence.is_active("d" * 32, before)
    assert presence.is_active("d" * 32, datetime.now(UTC) + timedelta(milliseconds=1))  # traffic after it


async def _store_last_seen(link: Link, device_id: str) -> None:
    async with link.app.database.session() as session:
        device = await session.get(Device, device_id)
        assert device is not None
        device.last_seen = utc_now()
        session.add(device)
        await session.commit()
