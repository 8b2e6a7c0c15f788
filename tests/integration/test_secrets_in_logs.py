"""No credential in any log line or error body.

Drives every flow that touches a token, an API key, a session, a CLI handshake code or a device
secret (minting, use as header, cookie and query, WebSocket handshakes, rotation, broker
authentication, refusals of wrong ones), with every logger at DEBUG and uvicorn's own handlers
captured too, then scans everything logged and every error body for the credentials themselves.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from server.app import Application
from tests.integration.harness import base_url, running


class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(logging.Formatter("%(name)s %(message)s").format(record))


async def _ws(app: Application, query: str, headers: dict[str, str] | None = None) -> None:
    url = f"ws://127.0.0.1:{app.ports.http}/ws/state?{query}"
    try:
        async with connect(url, open_timeout=5, additional_headers=headers or {}) as socket:
            await socket.send("ping")
            assert await socket.recv() == "pong"
    except (InvalidStatus, ConnectionClosed):
        pass  # refused handshakes are logged too: that is what is being scanned


async def test_no_credential_reaches_a_log_line_or_an_error_body(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    captured = _Everything()
    found: list[str] = []  # every credential the flows handle
    bodies: list[str] = []  # every error body
    async with running(tmp_path, HXTP_LOG_LEVEL="debug") as app:
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "websockets"):
            logging.getLogger(name).addHandler(captured)
        try:
            async with httpx.AsyncClient(base_url=base_url(app) + "/api/v1", timeout=10) as http:

                async def call(method: str, path: str, **kwargs: object) -> httpx.Response:
                    response = await http.request(method, path, **kwargs)  # type: ignore[arg-type]
                    if response.status_code >= 400:
                        bodies.append(response.text)
                    return response

                principal = await app.identity.identity.ensure_user("o@example.com", "owner", "Secret Home")
                await app.identity.identity.set_tier(principal.tenant_id or "", "pro")
                jwt = app.tokens.mint(principal)
                found.append(jwt)
                auth = {"authorization": f"Bearer {jwt}"}
                assert (await call("GET", "/auth/me", headers=auth)).status_code == 200

                key = (
                    await call(
                        "POST", "/auth/api-keys", json={"name": "k", "scopes": ["devices:read"]}, headers=auth
                    )
                ).json()
                found.append(key["key"])
                await call("GET", "/devices", headers={"x-api-key": key["key"]})
                await call("GET", "/devices", headers={"authorization": f"Bearer {key['key']}"})
                rotated = (
                    await call("POST", "/auth/api-keys/rotate", json={"id": key["id"]}, headers=auth)
                ).json()
                found.append(rotated["key"])
                await call("GET", "/devices", headers={"x-api-key": key["key"]})  # the revoked one: 401

                session = await call("GET", "/auth/csrf", headers=auth)
                found.extend([session.json()["csrfToken"], http.cookies["hxtp_session"]])
                await call("GET", "/auth/me")  # by cookie
                await call("POST", "/homes", json={"home_name": "x"}, headers={"x-csrf-token": "wrong"})
                http.cookies.clear()

                home = (await call("POST", "/homes", json={"home_name": "H"}, headers=auth)).json()["id"]
                device = (
                    await call(
                        "POST", "/devices/register", json={"type": "light", "home_id": home}, headers=auth
                    )
                ).json()
                found.append(device["device_secret"])
                device_id = device["device_id"]
                new_secret = (await call("POST", f"/device/{device_id}/rotate-secret", headers=auth)).json()
                new_secret["device_secret"] = new_secret["new_secret"]
                found.append(new_secret["device_secret"])
                for password in (device["device_secret"], new_secret["device_secret"]):
                    await call(
                        "POST", "/broker/mosquitto/user", json={"username": device_id, "password": password}
                    )
                    await call(
                        "POST", "/broker/emqx/authn", json={"username": device_id, "password": password}
                    )
                await call(
                    "GET",
                    f"/device/{device_id}/bootstrap",
                    headers={"x-device-secret": new_secret["device_secret"]},
                )
                await call("POST", f"/device/{device_id}/command", json={"action": "light_on"}, headers=auth)

                code = "HXT-" + secrets.token_hex(32)
                found.append(code)
                await call("GET", "/auth/cli", params={"code": code})
                await call("POST", "/auth/cli/approve", json={"code": code}, headers=auth)
                polled = await call("GET", f"/auth/handshake/{code}")
                cli_token = polled.json().get("token", "")
                if cli_token:
                    found.append(cli_token)
                await call("GET", f"/auth/handshake/{code}")  # already taken: 404

                forged = jwt[:-4] + ("AAAA" if not jwt.endswith("AAAA") else "BBBB")
                found.append(forged)
                await call("GET", "/auth/me", headers={"authorization": f"Bearer {forged}"})
                await call("GET", "/auth/me", headers={"authorization": "Bearer hxtp_" + "z" * 40})
                found.append("hxtp_" + "z" * 40)

            await _ws(app, f"token={jwt}")
            await _ws(app, f"token={rotated['key']}")
            await _ws(app, f"token={forged}")
            await _ws(app, f"access_token={jwt}&token={key['key']}")
        finally:
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "websockets"):
                logging.getLogger(name).removeHandler(captured)

    lines = captured.lines + [caplog.handler.format(r) for r in caplog.records]
    assert any("WebSocket /ws/state" in line for line in lines), "the handshake lines were not captured"
    assert len(found) >= 11
    leaks = [
        (secret[:12] + "...", where[:160]) for secret in found for where in lines + bodies if secret in where
    ]
    assert not leaks, leaks
