"""Each profile's device-side limits are refused up front with a 400 naming the limit, never a 202
for a command the device cannot take (firmware v1.0.6 builds its signing template in 1,024 bytes)."""

from __future__ import annotations

from tests.devicelink.conftest import Link


async def _command(link: Link, device_id: str, note: str) -> tuple[int, dict[str, object]]:
    response = await link.http.post(
        f"/api/v1/devices/{device_id}/command",
        headers=link.headers(),
        json={"action": "ping", "params": {"note": note}, "dry_run": False},
    )
    return response.status_code, dict(response.json())


async def test_v106_template_over_its_buffer_is_a_400_naming_the_limit(embedded_link: Link) -> None:
    device = await embedded_link.register(protocol="hxtp-3.0-fw")
    # About 560 bytes of template around the params: 500 characters fit, 600 do not.
    status, body = await _command(embedded_link, device["device_id"], "x" * 600)
    assert status == 400, body
    assert body["code"] == "PARAMS_INVALID", body
    assert "1024-byte" in str(body["reason"]), body
    status, body = await _command(embedded_link, device["device_id"], "x" * 300)
    assert status == 202, body


async def test_the_same_command_fits_a_v107_device(embedded_link: Link) -> None:
    device = await embedded_link.register(protocol="hxtp-3.1")
    status, body = await _command(embedded_link, device["device_id"], "x" * 600)
    assert status == 202, body
