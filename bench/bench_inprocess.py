"""The REST command path's own cost, without sockets: what the product's Python spends per command.

The whole application runs in this process on the embedded defaults (Application without its
listeners, pinned to core 0), and commands are handed to the same ASGI app uvicorn serves (CORS
around the gateway) as ASGI calls, CONCURRENCY at a time, round-robin to DEVICES `light` devices
registered through the same app. Nothing else shares the process or the core's time with it, so
its CPU time per command is the product's work alone: binding, chain, gates, signing, the
embedded broker's delivery, the group commit (aiosqlite's thread included) and the memos. The
difference to bench_command.py's figure is what HTTP and the sockets cost.

With `--production` the same runs on PostgreSQL, Redis and Mosquitto (bench/parts.py); those
servers' own work is then not in the figure, only the product's side of talking to them.

A warm-up of WARMUP commands first (every memo filled), then COMMANDS measured. `--profile FILE`
records py-spy's raw collapsed stacks of the measured part only (needs py-spy in the virtualenv).

Run: `.venv/bin/python bench/bench_inprocess.py [--production] [--profile /tmp/inprocess.txt]`
(BENCH_COMMANDS=12800, BENCH_WARMUP=6400, BENCH_CONCURRENCY=64, BENCH_DEVICES=50).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_command import BODY, _owner_token, _unlimited_tier
from bench.bench_http import ROOT, free_port, server_env
from bench.parts import parts
from bench.result import emit

COMMANDS = int(os.environ.get("BENCH_COMMANDS", "12800"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "6400"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "64"))
DEVICES = int(os.environ.get("BENCH_DEVICES", "50"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
PARTS = "production" if "--production" in sys.argv[1:] else os.environ.get("BENCH_PARTS", "embedded")


class Client:
    """ASGI requests to `app` as uvicorn would make them, one complete body each."""

    def __init__(self, app: Any, token: str) -> None:
        self._app = app
        self._token = token.encode()
        self.statuses: Counter[int] = Counter()

    async def request(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"authorization", b"Bearer " + self._token),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
        }
        delivered = False
        status, answer = 0, b""

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if delivered:  # a complete request: uvicorn's receive would wait for a disconnect
                await asyncio.Event().wait()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status, answer
            if message["type"] == "http.response.start":
                status = message["status"]
            else:
                answer += message.get("body", b"")

        await self._app(scope, receive, send)
        self.statuses[status] += 1
        return status, answer

    async def post_json(self, path: str, body: object) -> dict[str, Any]:
        status, answer = await self.request("POST", path, orjson.dumps(body))
        if status >= 300:
            raise RuntimeError(f"POST {path}: {status} {answer[:200]!r}")
        return dict(orjson.loads(answer))


async def _commands(client: Client, paths: list[str], count: int) -> None:
    turns = itertools.cycle(paths)
    body = BODY.encode()
    remaining = count

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await client.request("POST", next(turns), body)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


def _spy(target: str) -> subprocess.Popen[bytes]:
    spy = Path(sys.executable).with_name("py-spy")
    command = [str(spy), "record", "-p", str(os.getpid()), "-r", "250", "-f", "raw", "-o", target]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _run(environment: dict[str, str], token: str, profile: str | None) -> dict[str, float]:
    from gateway.cors import Cors, parse_origins
    from server.app import Application
    from server.config import Settings

    settings = Settings.from_env(environment)
    app = Application(settings)
    await app.start(listeners=False)
    try:
        client = Client(Cors(app.gateway, parse_origins(",".join(settings.cors_origins))), token)
        home = await client.post_json("/api/v1/homes", {"home_name": "Bench"})
        paths = []
        for _ in range(DEVICES):
            device = await client.post_json(
                "/api/v1/devices/register", {"device_type": "light", "home_id": home["id"]}
            )
            paths.append(f"/api/v1/device/{device['device_id']}/command")
        await _commands(client, paths, WARMUP)
        spy = _spy(profile) if profile else None
        if spy is not None:
            await asyncio.sleep(1.5)  # py-spy attaches
        rates, cpu_us = [], []
        client.statuses.clear()
        for _ in range(REPEATS):
            began_wall, began_cpu = time.perf_counter(), time.process_time()
            await _commands(client, paths, COMMANDS)
            rates.append(COMMANDS / (time.perf_counter() - began_wall))
            cpu_us.append((time.process_time() - began_cpu) * 1e6 / COMMANDS)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        accepted = client.statuses[202]
        others = sum(client.statuses.values()) - accepted
    finally:
        await app.stop()
    print(
        f"parts: {PARTS}; {COMMANDS} commands x {REPEATS}, {CONCURRENCY} at a time, round-robin to "
        f"{DEVICES} devices, in this process on core 0 (no HTTP sockets)"
    )
    for name, values, unit in (("commands/s", rates, ""), ("CPU per command", cpu_us, " us")):
        print(
            f"{name:16} min {min(values):8.0f}{unit}  median {statistics.median(values):8.0f}{unit}"
            f"  max {max(values):8.0f}{unit}"
        )
    print(f"answers: {accepted} x 202, {others} other")
    return {
        "rps": statistics.median(rates),
        "cpu_us_per_command": statistics.median(cpu_us),
        "non_202": float(others),
    }


def main() -> int:
    import uvloop

    profile = sys.argv[sys.argv.index("--profile") + 1] if "--profile" in sys.argv else None
    os.sched_setaffinity(0, {0})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as data_dir, parts(PARTS) as settings:
        environment = server_env(
            env, data_dir, free_port(), HXTP_DEVICE_COMMANDS_PER_MINUTE="1000000000", **settings
        )
        token = _owner_token(environment)
        _unlimited_tier(environment)
        figures = uvloop.run(_run(environment, token, profile))
    emit(**figures)
    return 0 if figures["non_202"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
