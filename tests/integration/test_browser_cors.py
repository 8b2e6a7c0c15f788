"""A page served from another origin calls the API from headless Chromium (Debian's `chromium`,
driven by Playwright): with its origin on HXTP_CORS_ORIGINS the browser's preflight passes and the
page reads the answers; from an origin not on the list the browser refuses to hand them over."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import base_url, running, token

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]

if not CHROMIUM.exists():
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing (CI=true: apt-get install -y chromium)", pytrace=False)
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)", allow_module_level=True)

playwright_api = pytest.importorskip("playwright.async_api")


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><html><body><h1>dashboard</h1></body></html>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


@contextlib.contextmanager
def page_server() -> Iterator[str]:
    """Another origin: same host, its own free port (the OS picks it)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


CALL = """async ([api, credential]) => {
  try {
    const me = await fetch(api + '/api/v1/auth/me', {headers: {'Authorization': 'Bearer ' + credential}});
    const home = await fetch(api + '/api/v1/homes', {
      method: 'POST',
      headers: {'Authorization': 'Bearer ' + credential, 'Content-Type': 'application/json'},
      body: JSON.stringify({home_name: 'From the browser'}),
    });
    return {me: me.status, role: (await me.json()).user.role, home: home.status,
            request_id: home.headers.get('x-request-id')};
  } catch (error) {
    return {blocked: String(error)};
  }
}"""


async def test_a_page_on_an_allowed_origin_calls_the_api(tmp_path: Path) -> None:
    with page_server() as dashboard, page_server() as stranger:
        async with running(tmp_path, wait_for_mqtt=False, HXTP_CORS_ORIGINS=dashboard) as app:
            api, credential = base_url(app), token(app)
            async with playwright_api.async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=FLAGS, headless=True
                )
                try:
                    page = await browser.new_page()
                    await page.goto(dashboard + "/")
                    allowed = await page.evaluate(CALL, [api, credential])
                    await page.goto(stranger + "/")
                    refused = await page.evaluate(CALL, [api, credential])
                finally:
                    await browser.close()
    assert allowed == {"me": 200, "role": "admin", "home": 201, "request_id": allowed["request_id"]}
    assert allowed["request_id"]  # an exposed header the page may read
    assert "blocked" in refused and "Failed to fetch" in refused["blocked"]
