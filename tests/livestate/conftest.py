"""A running server per test, with the embedded in-memory cache or with Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.app import Application
from tests.integration.harness import running


@pytest.fixture(params=["memory", "redis"])
def cache_env(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "memory":
        return {}
    return {"HXTP_REDIS_URL": request.getfixturevalue("redis_url")}


@pytest.fixture
async def app(tmp_path: Path, cache_env: dict[str, str]) -> AsyncIterator[Application]:
    async with running(tmp_path, wait_for_mqtt=False, **cache_env) as application:
        yield application
