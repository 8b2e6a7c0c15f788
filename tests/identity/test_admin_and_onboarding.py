"""The operator's /admin/* routes, tenant suspension, invites and onboarding at first sign-in through
an identity provider that signs with a shared HS256 secret (as Supabase projects do)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import jwt
import pytest

from gateway.transport import error_detail
from hxtp.cloud.v1 import admin_pb2, errors_pb2
from server.app import Application
from tests.identity.conftest import bearer, user_token
from tests.integration.harness import base_url, running

ADMIN_KEY = "operator-key-" + "x" * 20
IDP_SECRET = "super-secret-jwt-token-with-at-least-32-characters"
ISSUER = "https://project.supabase.co/auth/v1"
OPERATOR = {"x-hxtp-admin-key": ADMIN_KEY}


def supabase_token(sub: str, email: str, secret: str = IDP_SECRET, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": "authenticated", "sub": sub, "email": email, "iat": now, "exp": now + 600}
    return jwt.encode({**body, **claims}, secret, algorithm="HS256")


@pytest.fixture
async def admin_app(backend: dict[str, str], tmp_path: Path) -> AsyncIterator[Application]:
    env = {
        "HXTP_ADMIN_KEY": ADMIN_KEY,
        "HXTP_IDP_SHARED_SECRET": IDP_SECRET,
        "HXTP_IDP_ISSUER": ISSUER,
        "HXTP_IDP_AUDIENCE": "authenticated",
    }
    async with running(tmp_path, wait_for_mqtt=False, **backend, **env) as application:
        yield application


@pytest.fixture
async def api(admin_app: Application) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url(admin_app) + "/api/v1", timeout=10) as client:
        yield client


async def test_admin_routes_need_the_operator_key(api: httpx.AsyncClient, tmp_path: Path) -> None:
    for method, path in (("GET", "/admin/tenants"), ("GET", "/admin/stats"), ("POST", "/admin/invite")):
        missing = await api.request(method, path, json={"email": "a@example.com"})
        assert (missing.status_code, missing.json()["code"]) == (403, "FORBIDDEN"), path
        wrong = await api.request(
            method, path, json={"email": "a@example.com"}, headers={**OPERATOR, "x-hxtp-admin-key": "nope"}
        )
        assert wrong.status_code == 403
    async with (
        running(tmp_path / "unset", wait_for_mqtt=False) as plain,
        httpx.AsyncClient(base_url=base_url(plain)) as http,
    ):
        unset = await http.get("/api/v1/admin/tenants", headers=OPERATOR)
        assert (unset.status_code, unset.json()["code"]) == (404, "NOT_FOUND")  # never 501


async def test_tenants_stats_flags_and_suspension(admin_app: Application, api: httpx.AsyncClient) -> None:
    owner = await user_token(admin_app, "owner", tenant="Suspended Home")
    home = await api.post("/homes", json={"home_name": "Lab"}, headers=bearer(owner))
    device = await api.post(
        "/devices/register",
        json={"device_type": "light", "home_id": home.json()["id"]},
        headers=bearer(owner),
    )
    device_id = device.json()["device_id"]
    tenants = (await api.get("/admin/tenants", headers=OPERATOR)).json()
    [mine] = [t for t in tenants["tenants"] if t["slug"] == "suspended-home"]
    assert mine["device_count"] == 1 and mine["suspended"] is False and tenants["count"] >= 1
    stats = (await api.get("/admin/stats", headers=OPERATOR)).json()
    assert stats["tenants_count"] >= 1 and stats["total_devices"] >= 1 and stats["status"] == "ok"

    suspended = await api.post(
        f"/admin/tenant/{mine['id']}/suspend", json={"reason": "unpaid"}, headers=OPERATOR
    )
    assert suspended.json() == {"status": "suspended", "tenant_id": mine["id"]}
    for method, path, body in (
        ("GET", "/homes", None),
        ("GET", "/auth/me", None),
        ("POST", f"/device/{device_id}/command", {"action": "light_on"}),
    ):
        refused = await api.request(method, path, json=body, headers=bearer(owner))
        assert refused.status_code == 403, path
        assert refused.json()["error"] == "TENANT_SUSPENDED" and "unpaid" in refused.json()["reason"]
    listed = (await api.get("/admin/tenants", headers=OPERATOR)).json()["tenants"]
    after = next(t for t in listed if t["id"] == mine["id"])
    assert after["suspended"] is True and after["device_count"] == 1  # devices stay registered

    resumed = await api.post(f"/admin/tenant/{mine['id']}/resume", json={}, headers=OPERATOR)
    assert resumed.json() == {"status": "active", "tenant_id": mine["id"]}
    assert (await api.get(f"/devices/{device_id}", headers=bearer(owner))).status_code == 200
    unknown = await api.post("/admin/tenant/no-such-tenant/suspend", json={}, headers=OPERATOR)
    assert unknown.status_code == 404

    flag = await api.post("/admin/flag/beta_ui", json={"state": True}, headers=OPERATOR)
    assert flag.json() == {"flag": "beta_ui", "state": True}
    assert (await api.post("/admin/flag/bad flag", json={"state": True}, headers=OPERATOR)).status_code == 400


async def test_an_invite_makes_the_invitee_a_member_at_first_sign_in(
    admin_app: Application, api: httpx.AsyncClient
) -> None:
    inviter = await user_token(admin_app, "owner", tenant="Inviting Home")
    await api.get("/auth/csrf", headers=bearer(inviter))  # the dashboard's session rides along
    invite = await api.post("/admin/invite", json={"email": "Newcomer@Example.com"}, headers=OPERATOR)
    assert invite.status_code == 200, invite.text
    body = invite.json()
    assert body["token"] and body["token"] in body["link"] and body["email"] == "newcomer@example.com"
    inviter_tenant = (await api.get("/auth/me", headers=bearer(inviter))).json()["user"]["tenant_id"]
    assert body["tenant_id"] == inviter_tenant
    api.cookies.clear()

    newcomer = supabase_token("sb-newcomer", "newcomer@example.com")
    me = (await api.get("/auth/me", headers=bearer(newcomer))).json()
    assert me["has_tenant"] is True and me["onboarding"] == "member"
    assert me["user"]["tenant_id"] == inviter_tenant and me["user"]["role"] == "user"
    assert (await api.get("/homes", headers=bearer(newcomer))).status_code == 200

    # single use: the token does not work a second time, for anyone
    other = supabase_token("sb-other", "newcomer2@example.com")
    reuse = await api.post(
        "/tenant/register", json={"tenant_name": "x", "invite_token": body["token"]}, headers=bearer(other)
    )
    assert reuse.status_code == 403


async def test_an_invite_link_redeemed_explicitly(admin_app: Application, api: httpx.AsyncClient) -> None:
    invite = (await api.post("/admin/invite", json={"email": "solo@example.com"}, headers=OPERATOR)).json()
    assert invite.get("tenant_id") is None  # no inviter session: the invitee gets a tenant of their own
    person = await user_token(admin_app, "none")  # a server-token user, not through the IdP
    wrong_person = await api.post(
        "/tenant/register",
        json={"tenant_name": "Solo", "invite_token": invite["token"]},
        headers=bearer(person),
    )
    assert wrong_person.status_code == 403 and "solo@example.com" in wrong_person.json()["reason"]
    solo = await admin_app.identity.identity.ensure_user("solo@example.com", "none", None)
    token = admin_app.tokens.mint(solo)
    assert (await api.get("/auth/me", headers=bearer(token))).json()["onboarding"] == "invite"
    redeemed = await api.post(
        "/tenant/register",
        json={"tenant_name": "Solo Home", "invite_token": invite["token"]},
        headers=bearer(token),
    )
    assert redeemed.status_code == 201, redeemed.text
    me = (await api.get("/auth/me", headers=bearer(token))).json()
    assert me["user"]["role"] == "owner" and me["user"]["tenant_slug"] == "solo-home"


async def test_without_invite_or_setting_a_first_sign_in_stays_tenantless(api: httpx.AsyncClient) -> None:
    stranger = supabase_token("sb-stranger", "stranger@example.com")
    me = (await api.get("/auth/me", headers=bearer(stranger))).json()
    assert me["has_tenant"] is False and me["onboarding"] == "register"
    assert (await api.get("/homes", headers=bearer(stranger))).json()["code"] == "TENANT_REQUIRED"
    forged = supabase_token(
        "sb-stranger", "stranger@example.com", secret="another-secret-of-32-characters-or-more"
    )
    assert (await api.get("/auth/me", headers=bearer(forged))).status_code == 401
    expired = supabase_token("sb-stranger", "stranger@example.com", exp=int(time.time()) - 60)
    assert (await api.get("/auth/me", headers=bearer(expired))).status_code == 401


async def test_opt_in_setting_gives_a_first_sign_in_its_own_tenant(tmp_path: Path) -> None:
    env = {"HXTP_IDP_SHARED_SECRET": IDP_SECRET, "HXTP_SIGNUP_CREATES_TENANT": "true"}
    async with (
        running(tmp_path, wait_for_mqtt=False, **env) as app,
        httpx.AsyncClient(base_url=base_url(app) + "/api/v1") as api,
    ):
        person = supabase_token("sb-fresh", "fresh@example.com")
        me = (await api.get("/auth/me", headers=bearer(person))).json()
        assert me["has_tenant"] is True and me["user"]["role"] == "owner" and me["onboarding"] == "member"
        created = await api.post("/homes", json={"home_name": "Mine"}, headers=bearer(person))
        assert created.status_code == 201
        again = (await api.get("/auth/me", headers=bearer(person))).json()  # once, not per request
        assert again["user"]["tenant_id"] == me["user"]["tenant_id"]
        # server-minted HS256 tokens still verify next to the identity provider's
        owner = await user_token(app, "owner")
        assert (await api.get("/auth/me", headers=bearer(owner))).status_code == 200


async def test_admin_over_native_grpc(admin_app: Application) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{admin_app.ports.grpc}") as channel:
        stats = channel.unary_unary(
            "/hxtp.cloud.v1.AdminService/GetPlatformStats",
            request_serializer=admin_pb2.GetPlatformStatsRequest.SerializeToString,
            response_deserializer=admin_pb2.GetPlatformStatsResponse.FromString,
        )
        reply = await stats(admin_pb2.GetPlatformStatsRequest(), metadata=(("x-hxtp-admin-key", ADMIN_KEY),))
        assert reply.status == "ok"
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stats(admin_pb2.GetPlatformStatsRequest())
        detail = error_detail(refused.value.trailing_metadata() or ())
        assert detail is not None and detail.code == errors_pb2.FORBIDDEN
