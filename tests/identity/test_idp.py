"""External identity-provider JWTs, verified against a JWKS served over real HTTP."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from server.app import Application
from tests.identity.conftest import bearer
from tests.integration.harness import base_url, running

ISSUER, AUDIENCE = "https://idp.example.test/auth/v1", "authenticated"


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks_url(signing_key: rsa.RSAPrivateKey) -> Iterator[str]:
    jwk = json.loads(RSAAlgorithm.to_jwk(signing_key.public_key()))
    document = json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
async def idp_app(tmp_path: Path, jwks_url: str) -> AsyncIterator[Application]:
    env = {"HXTP_IDP_JWKS_URL": jwks_url, "HXTP_IDP_ISSUER": ISSUER, "HXTP_IDP_AUDIENCE": AUDIENCE}
    async with running(tmp_path, wait_for_mqtt=False, **env) as application:
        yield application


def idp_token(key: rsa.RSAPrivateKey, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "idp-subject-1",
        "email": "dana@example.com",
        "iat": now,
        "exp": now + 600,
        **overrides,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})


async def test_idp_tokens_map_to_users_by_subject(
    idp_app: Application, signing_key: rsa.RSAPrivateKey
) -> None:
    # An owner created from the CLI signs in through the IdP for the first time: linked by email.
    await idp_app.identity.identity.ensure_user("dana@example.com", "owner", "Dana Home")
    async with httpx.AsyncClient(base_url=base_url(idp_app) + "/api/v1", timeout=10) as http:
        me = await http.get("/auth/me", headers=bearer(idp_token(signing_key)))
        assert me.status_code == 200, me.text
        user = me.json()["user"]
        assert user["role"] == "owner" and user["neon_id"] == user["supabase_id"] == "idp-subject-1"
        # an unknown subject becomes a tenantless user who can register a tenant
        stranger = idp_token(signing_key, sub="idp-subject-2", email="eve@example.com")
        body = (await http.get("/auth/me", headers=bearer(stranger))).json()
        assert body["has_tenant"] is False and body["user"]["email"] == "eve@example.com"
        registered = await http.post(
            "/tenant/register", json={"tenant_name": "Eve"}, headers=bearer(stranger)
        )
        assert registered.status_code == 201

        other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        for bad in (
            idp_token(signing_key, aud="someone-else"),
            idp_token(signing_key, iss="https://evil.example"),
            idp_token(signing_key, exp=int(time.time()) - 60),
            idp_token(other_key),
        ):
            response = await http.get("/auth/me", headers=bearer(bad))
            assert response.status_code == 401 and response.json()["code"] == "UNAUTHORIZED"


async def test_without_an_idp_foreign_jwts_are_401(tmp_path: Path, signing_key: rsa.RSAPrivateKey) -> None:
    async with (
        running(tmp_path, wait_for_mqtt=False) as app,
        httpx.AsyncClient(base_url=base_url(app)) as http,
    ):
        response = await http.get("/api/v1/auth/me", headers=bearer(idp_token(signing_key)))
    assert response.status_code == 401
