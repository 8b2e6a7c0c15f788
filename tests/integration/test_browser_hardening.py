"""Browser hardening: security headers on every answer, a strict CSP on the login page, Origin checks
on cookie-authenticated WebSockets, and a rate-limited WebSocket refused at the handshake."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from server.app import Application
from tests.integration.harness import base_url, running


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Application]:
    async with running(tmp_path, wait_for_mqtt=False) as application:
        yield application


async def _owner(app: Application, tier: str = "pro") -> str:
    principal = await app.identity.identity.ensure_user(
        f"o-{secrets.token_hex(3)}@example.com", "owner", f"Home {secrets.token_hex(3)}"
    )
    await app.identity.identity.set_tier(principal.tenant_id or "", tier)
    return app.tokens.mint(principal)


def _assert_hardened(response: httpx.Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff", response.url
    assert response.headers["referrer-policy"] == "no-referrer", response.url
    assert response.headers["cache-control"] == "no-store", response.url


async def test_answers_carrying_secrets_or_tokens_are_never_cached(app: Application) -> None:
    token = await _owner(app)
    auth = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url(app) + "/api/v1", timeout=10) as http:
        home = (await http.post("/homes", json={"home_name": "H"}, headers=auth)).json()["id"]
        device = await http.post("/devices/register", json={"type": "light", "home_id": home}, headers=auth)
        device_id = device.json()["device_id"]
        code = "HXT-" + secrets.token_hex(32)
        answers = [
            device,  # device_secret
            await http.post(f"/device/{device_id}/rotate-secret", headers=auth),  # new_secret
            await http.post("/auth/api-keys", json={"name": "k", "scopes": ["devices:read"]}, headers=auth),
            await http.get("/auth/csrf", headers=auth),  # session cookie and CSRF token
            await http.get("/auth/me", headers=auth),
            await http.get("/auth/cli", params={"code": code}),
            await http.post("/auth/cli/approve", json={"code": code}, headers=auth),
            await http.get(f"/auth/handshake/{code}"),  # the CLI's token
            await http.get("/auth/me", headers={"authorization": "Bearer nope"}),  # an error too
            await http.get("/status"),
        ]
    assert "new_secret" in answers[1].json() and "token" in answers[7].json()
    for response in answers:
        _assert_hardened(response)


async def test_the_login_page_runs_only_its_own_script_and_style(app: Application) -> None:
    async with httpx.AsyncClient(base_url=base_url(app) + "/api/v1", timeout=10) as http:
        page = await http.get("/auth/cli", params={"code": "HXT-" + secrets.token_hex(32)})
    policy = dict(
        [*directive.split(" ", 1), ""][:2]
        for directive in (part.strip() for part in page.headers["content-security-policy"].split(";"))
    )
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'" and policy["base-uri"] == "'none'"
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    inline = re.findall(r"<script>(.*?)</script>", page.text, flags=re.S)
    styles = re.findall(r"<style>(.*?)</style>", page.text, flags=re.S)
    assert inline and styles
    for source, directive in [*((s, "script-src") for s in inline), *((s, "style-src") for s in styles)]:
        digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy[directive]


def _ws(app: Application, query: str = "", **headers: str) -> object:
    return connect(
        f"ws://127.0.0.1:{app.ports.http}/ws/state{query}", open_timeout=5, additional_headers=headers
    )


async def test_cookie_websocket_from_another_origin_is_refused(app: Application) -> None:
    token = await _owner(app)
    async with httpx.AsyncClient(base_url=base_url(app) + "/api/v1", timeout=10) as http:
        await http.get("/auth/csrf", headers={"authorization": f"Bearer {token}"})
        cookie = f"hxtp_session={http.cookies['hxtp_session']}"
    host = f"127.0.0.1:{app.ports.http}"
    with pytest.raises(InvalidStatus) as refused:
        async with _ws(app, cookie=cookie, origin="https://evil.example"):  # type: ignore[attr-defined]
            pass
    assert refused.value.response.status_code == 403
    assert b"Cross-origin" in refused.value.response.body
    async with _ws(app, cookie=cookie, origin=f"http://{host}") as socket:  # type: ignore[attr-defined]
        await socket.send("ping")
        assert await socket.recv() == "pong"
    # A token is not ambient: any origin may present one.
    async with _ws(app, f"?token={token}", origin="https://elsewhere.example") as socket:  # type: ignore[attr-defined]
        await socket.send("ping")
        assert await socket.recv() == "pong"


async def test_rate_limited_websocket_is_refused_at_the_handshake(app: Application) -> None:
    token = await _owner(app, tier="free")
    async with httpx.AsyncClient(base_url=base_url(app) + "/api/v1", timeout=10) as http:
        for _ in range(80):
            if (await http.get("/auth/me", headers={"authorization": f"Bearer {token}"})).status_code == 429:
                break
        else:
            raise AssertionError("the free tier never ran out")
    with pytest.raises(InvalidStatus) as refused:
        async with _ws(app, f"?token={token}"):  # type: ignore[attr-defined]
            pass
    response = refused.value.response
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert b"RATE_LIMIT_EXCEEDED" in response.body
