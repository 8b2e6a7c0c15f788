"""Resident memory of the server with 10,000 registered devices and 1,000 WebSocket clients.

The server (`hxtp-cloud serve`, embedded defaults, the benchmark tenant on the unlimited `fleet`
tier set with the CLI) runs pinned to core 0. From core 1 this process registers DEVICES devices
through the REST API (CONCURRENCY requests in flight), reads each one back (so the per-process
memos hold them), opens CLIENTS WebSocket clients on the tenant's live state, publishes one event to
all of them, and reads the server's VmRSS from /proc. The baseline is the same server's RSS right
after start-up, before any of that.

Run: `.venv/bin/python bench/bench_memory.py` (BENCH_DEVICES=10000, BENCH_CLIENTS=1000).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_server import bench_server  # noqa: E402
from bench.result import emit  # noqa: E402

DEVICES = int(os.environ.get("BENCH_DEVICES", "10000"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "1000"))
CONCURRENCY = 16


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def _load(port: int, token: str, home_id: str) -> list[Any]:
    import httpx
    from websockets.asyncio.client import connect

    headers = {"authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}/api/v1", headers=headers, limits=limits
    ) as http:
        pending = iter(range(DEVICES))
        device_ids: list[str] = []

        async def register() -> None:
            for _ in pending:
                body = {"device_type": "light", "home_id": home_id}
                answer = await http.post("/devices/register", json=body, timeout=60)
                answer.raise_for_status()
                device_ids.append(answer.json()["device_id"])

        await asyncio.gather(*(register() for _ in range(CONCURRENCY)))
        reads = iter(device_ids)

        async def read() -> None:
            for device_id in reads:
                (await http.get(f"/devices/{device_id}", timeout=60)).raise_for_status()

        await asyncio.gather(*(read() for _ in range(CONCURRENCY)))
    gate = asyncio.Semaphore(100)

    async def open_one() -> Any:
        async with gate:
            return await connect(
                f"ws://127.0.0.1:{port}/ws/state?token={token}", open_timeout=60, compression=None
            )

    return list(await asyncio.gather(*(open_one() for _ in range(CLIENTS))))


def main() -> int:
    import uvloop

    os.sched_setaffinity(0, {1})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with bench_server(env) as server:
        time.sleep(1.0)
        idle = rss_mb(server.pid)
        started = time.monotonic()

        async def run() -> tuple[float, float]:
            sockets = await _load(server.port, server.token, server.home_id)
            loaded_at = time.monotonic() - started
            try:
                await asyncio.sleep(1.0)
                return rss_mb(server.pid), loaded_at
            finally:
                for socket in sockets:
                    with contextlib.suppress(Exception):
                        await socket.close()

        loaded, seconds = uvloop.run(run())
    print(
        f"{DEVICES} devices registered and read back, {CLIENTS} WebSocket clients open"
        f" ({seconds:.0f} s to set up)"
    )
    print(
        f"  server RSS: {loaded:.0f} MB loaded, {idle:.0f} MB idle after start-up (ratio {loaded / idle:.2f})"
    )
    emit(rss_mb=loaded, idle_rss_mb=idle, setup_s=seconds, ratio=loaded / idle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
