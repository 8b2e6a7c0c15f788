"""Fleet data survives a restart, on the embedded SQLite database and on PostgreSQL."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx

from tests.integration.harness import base_url, running, token

IMAGE = b"persisted firmware image"


async def _populate(http: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    async def post(path: str, **kwargs: Any) -> Any:
        response = await http.post(f"/api/v1{path}", headers=auth, **kwargs)
        assert response.status_code in (200, 201), response.text
        return response.json()

    home = (await post("/homes", json={"name": "Villa", "timezone": "Europe/Paris"}))["id"]
    room = (await post(f"/homes/{home}/rooms", json={"name": "Salon"}))["id"]
    device = await post("/devices/register", json={"type": "light", "home_id": home, "room_id": room})
    rotated = await post(f"/devices/{device['device_id']}/rotate-secret")
    await post("/groups", json={"name": "Salon Lights", "device_ids": [device["device_id"]]})
    await post("/groups/salon-lights/join")
    await http.put(
        f"/api/v1/devices/{device['device_id']}/manifest",
        headers=auth,
        json={"capabilities": [{"action": "blink"}]},
    )
    firmware = await post(
        "/firmware/upload",
        files={"firmware": ("fw.bin", IMAGE)},
        data={"version": "1.2.3", "device_type": "light"},
    )
    await post(f"/firmware/{firmware['id']}/release")
    return {
        "home": home,
        "room": room,
        "device": device,
        "new_secret": rotated["new_secret"],
        "firmware": firmware,
    }


async def _round_trip(data_dir: Path, **env: str) -> None:
    async with running(data_dir, wait_for_mqtt=False, **env) as first:
        auth = {"authorization": f"Bearer {token(first)}"}
        async with httpx.AsyncClient(base_url=base_url(first)) as http:
            made = await _populate(http, auth)
        signing_key = (
            await http_get_json(first, "/firmware/check?device_type=light&current_version=0", auth)
        )["signing_public_key"]
    device_id = made["device"]["device_id"]
    async with running(data_dir, wait_for_mqtt=False, **env) as second:

        async def get(path: str) -> Any:
            return await http_get_json(second, path, auth)

        homes = (await get("/homes"))["homes"]
        assert [(h["id"], h["name"], h["timezone"]) for h in homes] == [
            (made["home"], "Villa", "Europe/Paris")
        ]
        assert [r["id"] for r in (await get(f"/homes/{made['home']}/rooms"))["rooms"]] == [made["room"]]
        device = await get(f"/devices/{device_id}")
        assert (device["device_type"], device["room_id"], device["key_version"]) == ("light", made["room"], 2)
        history = await get(f"/device/{device_id}/key-history")
        # No device message yet: version 2 waits for the device, version 1 still signs.
        assert [(h["version"], h["status"]) for h in history["history"]] == [(2, "pending"), (1, "active")]
        # The master key was kept: both sealed secrets still open.
        secrets = await second.device_keys.active_and_previous(device_id)
        assert [s.hex() for s in secrets] == [made["device"]["device_secret"], made["new_secret"]]
        group = (await get("/groups"))["groups"][0]
        assert (group["slug"], group["device_ids"], group["member_count"]) == ("salon-lights", [device_id], 1)
        versions = (await get(f"/devices/{device_id}/manifest/history"))["versions"]
        assert [v["version"] for v in versions] == [2, 1] and versions[0]["capabilities"][0][
            "action"
        ] == "blink"
        check = await get("/firmware/check?device_type=light&current_version=1.0.0")
        assert check["update_available"] is True and check["checksum"] == hashlib.sha256(IMAGE).hexdigest()
        assert check["signing_public_key"] == signing_key
        async with httpx.AsyncClient(base_url=base_url(second)) as http:
            image = await http.get(f"/api/v1/firmware/{made['firmware']['id']}/download", headers=auth)
        assert image.content == IMAGE


async def http_get_json(app: Any, path: str, auth: dict[str, str]) -> Any:
    async with httpx.AsyncClient(base_url=base_url(app)) as http:
        response = await http.get(f"/api/v1{path}", headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


async def test_fleet_survives_a_restart_on_sqlite(tmp_path: Path) -> None:
    await _round_trip(tmp_path)


async def test_fleet_survives_a_restart_on_postgres(tmp_path: Path, fresh_postgres_url: str) -> None:
    await _round_trip(tmp_path, HXTP_DATABASE_URL=fresh_postgres_url)
