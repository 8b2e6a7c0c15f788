"""Telemetry end to end: a device's samples reach /ws/state with their data (through the one
EventBus) and are read back, newest first, from GET /api/v1/devices/{id}/telemetry."""

from __future__ import annotations

import pytest

from tests.devicelink.conftest import Link, accepted, eventually
from tests.livestate.wsclient import next_event, open_socket, until_streaming


@pytest.mark.parametrize("broker_kind", ["embedded", "mosquitto"])
async def test_telemetry_at_the_websocket_and_the_route(link: Link) -> None:
    app = link.app
    device = await link.device()
    peer = await link.peer(device)
    credential = link.headers()["authorization"].removeprefix("Bearer ")
    try:
        async with open_socket(app, credential) as sock:
            await until_streaming(app.events, device.tenant_id, sock)
            before = accepted("telemetry")
            for reading in ("22.40", "22.50", "22.60"):
                sample = f'{{"temperature":{reading},"status":"nominal"}}'
                peer.publish(device.topic("telemetry"), device.build("telemetry", sample))
            events = [await next_event(sock) for _ in range(3)]
        assert [e["type"] for e in events] == ["telemetry"] * 3
        assert [e["data"]["temperature"] for e in events] == [22.4, 22.5, 22.6]
        assert all(e["device_id"] == device.device_id and "state" not in e for e in events)
        await eventually(lambda: accepted("telemetry") >= before + 3)

        path = f"/api/v1/devices/{device.device_id}/telemetry"
        everything = (await link.http.get(path, headers=link.headers())).json()
        assert [s["data"]["temperature"] for s in everything["samples"]] == [22.6, 22.5, 22.4]
        assert everything["count"] == 3 and everything["keep"] == 100
        assert everything["retention_seconds"] == 86400
        newest = (await link.http.get(path, params={"limit": 1}, headers=link.headers())).json()
        assert [s["data"]["temperature"] for s in newest["samples"]] == [22.6]
        oldest_received = everything["samples"][2]["received_at"]
        since = (await link.http.get(path, params={"since": oldest_received}, headers=link.headers())).json()
        assert all(s["received_at"] > oldest_received for s in since["samples"])
        assert 22.4 not in [s["data"]["temperature"] for s in since["samples"]]
    finally:
        await peer.close()


async def test_telemetry_route_refuses_bad_paging_and_other_tenants(embedded_link: Link) -> None:
    device = await embedded_link.register()
    path = f"/api/v1/devices/{device['device_id']}/telemetry"
    bad = await embedded_link.http.get(path, params={"limit": -1}, headers=embedded_link.headers())
    assert bad.status_code == 400 and "limit" in bad.json()["reason"]
    empty = await embedded_link.http.get(path, headers=embedded_link.headers())
    assert empty.status_code == 200 and empty.json()["samples"] == [] and empty.json()["count"] == 0
    other = await embedded_link.http.get(
        "/api/v1/devices/" + "e" * 32 + "/telemetry", headers=embedded_link.headers()
    )
    assert other.status_code == 404
