"""OTA rollouts end to end: a released image rolled out in stages to hxtp-device processes over this
machine's Mosquitto; the devices download it (signed request), check sha256 and the release's
Ed25519 signature, "flash" it and report the new version in their next hello. A tampered image is
refused, reported with its reason, and stops the rollout."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import httpx
from websockets.asyncio.client import connect

from tests.firmware.conftest import Cloud, eventually


async def _release(cloud: Cloud, version: str, image: bytes) -> dict[str, Any]:
    uploaded = await cloud.http.post(
        "/api/v1/firmware/upload",
        headers=cloud.headers(),
        files={"firmware": ("fw.bin", image, "application/octet-stream")},
        data={"version": version, "device_type": "light"},
    )
    assert uploaded.status_code == 201, uploaded.text
    firmware_id = uploaded.json()["id"]
    released = await cloud.post(f"/api/v1/firmware/{firmware_id}/release", {})
    assert released.status_code == 200, released.text
    record = await cloud.get(f"/api/v1/firmware/{firmware_id}")
    return dict(record.json())


async def _rollout(cloud: Cloud, firmware_id: str) -> dict[str, Any]:
    response = await cloud.get(f"/api/v1/firmware/{firmware_id}/rollout")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _settled(cloud: Cloud, firmware_id: str) -> dict[str, Any]:
    """The rollout once it is no longer running (polled in the domain, then read over REST)."""

    async def finished() -> bool:
        return (await cloud.app.rollouts.latest(cloud.tenant, firmware_id)).status != "running"

    await eventually(finished)
    return await _rollout(cloud, firmware_id)


async def test_a_staged_rollout_brings_two_devices_to_the_new_version(cloud: Cloud) -> None:
    image = b"hxtp-device image 1.1.0 " + secrets.token_bytes(2048)
    firmware = await _release(cloud, "1.1.0", image)
    key = firmware["signing_public_key"]
    registrations = [await cloud.register("light") for _ in range(2)]
    devices = [await cloud.start_device(r, ota_public_key=key) for r in registrations]
    ids = sorted(r["device_id"] for r in registrations)

    url = f"ws://127.0.0.1:{cloud.app.ports.http}/ws/state?token={cloud.token()}"
    async with connect(url, open_timeout=10) as socket:
        started = await cloud.post(
            f"/api/v1/firmware/{firmware['id']}/rollout",
            {"device_ids": ids, "stages": [50, 100], "failure_threshold": 0},
        )
        assert started.status_code == 201, started.text
        body = started.json()
        assert body["status"] == "running" and body["stages"] == [50, 100] and body["current_stage"] == 1
        assert sorted(d["stage"] for d in body["devices"]) == [1, 2]  # one device per stage
        assert [d["status"] for d in body["devices"] if d["stage"] == 2] == ["pending"]
        events: list[dict[str, Any]] = []
        async with asyncio.timeout(30):
            while sum(e.get("status") == "applied" for e in events) < 2:
                frame = json.loads(await socket.recv())
                if frame.get("type") == "ota_status":
                    events.append(frame)
    seen = {(e["device_id"], e["status"]) for e in events}
    for device_id in ids:
        assert {(device_id, s) for s in ("downloading", "verified", "applied")} <= seen

    rollout = await _settled(cloud, firmware["id"])
    assert rollout["status"] == "completed" and rollout["current_stage"] == 2
    assert {d["device_id"]: d["status"] for d in rollout["devices"]} == {i: "applied" for i in ids}
    for device in devices:
        assert await device.wait_for("ready 1.1.0")
        flashed = (cloud.tmp / f"device-{device.device_id}" / "firmware.bin").read_bytes()
        assert flashed == image

    async def on_new_version() -> bool:
        rows = [await cloud.device_row(i) for i in ids]
        return all(row is not None and row.firmware == "1.1.0" for row in rows)

    assert await eventually(on_new_version)  # reported by each device's next hello
    for device_id in ids:
        await cloud.rest_until(f"/api/v1/devices/{device_id}", lambda view: view["firmware"] == "1.1.0")
    for device_id in ids:
        history = (await cloud.get(f"/api/v1/devices/{device_id}/commands")).json()
        rows = (
            history if isinstance(history, list) else next(v for v in history.values() if isinstance(v, list))
        )
        assert [(r["action"], r["status"]) for r in rows] == [("ota", "acked")]
    audit = [e.event_type for e in await cloud.app.audit.entries(cloud.tenant, limit=1000)]
    assert audit.count("firmware.rollout_stage") == 2 and audit.count("firmware.ota_applied") == 2
    assert "firmware.rollout_started" in audit and "firmware.rollout_completed" in audit


async def test_a_tampered_image_is_refused_reported_and_stops_the_rollout(cloud: Cloud) -> None:
    firmware = await _release(cloud, "1.2.0", b"genuine image " + secrets.token_bytes(512))
    stored = cloud.app.settings.firmware_dir / f"{firmware['id']}.bin"
    stored.write_bytes(b"tampered image " + secrets.token_bytes(512))  # swapped behind the server's back
    registrations = [await cloud.register("light") for _ in range(2)]
    devices = {
        r["device_id"]: await cloud.start_device(r, ota_public_key=firmware["signing_public_key"])
        for r in registrations
    }
    started = await cloud.post(
        f"/api/v1/firmware/{firmware['id']}/rollout",
        {"device_ids": sorted(devices), "stages": [50, 100], "failure_threshold": 0},
    )
    assert started.status_code == 201, started.text
    first = next(d["device_id"] for d in started.json()["devices"] if d["stage"] == 1)
    second = next(d["device_id"] for d in started.json()["devices"] if d["stage"] == 2)

    rollout = await _settled(cloud, firmware["id"])
    assert rollout["status"] == "stopped" and "1 of 1 devices failed" in rollout["reason"]
    by_id = {d["device_id"]: d for d in rollout["devices"]}
    assert by_id[first]["status"] == "failed"
    assert by_id[first]["reason"] == "image sha256 does not match the offer"
    assert by_id[second]["status"] == "pending"  # the next stage was never sent
    assert await devices[first].wait_for("ota failed HASH_MISMATCH")
    assert not (cloud.tmp / f"device-{first}" / "firmware.bin").exists()
    view = (await cloud.get(f"/api/v1/devices/{first}")).json()
    assert view["firmware"] == "1.0.0"
    history = (await cloud.get(f"/api/v1/devices/{first}/commands")).json()
    rows = history if isinstance(history, list) else next(v for v in history.values() if isinstance(v, list))
    assert [(r["action"], r["status"]) for r in rows] == [("ota", "failed")]
    audit = [e.event_type for e in await cloud.app.audit.entries(cloud.tenant, limit=1000)]
    assert "firmware.ota_failed" in audit and "firmware.rollout_stopped" in audit


async def test_the_image_route_serves_only_a_device_the_rollout_was_sent_to(cloud: Cloud) -> None:
    firmware = await _release(cloud, "1.3.0", b"image " + secrets.token_bytes(64))
    async with httpx.AsyncClient(base_url=cloud.api) as http:
        anonymous = await http.get(f"/firmware/{firmware['id']}/image")
        assert anonymous.status_code == 401, anonymous.text
        assert "rollout" not in anonymous.text.lower()
        as_user = await http.get(f"/firmware/{firmware['id']}/image", headers=cloud.headers())
        assert as_user.status_code == 401


async def test_rollout_requests_are_checked(cloud: Cloud) -> None:
    firmware = await _release(cloud, "1.4.0", b"image " + secrets.token_bytes(64))
    registration = await cloud.register("light")
    path = f"/api/v1/firmware/{firmware['id']}/rollout"
    for body in (
        {},
        {"device_ids": [registration["device_id"]], "group": "g"},
        {"device_ids": [registration["device_id"]], "stages": [60, 40]},
        {"device_ids": [registration["device_id"]], "stages": [50]},
        {"device_type": "light", "percentage": 0},
        {"device_type": "switch", "percentage": 50},
    ):
        response = await cloud.post(path, body)
        assert response.status_code == 400, (body, response.text)
    missing = await cloud.post(path, {"device_ids": ["0" * 32]})
    assert missing.status_code == 404, missing.text
    assert (await cloud.get(path)).status_code == 404
    unknown = await cloud.post("/api/v1/firmware/not-a-firmware/rollout", {"device_ids": ["x"]})
    assert unknown.status_code == 404


async def test_targets_by_group_and_by_percentage_of_a_device_type(cloud: Cloud) -> None:
    lights = [(await cloud.register("light"))["device_id"] for _ in range(4)]
    switch = (await cloud.register("switch"))["device_id"]
    group = await cloud.post("/api/v1/groups", {"name": "Hall lights", "device_ids": lights[:2]})
    assert group.status_code == 201, group.text
    first = await _release(cloud, "2.0.0", b"image " + secrets.token_bytes(64))
    by_group = await cloud.post(f"/api/v1/firmware/{first['id']}/rollout", {"group": group.json()["slug"]})
    assert by_group.status_code == 201, by_group.text
    assert sorted(d["device_id"] for d in by_group.json()["devices"]) == sorted(lights[:2])
    assert {d["status"] for d in by_group.json()["devices"]} == {"sent"}  # published; nobody listens
    again = await cloud.post(f"/api/v1/firmware/{first['id']}/rollout", {"group": group.json()["slug"]})
    assert again.status_code == 409, again.text

    second = await _release(cloud, "2.1.0", b"image " + secrets.token_bytes(64))
    by_type = await cloud.post(
        f"/api/v1/firmware/{second['id']}/rollout",
        {"device_type": "light", "percentage": 50, "stages": [50, 100]},
    )
    assert by_type.status_code == 201, by_type.text
    targets = by_type.json()["devices"]
    assert len(targets) == 2 and {d["device_id"] for d in targets} <= set(lights) and switch not in targets
    assert sorted((d["stage"], d["status"]) for d in targets) == [(1, "sent"), (2, "pending")]
    shown = await _rollout(cloud, second["id"])
    assert shown["id"] == by_type.json()["id"] and shown["status"] == "running"
