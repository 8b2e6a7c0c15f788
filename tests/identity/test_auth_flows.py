"""/auth/me, /tenant/register, API keys, credential kinds and the login probe, over real HTTP, on
embedded defaults and on PostgreSQL + Redis."""

from __future__ import annotations

import httpx

from server.app import Application
from server.domain.identity.principal import Principal, Role
from server.domain.identity.tokens import TokenService
from tests.identity.conftest import bearer, user_token


async def test_me_shows_user_tenant_and_role(app: Application, http: httpx.AsyncClient) -> None:
    credential = await user_token(app, "admin", tenant="Acme Homes")
    body = (await http.get("/auth/me", headers=bearer(credential))).json()
    assert body["authenticated"] is True and body["has_tenant"] is True
    user = body["user"]
    assert (
        user["role"] == "admin" and user["tenant_slug"] == "acme-homes" and user["email"].startswith("admin-")
    )
    assert user["tenant_id"] and user["id"]


async def test_tenantless_user_registers_a_tenant_once(app: Application, http: httpx.AsyncClient) -> None:
    credential = await user_token(app, "none")
    me = (await http.get("/auth/me", headers=bearer(credential))).json()
    assert me["has_tenant"] is False and me["user"]["role"] == "none"
    denied = await http.get("/auth/api-keys", headers=bearer(credential))
    assert denied.status_code == 403 and denied.json()["code"] == "TENANT_REQUIRED"
    assert denied.json()["error"] == "Forbidden: missing tenant context"

    created = await http.post(
        "/tenant/register", json={"tenant_name": "Casa Nova"}, headers=bearer(credential)
    )
    assert created.status_code == 201, created.text
    assert set(created.json()) == {"tenant_id", "user_id"}
    me = (await http.get("/auth/me", headers=bearer(credential))).json()
    assert me["has_tenant"] is True and me["user"]["role"] == "owner"
    assert me["user"]["tenant_id"] == created.json()["tenant_id"] and me["user"]["tenant_slug"] == "casa-nova"
    # the same (old) token now works on tenant routes: the user's current row wins
    assert (await http.get("/auth/api-keys", headers=bearer(credential))).status_code == 200

    again = await http.post("/tenant/register", json={"tenant_name": "Other"}, headers=bearer(credential))
    assert again.status_code == 409 and again.json()["code"] == "CONFLICT"
    missing = await http.post("/tenant/register", json={}, headers=bearer(await user_token(app, "none")))
    assert missing.status_code == 400


async def test_bad_credentials_are_401_with_the_standard_body(
    app: Application, http: httpx.AsyncClient
) -> None:
    expired = app.tokens.mint(Principal("u", None, Role.NONE), ttl_seconds=-5)
    for headers in (
        {},
        bearer("garbage"),
        bearer("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.wrong"),
        bearer(expired),
        bearer(TokenService("another-secret-entirely-32-bytes!").mint(Principal("u", None, Role.OWNER))),
        bearer("hxtp_" + "A" * 43),
        {"x-api-key": "hxtp_unknown"},
        {"cookie": "hxtp_session=nope"},
    ):
        response = await http.get("/auth/me", headers=headers)
        assert response.status_code == 401, headers
        body = response.json()
        assert body["code"] == "UNAUTHORIZED" and isinstance(body["error"], str) and body["reason"]


async def test_api_key_lifecycle(app: Application, http: httpx.AsyncClient) -> None:
    owner = bearer(await user_token(app, "owner"))
    created = await http.post(
        "/auth/api-keys",
        json={"name": "ci", "scopes": ["read:devices", "admin:write,commands:send"]},
        headers=owner,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "created" and body["name"] == "ci" and body["key"].startswith("hxtp_")
    assert len(body["key"]) >= len("hxtp_") + 43  # 32 random bytes, base64url
    assert body["scopes"] == ["admin:write", "commands:send", "devices:read"]
    assert body["key"][5:].startswith(body["prefix"]) and body["id"] and body["created_at"].endswith("Z")
    key = body["key"]

    # Bearer and X-API-Key both authenticate; the key acts in its creator's tenant
    me = (await http.get("/auth/me", headers=bearer(key))).json()
    assert me["user"]["role"] == "owner"
    assert (await http.get("/auth/me", headers={"x-api-key": key})).status_code == 200

    listed = (await http.get("/auth/api-keys", headers=owner)).json()["keys"]
    assert [k["id"] for k in listed] == [body["id"]]
    assert listed[0]["active"] is True and "key" not in listed[0] and listed[0]["last_used"].endswith("Z")

    rotated = await http.post("/auth/api-keys/rotate", json={"id": body["id"]}, headers=owner)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert new["revoked_id"] == body["id"] and new["name"] == "ci" and new["scopes"] == body["scopes"]
    assert (await http.get("/auth/me", headers=bearer(key))).status_code == 401
    assert (await http.get("/auth/me", headers=bearer(new["key"]))).status_code == 200

    # both revoke forms; revoked keys stay listed as inactive
    assert (await http.delete(f"/auth/api-keys/{new['id']}", headers=owner)).status_code == 200
    revoked = await http.get("/auth/me", headers=bearer(new["key"]))
    assert revoked.status_code == 401 and revoked.json()["reason"] == "API key revoked"
    third = (
        await http.post("/auth/api-keys", json={"name": "x", "scopes": ["devices:read"]}, headers=owner)
    ).json()
    revoke = await http.post("/auth/api-keys/revoke", json={"key_id": third["id"]}, headers=owner)
    assert revoke.json() == {"status": "revoked", "id": third["id"]}
    states = {k["id"]: k["active"] for k in (await http.get("/auth/api-keys", headers=owner)).json()["keys"]}
    assert states == {body["id"]: False, new["id"]: False, third["id"]: False}
    assert (await http.post("/auth/api-keys/revoke", json={"id": "nope"}, headers=owner)).status_code == 404


async def test_keys_are_limited_by_scope_role_and_tenant(app: Application, http: httpx.AsyncClient) -> None:
    owner = bearer(await user_token(app, "owner"))
    reader = (
        await http.post("/auth/api-keys", json={"name": "r", "scopes": ["devices:read"]}, headers=owner)
    ).json()["key"]
    # the key lacks admin:write, which key creation requires (scope option of CreateApiKey)
    refused = await http.post(
        "/auth/api-keys", json={"name": "y", "scopes": ["devices:read"]}, headers=bearer(reader)
    )
    assert refused.status_code == 403 and "admin:write" in refused.json()["reason"]
    # a viewer's key stays a viewer's key, whatever scopes it names
    viewer_token = await user_token(app, "viewer")
    viewer_key = (
        await http.post(
            "/auth/api-keys",
            json={"name": "v", "scopes": ["admin:write", "devices:write"]},
            headers=bearer(viewer_token),
        )
    ).json()["key"]
    assert (await http.get("/auth/me", headers=bearer(viewer_key))).json()["user"]["role"] == "viewer"
    assert (await http.post("/homes", json={"name": "h"}, headers=bearer(viewer_key))).status_code == 403
    # a key cannot mint a key with scopes it lacks
    admin_key = (
        await http.post("/auth/api-keys", json={"name": "a", "scopes": ["admin:write"]}, headers=owner)
    ).json()["key"]
    wider = await http.post(
        "/auth/api-keys", json={"name": "z", "scopes": ["devices:write"]}, headers=bearer(admin_key)
    )
    assert wider.status_code == 403
    # another tenant cannot see or revoke the key
    stranger = bearer(await user_token(app, "owner"))
    assert (await http.get("/auth/api-keys", headers=stranger)).json()["keys"] == []
    key_id = (await http.get("/auth/api-keys", headers=owner)).json()["keys"][0]["id"]
    assert (await http.delete(f"/auth/api-keys/{key_id}", headers=stranger)).status_code == 404
    # malformed scopes are a 400
    bad = await http.post("/auth/api-keys", json={"name": "b", "scopes": ["devices"]}, headers=owner)
    assert bad.status_code == 400


async def test_cli_login_probe_answers_404_before_role_and_rate_checks(
    app: Application, http: httpx.AsyncClient
) -> None:
    viewer = await user_token(app, "viewer")  # below the command route's min role (user)
    tenantless = await user_token(app, "none")
    key = (
        await http.post(
            "/auth/api-keys",
            json={"name": "k", "scopes": ["devices:read"]},
            headers=bearer(await user_token(app)),
        )
    ).json()["key"]  # lacks commands:send
    bodies = [{"action": "status", "params": None}, {"action": "status", "params": {}, "dry_run": False}]
    for credential in (viewer, tenantless, key):
        for body in bodies:
            response = await http.post("/devices/ping/command", json=body, headers=bearer(credential))
            assert response.status_code == 404, response.text
            assert response.json()["code"] == "NOT_FOUND"
            assert "x-ratelimit-limit" not in response.headers  # the limiter never ran
    assert (await http.post("/devices/ping/command", json=bodies[0])).status_code == 401


async def test_a_key_follows_its_creators_role_and_tenant(app: Application, http: httpx.AsyncClient) -> None:
    identity = app.identity.identity
    owner = await identity.ensure_user("kim@example.com", "owner", "Kim Home")
    key = (
        await http.post(
            "/auth/api-keys",
            json={"name": "k", "scopes": ["admin:write"]},
            headers=bearer(app.tokens.mint(owner)),
        )
    ).json()["key"]
    assert (await http.get("/auth/me", headers=bearer(key))).json()["user"]["role"] == "owner"
    await identity.ensure_user("kim@example.com", "viewer", "Kim Home")  # demoted
    assert (await http.get("/auth/me", headers=bearer(key))).json()["user"]["role"] == "viewer"
    await identity.ensure_user("kim@example.com", "owner", "Elsewhere")  # moved to another tenant
    gone = await http.get("/auth/me", headers=bearer(key))
    assert gone.status_code == 401
