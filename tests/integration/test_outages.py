"""Redis or PostgreSQL going away while the server runs: 503 with Retry-After, one log line when the
dependency goes and one when it comes back, and recovery without a restart.

The dependency is taken away for real: the server reaches it through a TCP proxy the test cuts.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy.engine import make_url

from ext import VARIANT_FIRMWARE_31
from server.app import Application
from tests.devicelink.conftest import accepted, counter, eventually
from tests.devicelink.firmware import FirmwareDevice, MqttPeer
from tests.integration.harness import base_url, running
from tests.tcp_proxy import TcpProxy

_RECOVERY_ATTEMPTS = 200  # x 0.1 s: a bound on waiting, not a timed assertion


def _lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


async def _owner(app: Application) -> dict[str, str]:
    principal = await app.identity.identity.ensure_user("owner@example.com", "owner", "Outage Home")
    await app.identity.identity.set_tier(principal.tenant_id or "", "pro")
    return {"authorization": f"Bearer {app.tokens.mint(principal)}"}


async def _until(http: httpx.AsyncClient, method: str, path: str, status: int, **kwargs: object) -> None:
    for _ in range(_RECOVERY_ATTEMPTS):
        response = await http.request(method, path, **kwargs)  # type: ignore[arg-type]
        if response.status_code == status:
            return
        assert response.status_code == 503, response.text  # never a 500 on the way back
        await asyncio.sleep(0.1)
    raise AssertionError(f"{method} {path} never answered {status} again")


async def _until_logged(caplog: pytest.LogCaptureFixture, text: str) -> None:
    for _ in range(_RECOVERY_ATTEMPTS):
        if _lines(caplog, text):
            return
        await asyncio.sleep(0.1)


def _assert_unavailable(response: httpx.Response, dependency: str) -> None:
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["code"] == "SERVICE_UNAVAILABLE"
    assert dependency in body["reason"]
    assert int(response.headers["retry-after"]) == body["retry_after_seconds"] > 0
    assert (
        "Traceback" not in response.text
        and "redis." not in response.text
        and "sqlalchemy" not in response.text
    )


def _assert_said_once(caplog: pytest.LogCaptureFixture, dependency: str) -> None:
    """One line when it went, one when it came back, and no traceback for any request in between."""
    assert len(_lines(caplog, f"dependency {dependency} is down")) == 1
    assert len(_lines(caplog, f"dependency {dependency} is back")) == 1
    assert not [r for r in caplog.records if r.exc_info and r.name.startswith("hxtp")]


@pytest.fixture
async def proxies(
    fresh_postgres_url: str, redis_url: str
) -> AsyncIterator[tuple[TcpProxy, TcpProxy, dict[str, str]]]:
    database = make_url(fresh_postgres_url)
    pg = TcpProxy(database.host or "127.0.0.1", database.port or 5432)
    cache = urlsplit(redis_url)
    rd = TcpProxy(cache.hostname or "127.0.0.1", cache.port or 6379)
    await pg.start()
    await rd.start()
    env = {
        "HXTP_DATABASE_URL": database.set(host="127.0.0.1", port=pg.port).render_as_string(
            hide_password=False
        ),
        "HXTP_REDIS_URL": f"redis://127.0.0.1:{rd.port}/0",
    }
    yield pg, rd, env
    await pg.cut()
    await rd.cut()


@dataclass
class Served:
    http: httpx.AsyncClient
    auth: dict[str, str]
    database: TcpProxy
    redis: TcpProxy
    app: Application


@pytest.fixture
async def served(
    tmp_path: Path, proxies: tuple[TcpProxy, TcpProxy, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> AsyncIterator[Served]:
    """The server on PostgreSQL and Redis through their proxies, and an owner's client."""
    caplog.set_level(logging.DEBUG)
    database, redis, env = proxies
    async with running(tmp_path, **env) as app:
        async with httpx.AsyncClient(base_url=base_url(app) + "/api/v1", timeout=30) as http:
            yield Served(http, await _owner(app), database, redis, app)


async def test_redis_outage_is_503_then_recovers(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    http, auth = served.http, served.auth
    home = (await http.post("/homes", json={"home_name": "H"}, headers=auth)).json()["id"]
    device = (
        await http.post("/devices/register", json={"type": "light", "home_id": home}, headers=auth)
    ).json()
    command = f"/device/{device['device_id']}/command"
    assert (await http.post(command, json={"action": "light_on"}, headers=auth)).status_code == 202

    await served.redis.cut()
    for response in [await http.post(command, json={"action": "light_on"}, headers=auth) for _ in range(10)]:
        _assert_unavailable(response, "redis")
    # Rate limiting fails open: what needs only the database keeps answering.
    listing = await http.get("/devices", headers=auth)
    assert listing.status_code == 200, listing.text
    assert len(_lines(caplog, "dependency redis is down")) == 1

    await served.redis.start()
    await _until(http, "POST", command, 202, json={"action": "light_on"}, headers=auth)
    await _until_logged(caplog, "dependency redis is back")
    _assert_said_once(caplog, "redis")


async def test_postgres_outage_is_503_then_recovers(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    http, auth = served.http, served.auth
    assert (await http.post("/homes", json={"home_name": "H"}, headers=auth)).status_code == 201

    await served.database.cut()
    for response in [await http.get("/homes", headers=auth) for _ in range(5)]:
        _assert_unavailable(response, "database")
    for response in [await http.post("/homes", json={"home_name": "G"}, headers=auth) for _ in range(5)]:
        _assert_unavailable(response, "database")
    assert len(_lines(caplog, "dependency database is down")) == 1

    await served.database.start()
    await _until(http, "GET", "/homes", 200, headers=auth)
    assert (await http.post("/homes", json={"home_name": "G"}, headers=auth)).status_code == 201
    await _until_logged(caplog, "dependency database is back")
    _assert_said_once(caplog, "database")


@pytest.mark.parametrize("dependency", ["redis", "database"])
async def test_device_messages_during_an_outage_are_counted_not_a_traceback_each(
    served: Served, caplog: pytest.LogCaptureFixture, dependency: str
) -> None:
    """A cmd_ack needs both (its nonce is claimed on Redis, its command row is in the database)."""
    http, auth = served.http, served.auth
    home = (await http.post("/homes", json={"home_name": "H"}, headers=auth)).json()["id"]
    body = {"device_type": "esp32", "home_id": home}
    registration = (await http.post("/devices/register", json=body, headers=auth)).json()
    device = FirmwareDevice(
        registration["device_id"],
        registration["tenant_id"],
        registration["device_secret"],
        VARIANT_FIRMWARE_31,
    )
    assert served.app.broker is not None
    peer = MqttPeer(served.app.broker.url, f"hxtp-{device.device_id}")
    await peer.connect()
    acks = device.topic("cmd_ack")
    try:
        before = accepted("ack")
        peer.publish(acks, device.ack(str(uuid.uuid4())))
        await eventually(lambda: accepted("ack") > before)
        await asyncio.sleep(0.3)  # its handling (its database write) has ended before the cut

        proxy = served.redis if dependency == "redis" else served.database
        await proxy.cut()
        dropped = counter("hxtp_device_messages_dropped_outage_total", dependency=dependency)
        for _ in range(20):
            peer.publish(acks, device.ack(str(uuid.uuid4())))

        def dropped_now() -> float:
            return counter("hxtp_device_messages_dropped_outage_total", dependency=dependency)

        await eventually(lambda: dropped_now() >= dropped + 20)
        assert len(_lines(caplog, f"dependency {dependency} is down")) == 1

        await proxy.start()
        await _until_logged(caplog, f"dependency {dependency} is back")
        before = accepted("ack")
        peer.publish(acks, device.ack(str(uuid.uuid4())))
        await eventually(lambda: accepted("ack") > before)
        await asyncio.sleep(0.3)  # the ack's handling (its database write) has ended by now
        assert dropped_now() == dropped + 20
    finally:
        await peer.close()
    _assert_said_once(caplog, dependency)
    assert not [r for r in caplog.records if r.exc_info and r.name.startswith(("server", "gateway"))]
