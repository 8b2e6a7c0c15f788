"""The whole server on embedded defaults and on this machine's PostgreSQL + Redis, plus helpers that
create users the way `hxtp-cloud users create` does."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from server.app import Application
from tests.integration.harness import base_url, running


@pytest.fixture(params=["embedded", "postgres+redis"])
def backend(request: pytest.FixtureRequest) -> dict[str, str]:
    """Settings of one backend (synchronous: the PostgreSQL fixture runs its own event loop)."""
    if request.param == "embedded":
        return {}
    return {
        "HXTP_DATABASE_URL": request.getfixturevalue("fresh_postgres_url"),
        "HXTP_REDIS_URL": request.getfixturevalue("redis_url"),
    }


@pytest.fixture
async def app(backend: dict[str, str], tmp_path: Path) -> AsyncIterator[Application]:
    async with running(tmp_path, wait_for_mqtt=False, **backend) as application:
        yield application


@pytest.fixture
async def http(app: Application) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url(app) + "/api/v1", timeout=10) as client:
        yield client


async def user_token(app: Application, role: str = "owner", tenant: str | None = None, tier: str = "") -> str:
    """A user in `tenant` (a fresh one when None) with `role`; returns a server token for it."""
    email = f"{role}-{secrets.token_hex(4)}@example.com"
    tenant_name = tenant if tenant is not None else f"Tenant {secrets.token_hex(4)}"
    principal = await app.identity.identity.ensure_user(email, role, tenant_name if role != "none" else None)
    if tier and principal.tenant_id:
        await app.identity.identity.set_tier(principal.tenant_id, tier)
    return app.tokens.mint(principal)


def bearer(credential: str) -> dict[str, str]:
    return {"authorization": f"Bearer {credential}"}
