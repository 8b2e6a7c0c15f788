"""The server on this machine's PostgreSQL, Redis and Mosquitto, and what /health says when one
of them goes away (taken away for real: the connection runs through a proxy the test cuts)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx
from sqlalchemy.engine import make_url

from tests.integration.harness import base_url, running
from tests.tcp_proxy import TcpProxy

CLOSED_PORT = 1  # nothing listens on port 1 here: connections are refused at once


async def _health(app_base: str, path: str = "/health") -> httpx.Response:
    async with httpx.AsyncClient(base_url=app_base, timeout=10) as http:
        return await http.get(path)


async def test_all_production_parts_report_healthy(
    tmp_path: Path, fresh_postgres_url: str, redis_url: str, mosquitto_url: str
) -> None:
    async with running(
        tmp_path, HXTP_DATABASE_URL=fresh_postgres_url, HXTP_REDIS_URL=redis_url, HXTP_MQTT_URL=mosquitto_url
    ) as app:
        assert app.broker is None  # no embedded broker when a broker URL is configured
        response = await _health(base_url(app))
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {
        "database": True,
        "redis": True,
        "mqtt": True,
        "protocol_ready": True,
    }
    assert response.json()["backends"] == {"database": "postgresql", "cache": "redis", "mqtt": "external"}


async def test_health_turns_503_when_postgres_goes_away(tmp_path: Path, fresh_postgres_url: str) -> None:
    url = make_url(fresh_postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    async with running(tmp_path, HXTP_DATABASE_URL=proxied) as app:
        assert (await _health(base_url(app))).status_code == 200
        await proxy.cut()
        response = await _health(base_url(app))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"] is False and body["checks"]["redis"] is True
    assert body["services"]["database"] == {"status": "down", "backend": "postgresql"}


async def test_health_turns_503_when_redis_goes_away(tmp_path: Path, redis_url: str) -> None:
    parts = urlsplit(redis_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    await proxy.start()
    async with running(tmp_path, HXTP_REDIS_URL=f"redis://127.0.0.1:{proxy.port}/0") as app:
        assert (await _health(base_url(app))).status_code == 200
        await proxy.cut()
        response = await _health(base_url(app))
    assert response.status_code == 503
    assert response.json()["checks"]["redis"] is False and response.json()["checks"]["database"] is True


async def test_redis_on_a_closed_port_from_the_start(tmp_path: Path) -> None:
    async with running(tmp_path, HXTP_REDIS_URL=f"redis://127.0.0.1:{CLOSED_PORT}/0") as app:
        response = await _health(base_url(app))
        ready = await _health(base_url(app), "/health/ready")
    assert response.status_code == 503 and response.json()["checks"]["redis"] is False
    assert ready.status_code == 503


async def test_unreachable_broker_is_reported_not_fatal(tmp_path: Path) -> None:
    async with running(tmp_path, wait_for_mqtt=False, HXTP_MQTT_URL=f"mqtt://127.0.0.1:{CLOSED_PORT}") as app:
        response = await _health(base_url(app))
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["mqtt"] is False and checks["protocol_ready"] is False and checks["database"] is True
