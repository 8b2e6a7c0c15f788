"""Cookie sessions with CSRF, logout, and the CLI handshake as the unmodified CLIs poll it."""

from __future__ import annotations

import asyncio
import secrets

import httpx
import pytest

from server.app import Application
from server.cache.memory import MemoryCache
from server.config import Settings
from server.domain.identity.cli_handshake import CliHandshakes
from server.domain.identity.principal import Principal, Role
from server.domain.identity.sessions import Sessions
from server.domain.identity.tokens import TokenService
from server.errors import HxtpError
from tests.identity.conftest import bearer, user_token


def new_code() -> str:
    return "HXT-" + secrets.token_hex(32)


async def test_session_cookie_needs_csrf_on_mutations_only(app: Application, http: httpx.AsyncClient) -> None:
    credential = await user_token(app, "owner")
    started = await http.get("/auth/csrf", headers=bearer(credential))
    assert started.status_code == 200
    cookie = started.headers["set-cookie"]
    assert cookie.startswith("hxtp_session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # HXTP_COOKIE_SECURE is off by default
    csrf = started.json()["csrfToken"]
    session = http.cookies.get("hxtp_session")
    assert session
    # reads need no CSRF token; the cookie alone authenticates
    assert (await http.get("/auth/me")).json()["user"]["role"] == "owner"
    assert (await http.get("/auth/csrf")).json() == {"csrfToken": csrf}  # same session, same token
    body = {"name": "k", "scopes": ["devices:read"]}
    missing = await http.post("/auth/api-keys", json=body)
    assert missing.status_code == 403 and "CSRF" in missing.json()["reason"]
    wrong = await http.post("/auth/api-keys", json=body, headers={"x-csrf-token": "nope"})
    assert wrong.status_code == 403
    assert (await http.post("/auth/api-keys", json=body, headers={"x-csrf-token": csrf})).status_code == 201
    # Bearer requests never need one, even with a cookie jar present
    assert (await http.post("/auth/api-keys", json=body, headers=bearer(credential))).status_code == 201

    out = await http.post("/auth/logout")
    assert out.status_code == 200 and out.json() == {"status": "logged_out"}
    assert "Max-Age=0" in out.headers["set-cookie"]
    gone = await http.get("/auth/me", headers={"cookie": f"hxtp_session={session}"})
    assert gone.status_code == 401


async def test_csrf_without_a_session_is_harmless(http: httpx.AsyncClient) -> None:
    response = await http.get("/auth/csrf")
    assert response.status_code == 200 and len(response.json()["csrfToken"]) > 20
    assert "set-cookie" not in response.headers


async def test_handshake_as_the_cli_polls_it(app: Application, http: httpx.AsyncClient) -> None:
    code = new_code()
    assert (await http.get(f"/auth/handshake/{code}")).status_code == 404  # nobody opened it yet
    credential = await user_token(app, "admin")
    page = await http.get("/auth/cli", params={"code": code})  # the browser, not signed in
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="token"' in page.text  # the paste-a-key sign-in form
    pending = await http.get(f"/auth/handshake/{code}", headers={"content-type": "application/json"})
    assert pending.status_code == 202 and pending.json() == {"status": "pending"}

    approved = await http.post("/auth/cli/approve", json={"code": code}, headers=bearer(credential))
    assert approved.json() == {"status": "approved"}
    again = await http.post("/auth/cli/approve", json={"code": code}, headers=bearer(credential))
    assert again.status_code == 409

    # exactly once, even when two polls race
    first, second = await asyncio.gather(
        http.get(f"/auth/handshake/{code}"), http.get(f"/auth/handshake/{code}")
    )
    winners = [r for r in (first, second) if r.status_code == 200]
    assert len(winners) == 1 and {first.status_code, second.status_code} == {200, 404}
    token = winners[0].json()["token"]
    assert winners[0].json()["status"] == "approved"
    me = (await http.get("/auth/me", headers=bearer(token))).json()
    assert me["user"]["role"] == "admin"


async def test_denied_and_malformed_codes(app: Application, http: httpx.AsyncClient) -> None:
    code = new_code()
    await http.get("/auth/cli", params={"code": code})
    credential = await user_token(app, "user")
    denied = await http.post(
        "/auth/cli/approve", json={"code": code, "decision": "deny"}, headers=bearer(credential)
    )
    assert denied.json() == {"status": "denied"}
    assert (await http.get(f"/auth/handshake/{code}")).status_code == 410
    for bad in ("HXT-123", "HXT-" + "G" * 64, new_code().upper(), "abc"):
        assert (await http.get(f"/auth/handshake/{bad}")).status_code == 400
        assert (await http.get("/auth/cli", params={"code": bad})).status_code == 400


async def test_codes_expire() -> None:
    handshakes = CliHandshakes(MemoryCache(), TokenService("s" * 32), ttl_seconds=0.2)
    code = new_code()
    assert await handshakes.open(code) == "pending"
    assert (await handshakes.poll(code)).status == "pending"
    await asyncio.sleep(0.3)
    with pytest.raises(HxtpError) as expired:
        await handshakes.poll(code)
    assert expired.value.spec.http_status == 404
    # an approval keeps the code's original deadline
    other = new_code()
    await handshakes.open(other)
    await asyncio.sleep(0.15)
    await handshakes.decide(other, Principal("u", "t", Role.USER), approve=True)
    await asyncio.sleep(0.1)
    with pytest.raises(HxtpError):
        await handshakes.poll(other)


def test_cookie_is_secure_when_configured() -> None:
    secure = Sessions(MemoryCache(), secure_cookies=True)
    assert secure.set_cookie("abc").endswith("HttpOnly; SameSite=Lax; Secure")
    assert "Secure" not in Sessions(MemoryCache()).set_cookie("abc")
    assert Settings.from_env({"HXTP_COOKIE_SECURE": "true"}).cookie_secure is True
    assert Settings.from_env({}).cookie_secure is False


async def test_revoking_a_key_ends_the_sessions_and_tokens_started_with_it(
    app: Application, http: httpx.AsyncClient
) -> None:
    owner = bearer(await user_token(app, "owner"))
    created = (
        await http.post("/auth/api-keys", json={"name": "k", "scopes": ["admin:write"]}, headers=owner)
    ).json()
    started = await http.get("/auth/csrf", headers=bearer(created["key"]))  # browser signs in with the key
    csrf = started.json()["csrfToken"]
    code = new_code()
    approved = await http.post("/auth/cli/approve", json={"code": code}, headers={"x-csrf-token": csrf})
    assert approved.json() == {"status": "approved"}  # through the cookie session, with CSRF
    cli_token = (await http.get(f"/auth/handshake/{code}")).json()["token"]
    assert (await http.get("/auth/me", headers=bearer(cli_token))).status_code == 200
    # the key's scopes travel with the session and the CLI token
    narrow = await http.get("/auth/api-keys", headers=bearer(cli_token))
    assert narrow.status_code == 200  # admin:write grants admin:read
    assert (
        await http.post(
            "/auth/api-keys", json={"name": "x", "scopes": ["devices:write"]}, headers=bearer(cli_token)
        )
    ).status_code == 403

    assert (await http.delete(f"/auth/api-keys/{created['id']}", headers=owner)).status_code == 200
    assert (await http.get("/auth/me")).status_code == 401  # the cookie session
    assert (await http.get("/auth/me", headers=bearer(cli_token))).status_code == 401


async def test_an_ordinary_key_may_deny_and_its_approval_is_no_wider(
    app: Application, http: httpx.AsyncClient
) -> None:
    owner = bearer(await user_token(app, "owner"))
    key = (
        await http.post("/auth/api-keys", json={"name": "k", "scopes": ["devices:read"]}, headers=owner)
    ).json()["key"]
    denied_code, approved_code = new_code(), new_code()
    denied = await http.post(
        "/auth/cli/approve", json={"code": denied_code, "decision": "deny"}, headers=bearer(key)
    )
    assert denied.json() == {"status": "denied"}
    approved = await http.post("/auth/cli/approve", json={"code": approved_code}, headers=bearer(key))
    assert approved.json() == {"status": "approved"}
    cli_token = (await http.get(f"/auth/handshake/{approved_code}")).json()["token"]
    assert (await http.get("/devices", headers=bearer(cli_token))).status_code == 200
    assert (await http.post("/homes", json={"home_name": "x"}, headers=bearer(cli_token))).status_code == 403
    # the link, reopened, no longer offers an approval
    page = await http.get("/auth/cli", params={"code": approved_code})
    assert "already used" in page.text and 'id="approve"' not in page.text
