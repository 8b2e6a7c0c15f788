"""The CLI browser login as a person does it, in headless Chromium (Debian's `chromium`, driven by
Playwright, which never downloads a browser here): the CLI polls, the person opens the page, signs in
by pasting an API key, approves, and the polling CLI receives its token."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.app import Application
from tests.identity.conftest import bearer, user_token
from tests.integration.harness import base_url

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

if not CHROMIUM.exists():
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing (CI=true: apt-get install -y chromium)", pytrace=False)
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)", allow_module_level=True)

playwright_api = pytest.importorskip("playwright.async_api")


async def poll_like_the_cli(url: str) -> str:
    """GOCLI: plain GET every 2 s (here 0.1 s) until exactly 200 with a non-empty token."""
    async with httpx.AsyncClient(timeout=5) as client:
        while True:
            response = await client.get(url, headers={"content-type": "application/json"})
            if response.status_code == 200 and response.json().get("token"):
                return str(response.json()["token"])
            await asyncio.sleep(0.1)


async def owner_key(app: Application, api: str, tenant: str, scopes: list[str]) -> tuple[str, str]:
    """An API key with these scopes of a new owner of `tenant`, and the owner's email."""
    owner = await user_token(app, "owner", tenant=tenant)
    async with httpx.AsyncClient(base_url=api) as http:
        created = await http.post(
            "/auth/api-keys", json={"name": "laptop", "scopes": scopes}, headers=bearer(owner)
        )
        email = (await http.get("/auth/me", headers=bearer(owner))).json()["user"]["email"]
    return str(created.json()["key"]), str(email)


async def sign_in_and_approve(page: Any, key: str, email: str | None = None) -> None:
    """On the open approval page: paste the key, sign in, approve, and wait for the confirmation."""
    await page.fill("#token", key)
    await page.click("#signin-button")
    await page.wait_for_selector("#approve")  # reloaded with the session cookie
    if email is not None:
        assert await page.inner_text("#who") == email
    await page.click("#approve")
    # A selector, not a JavaScript predicate: the page's CSP rightly refuses string evaluation.
    await page.wait_for_selector("#result:has-text('Approved')")


async def test_person_approves_the_cli_login_in_a_browser(app: Application) -> None:
    api = base_url(app) + "/api/v1"
    key, email = await owner_key(app, api, "Browser Home", ["admin:write"])
    code = "HXT-" + secrets.token_hex(32)
    cli = asyncio.create_task(poll_like_the_cli(f"{api}/auth/handshake/{code}"))

    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        try:
            page = await browser.new_page()
            await page.goto(f"{api}/auth/cli?code={code}")
            assert "waiting" in await page.inner_text("body")
            await sign_in_and_approve(page, key, email)
        finally:
            await browser.close()

    token = await asyncio.wait_for(cli, 10)
    async with httpx.AsyncClient(base_url=api) as http:
        me = (await http.get("/auth/me", headers=bearer(token))).json()
        assert me["user"]["email"] == email and me["user"]["role"] == "owner"
        # exactly once: the next poll finds nothing
        assert (await http.get(f"/auth/handshake/{code}")).status_code == 404


async def test_an_ordinary_api_key_approves_and_the_finished_link_says_used(app: Application) -> None:
    """The README's own key (devices:read, commands:send) approves; the CLI token is no wider."""
    api = base_url(app) + "/api/v1"
    key, _ = await owner_key(app, api, "Key Home", ["devices:read", "commands:send"])
    code = "HXT-" + secrets.token_hex(32)
    cli = asyncio.create_task(poll_like_the_cli(f"{api}/auth/handshake/{code}"))

    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        try:
            page = await browser.new_page()
            await page.goto(f"{api}/auth/cli?code={code}")
            await sign_in_and_approve(page, key)
            token = await asyncio.wait_for(cli, 10)
            await page.goto(f"{api}/auth/cli?code={code}")  # reopened after the CLI took its token
            assert "already used" in await page.inner_text("#finished")
            assert await page.query_selector("#approve") is None

            broken = await page.goto(f"{api}/auth/cli?code=HXT-not-a-code")
            assert broken is not None and broken.status == 400
            assert broken.headers["content-type"].startswith("text/html")
            assert "not valid" in await page.inner_text("#error")
        finally:
            await browser.close()

    async with httpx.AsyncClient(base_url=api) as http:
        assert (await http.get("/devices", headers=bearer(token))).status_code == 200
        wider = await http.post("/auth/api-keys", json={"name": "x", "scopes": ["*"]}, headers=bearer(token))
        assert wider.status_code == 403 and "scope" in wider.json()["reason"]
