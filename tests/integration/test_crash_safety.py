"""`kill -9` under command load loses nothing that was answered: every 202's command_id is in history
with its audit entry after a restart, and no command stays `pending`.

The server is a real `python -m server serve` subprocess (embedded broker, SQLite or PostgreSQL),
killed with SIGKILL while commands are in flight, then started again on the same data.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.domain.audit.log import AuditLog
from server.storage.database import Database

ROOT = Path(__file__).resolve().parents[2]
DEVICES = 4
ANSWERED_BEFORE_KILL = 120  # under the pro tier's burst of 300 requests, with room for set-up and reads
CONCURRENCY = 16


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "server", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def _serve(env: dict[str, str]) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "serve", cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL
    )
    async with httpx.AsyncClient(base_url=_base(env), timeout=2) as http:
        for _ in range(600):
            assert process.returncode is None, "the server exited at start-up"
            try:
                if (await http.get("/health/ready")).status_code == 200:
                    return process
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the server did not become ready")


def _base(env: dict[str, str]) -> str:
    return f"http://127.0.0.1:{env['HXTP_HTTP_PORT']}"


async def _load(http: httpx.AsyncClient, paths: list[str], answered: list[str], stop: asyncio.Event) -> None:
    async def worker(n: int) -> None:
        while not stop.is_set():
            path = paths[n % len(paths)]
            n += CONCURRENCY
            try:
                response = await http.post(path, json={"action": "light_on"})
            except httpx.HTTPError:
                return  # the server is gone: this request was never answered
            assert response.status_code == 202, response.text
            answered.append(response.json()["command_id"])
            if len(answered) >= ANSWERED_BEFORE_KILL:
                stop.set()

    await asyncio.gather(*(worker(n) for n in range(CONCURRENCY)))


# Synchronous: the PostgreSQL fixture creates its database with asyncio.run, which cannot nest.
@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'hxtp.db'}"
    return str(request.getfixturevalue("fresh_postgres_url"))


async def test_every_answered_command_survives_sigkill(database_url: str, tmp_path: Path) -> None:
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    env = {
        **os.environ,
        "HXTP_DATA_DIR": str(tmp_path),
        "HXTP_DATABASE_URL": database_url if backend == "postgresql" else "",
        "HXTP_HTTP_PORT": str(_free_port()),
        "HXTP_GRPC_PORT": "-1",
        "HXTP_EMBEDDED_MQTT_PORT": str(_free_port()),
        "HXTP_DEVICE_COMMANDS_PER_MINUTE": "100000",
        "HXTP_LOG_LEVEL": "warning",
    }
    if backend == "sqlite":
        del env["HXTP_DATABASE_URL"]
    token = _cli(
        env, "users", "create", "--email", "crash@example.com", "--role", "owner", "--tenant", "Crash"
    )
    token = token.strip().splitlines()[-1]
    _cli(env, "tenants", "set-tier", "crash", "pro")
    headers = {"authorization": f"Bearer {token}"}

    process = await _serve(env)
    answered: list[str] = []
    try:
        async with httpx.AsyncClient(base_url=_base(env), headers=headers, timeout=30) as http:
            home = (await http.post("/api/v1/homes", json={"home_name": "Crash"})).json()
            devices = []
            for _ in range(DEVICES):
                registered = await http.post(
                    "/api/v1/devices/register", json={"device_type": "light", "home_id": home["id"]}
                )
                assert registered.status_code == 201, registered.text
                devices.append(registered.json()["device_id"])
            tenant_id = registered.json()["tenant_id"]
            stop = asyncio.Event()
            load = asyncio.create_task(
                _load(http, [f"/api/v1/device/{d}/command" for d in devices], answered, stop)
            )
            await stop.wait()
            process.send_signal(signal.SIGKILL)  # while the other workers' commands are in flight
            await process.wait()
            await load
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert len(answered) >= ANSWERED_BEFORE_KILL

    process = await _serve(env)
    try:
        async with httpx.AsyncClient(base_url=_base(env), headers=headers, timeout=30) as http:
            history: dict[str, dict[str, Any]] = {}
            for device in devices:
                page = await http.get(f"/api/v1/device/{device}/commands", params={"limit": 500})
                assert page.status_code == 200, page.text
                history.update({c["id"]: c for c in page.json()["commands"]})
            assert set(answered) <= set(history), "an answered command is missing from history"
            audited = await _audited_command_ids(database_url, tenant_id)
            assert set(answered) <= audited, "an answered command has no audit entry"
            # Whatever the killed process left in flight is resolved by the restart, not left pending.
            for _ in range(100):
                pending = await _pending(database_url)
                if not pending:
                    break
                await asyncio.sleep(0.1)
            assert pending == 0
    finally:
        process.terminate()
        await process.wait()
    verify = _cli(env, "audit", "verify")
    assert "audit chains intact" in verify


async def _audited_command_ids(url: str, tenant_id: str) -> set[str]:
    database = Database(url)
    try:
        entries = await AuditLog(database).entries(tenant_id, limit=100_000)
    finally:
        await database.dispose()
    return {json.loads(e.details)["command_id"] for e in entries if e.event_type == "command_executed"}


async def _pending(url: str) -> int:
    from sqlalchemy import text

    database = Database(url)
    try:
        async with database.engine.connect() as connection:
            return int(
                (
                    await connection.execute(text("SELECT count(*) FROM command WHERE status = 'pending'"))
                ).scalar_one()
            )
    finally:
        await database.dispose()
