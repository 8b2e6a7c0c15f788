"""Live-state fan-out latency: one event published, delivered to 1,000 WebSocket clients.

The server (the whole Application, embedded defaults or Redis) runs in its own process pinned to core
0; the 1,000 clients (websockets library, one uvloop event loop) run in this process pinned to core 1.
The server process publishes each event when told to on its stdin and stamps it with time.time_ns();
each client takes the difference when the frame arrives. Reported: the per-delivery latency p50/p99
and the time until the LAST of the 1,000 clients has the event (fan-out completion), p50/p99.
Loopback only, bounded in time (a hard timeout ends everything).

Run: `.venv/bin/python bench/bench_ws_fanout.py` (env: BENCH_CLIENTS=1000, BENCH_EVENTS=50,
BENCH_INTERVAL=0.2 seconds between events, BENCH_REDIS_URL=redis://... to fan out through Redis).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "1000"))
EVENTS = int(os.environ.get("BENCH_EVENTS", "50"))
INTERVAL = float(os.environ.get("BENCH_INTERVAL", "0.2"))
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "")
HARD_TIMEOUT_S = 180.0
TENANT = "bench-tenant"


# ---------------------------------------------------------------- server process


async def _serve(data_dir: str) -> None:
    from server.app import Application
    from server.config import Settings
    from server.domain.identity import rate_limits
    from server.domain.identity.principal import Principal, Role

    # Opening a stream is a request, counted against the tenant's per-minute quota (contract §7.3:
    # free 60, pro 300). A thousand opens in seconds would be refused by design, so this benchmark
    # of the fan-out itself lifts the quota of its tenant's tier in its own server process.
    rate_limits.TIERS[rate_limits.DEFAULT_TIER] = 1_000_000

    env = {
        "HXTP_DATA_DIR": data_dir,
        "HXTP_HTTP_PORT": "0",
        "HXTP_GRPC_PORT": "-1",
        "HXTP_EMBEDDED_MQTT_PORT": "0",
        "HXTP_LOG_LEVEL": "warning",
        "HXTP_REDIS_URL": REDIS_URL,
    }
    app = Application(Settings.from_env(env))
    await app.start()
    credential = app.tokens.mint(Principal(user_id="bench", tenant_id=TENANT, role=Role.VIEWER))
    print(json.dumps({"port": app.ports.http, "token": credential}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := (await reader.readline()).decode().strip():
            kind, _, number = line.partition(" ")
            # The timestamp is taken here, right before the publish: latency covers the whole server.
            await app.events.publish_state_update(TENANT, kind, {"n": int(number), "sent_ns": time.time_ns()})
    finally:
        await app.stop()


# ---------------------------------------------------------------- client process


class _Client:
    def __init__(self) -> None:
        self.warm = asyncio.Event()
        self.latencies: dict[int, float] = {}  # event number -> ms


async def _client(url: str, client: _Client, connected: asyncio.Semaphore) -> None:
    from websockets.asyncio.client import connect

    async with connected:
        socket = await connect(url, open_timeout=30, compression=None)
    async with socket:
        async for frame in socket:
            received_ns = time.time_ns()
            event: dict[str, Any] = json.loads(frame)
            if event["device_id"] == "warmup":
                client.warm.set()
            elif event["device_id"] == "bench":
                state = event["state"]
                client.latencies[state["n"]] = (received_ns - state["sent_ns"]) / 1e6
            elif event["device_id"] == "end":
                return


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def _drive(server: subprocess.Popen[bytes], port: int, credential: str) -> dict[str, float]:
    assert server.stdin is not None
    url = f"ws://127.0.0.1:{port}/ws/state?token={credential}"
    clients = [_Client() for _ in range(CLIENTS)]
    gate = asyncio.Semaphore(100)  # connect in waves: a 1,000-connection SYN burst overflows backlogs
    started = time.monotonic()
    tasks = [asyncio.create_task(_client(url, c, gate)) for c in clients]

    def send(line: str) -> None:
        server.stdin.write(line.encode() + b"\n")  # type: ignore[union-attr]
        server.stdin.flush()  # type: ignore[union-attr]

    # Every client is subscribed once it has seen a warm-up event.
    while not all(c.warm.is_set() for c in clients):
        send("warmup 0")
        await asyncio.sleep(0.2)
        for task in tasks:
            if task.done():
                task.result()
    connect_s = time.monotonic() - started
    for n in range(EVENTS):
        send(f"bench {n}")
        await asyncio.sleep(INTERVAL)
    send("end 0")
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    deliveries = [ms for c in clients for ms in c.latencies.values()]
    completion = [max(c.latencies[n] for c in clients) for n in range(EVENTS)]
    missing = CLIENTS * EVENTS - len(deliveries)
    return {
        "connect_s": connect_s,
        "p50": statistics.median(deliveries),
        "p99": _percentile(deliveries, 99),
        "max": max(deliveries),
        "completion_p50": statistics.median(completion),
        "completion_p99": _percentile(completion, 99),
        "missing": float(missing),
    }


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        import uvloop

        uvloop.run(_serve(sys.argv[2]))
        return 0
    import uvloop

    data_dir = tempfile.mkdtemp(prefix="hxtp-bench-ws-")
    pin_server = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    if pin_server:
        os.sched_setaffinity(0, {1})
    server = subprocess.Popen(
        [*pin_server, sys.executable, __file__, "--serve", data_dir],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert server.stdout is not None
        hello = json.loads(server.stdout.readline())

        async def bounded() -> dict[str, float]:
            return await asyncio.wait_for(_drive(server, hello["port"], hello["token"]), HARD_TIMEOUT_S)

        result = uvloop.run(bounded())
    finally:
        if server.stdin is not None:
            server.stdin.close()  # EOF: the server stops
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(data_dir, ignore_errors=True)
    cache = "Redis" if REDIS_URL else "in-memory cache"
    print(f"{CLIENTS} clients, {EVENTS} events every {INTERVAL * 1000:.0f} ms, {cache}")
    print(f"  all subscribed after {result['connect_s']:.1f} s")
    p50, p99, worst = result["p50"], result["p99"], result["max"]
    print(f"  per delivery:     p50 {p50:.2f} ms   p99 {p99:.2f} ms   max {worst:.2f} ms")
    p50, p99 = result["completion_p50"], result["completion_p99"]
    print(f"  last of {CLIENTS}:  p50 {p50:.2f} ms   p99 {p99:.2f} ms")
    print(f"  deliveries missing: {int(result['missing'])}")
    return 0 if result["missing"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
