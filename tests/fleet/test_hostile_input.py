"""Input a client can send never produces a 500, on PostgreSQL too (which refuses NUL in text)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.integration.harness import base_url, running, token

NUL = "a\x00b"
NUL_PATH = "a%00b"  # percent-encoded in URLs; the server decodes it to the NUL character


async def test_nul_and_oversized_input_is_400_or_404_on_postgres(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    async with running(tmp_path, wait_for_mqtt=False, HXTP_DATABASE_URL=fresh_postgres_url) as app:
        async with httpx.AsyncClient(base_url=base_url(app)) as http:
            auth = {"authorization": f"Bearer {token(app)}"}
            home = (await http.post("/api/v1/homes", json={"home_name": "H"}, headers=auth)).json()["id"]
            long_id = "x" * 5000
            cases = [
                ("POST", "/homes", {"home_name": NUL}, 400),
                ("POST", "/homes", {"home_name": "H", "timezone": NUL}, 400),
                ("POST", f"/homes/{home}/rooms", {"name": NUL}, 400),
                ("POST", "/devices/register", {"type": "esp32", "home_id": NUL}, 404),
                ("POST", "/devices/register", {"type": "esp32", "home_id": long_id}, 404),
                ("POST", "/devices/register", {"type": "esp32", "home_id": home, "room_id": NUL}, 404),
                ("POST", "/devices/register", {"type": NUL, "home_id": home}, 400),
                ("POST", "/groups", {"name": NUL}, 400),
                ("POST", "/groups", {"name": "G", "device_ids": [NUL, long_id]}, 404),
                ("POST", "/firmware/check", {"device_type": NUL, "current_version": "1.0.0"}, 400),
                ("POST", "/firmware/check", {"device_id": NUL, "current_version": "1.0.0"}, 404),
                (
                    "POST",
                    "/firmware/release",
                    {"device_type": "x", "version": "1.0.0", "url": "https://a/\x00", "checksum": "ab" * 32},
                    400,
                ),
            ]
            for method, path, body, status in cases:
                response = await http.request(method, f"/api/v1{path}", json=body, headers=auth)
                assert response.status_code == status, (path, body, response.text)
            for path in [
                f"/devices/{NUL_PATH}",
                f"/devices/{long_id}",
                f"/firmware/{NUL_PATH}",
                f"/homes/{NUL_PATH}/rooms",
                f"/devices/{NUL_PATH}/manifest",
                "/devices?home_id=%00",
                "/devices?room_id=%00",
            ]:
                response = await http.get(f"/api/v1{path}", headers=auth)
                assert response.status_code == 404, (path, response.text)
            for path in [
                f"/groups/{NUL_PATH}/join",
                f"/groups/{long_id}/devices",
                f"/device/{NUL_PATH}/revoke",
            ]:
                response = await http.post(f"/api/v1{path}", json={"device_ids": ["d"]}, headers=auth)
                assert response.status_code == 404, (path, response.text)
