"""CORS from an explicit allow-list: preflights and answers as a browser sees them (here at the HTTP
level; test_browser_cors.py drives a real Chromium page on another origin)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from server.app import Application
from tests.integration.harness import base_url, running, token

DASHBOARD = "https://dash.example.com"


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Application]:
    async with running(
        tmp_path, wait_for_mqtt=False, HXTP_CORS_ORIGINS=f"{DASHBOARD}, http://localhost:3000/"
    ) as application:
        yield application


def preflight(
    origin: str, method: str = "POST", headers: str = "authorization, content-type"
) -> dict[str, str]:
    return {
        "origin": origin,
        "access-control-request-method": method,
        "access-control-request-headers": headers,
    }


async def test_preflight_from_an_allowed_origin(app: Application) -> None:
    async with httpx.AsyncClient(base_url=base_url(app)) as http:
        for origin in (DASHBOARD, "http://localhost:3000"):
            answer = await http.options("/api/v1/homes", headers=preflight(origin))
            assert answer.status_code == 204, answer.text
            assert answer.headers["access-control-allow-origin"] == origin
            assert answer.headers["access-control-allow-credentials"] == "true"
            assert "POST" in answer.headers["access-control-allow-methods"]
            assert answer.headers["access-control-allow-headers"] == "authorization, content-type"
            assert "Origin" in answer.headers["vary"]


async def test_preflight_from_another_origin_or_with_odd_headers_is_refused(app: Application) -> None:
    async with httpx.AsyncClient(base_url=base_url(app)) as http:
        stranger = await http.options("/api/v1/homes", headers=preflight("https://evil.example"))
        assert stranger.status_code == 403 and stranger.json()["code"] == "FORBIDDEN"
        assert "access-control-allow-origin" not in stranger.headers
        odd = await http.options("/api/v1/homes", headers=preflight(DASHBOARD, headers="x-something-else"))
        assert odd.status_code == 403 and "x-something-else" in odd.json()["reason"]


async def test_answers_carry_the_origin_only_for_allowed_origins(app: Application) -> None:
    credential = {"authorization": f"Bearer {token(app)}"}
    async with httpx.AsyncClient(base_url=base_url(app)) as http:
        allowed = await http.get("/api/v1/homes", headers={"origin": DASHBOARD, **credential})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == DASHBOARD
        assert "x-request-id" in allowed.headers["access-control-expose-headers"]
        refused = await http.get("/api/v1/homes", headers={"origin": "https://evil.example", **credential})
        assert "access-control-allow-origin" not in refused.headers
        error = await http.get(
            "/api/v1/homes", headers={"origin": DASHBOARD}
        )  # errors too, so pages read them
        assert error.status_code == 401 and error.headers["access-control-allow-origin"] == DASHBOARD
        same_origin = await http.get("/api/v1/status")
        assert "access-control-allow-origin" not in same_origin.headers


async def test_cors_is_off_by_default(tmp_path: Path) -> None:
    async with (
        running(tmp_path, wait_for_mqtt=False) as app,
        httpx.AsyncClient(base_url=base_url(app)) as http,
    ):
        answer = await http.options("/api/v1/homes", headers=preflight(DASHBOARD))
        assert "access-control-allow-origin" not in answer.headers
        assert 400 <= answer.status_code < 500
        plain = await http.get("/api/v1/status", headers={"origin": DASHBOARD})
        assert "access-control-allow-origin" not in plain.headers
