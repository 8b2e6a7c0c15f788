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

from bench.result import emit  # noqa: E402

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "1000"))
EVENTS = int(os.environ.get("BENCH_EVENTS", "50"))
INTERVAL = float(os.environ.get("BENCH_INTERVAL", "0.2"))
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "")
HARD_TIMEOUT_S = 180.0


# ---------------------------------------------------------------- server process


async def _serve(data_dir: str) -> None:
    from server.app import Application
    from server.config import Settings

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
    # Opening a stream is a request, counted against the tenant's per-minute quota; a thousand
    # opens in seconds would be refused on the free tier, so the tenant is on the unlimited one
    # (what `hxtp-cloud tenants set-tier` does).
    principal = await app.identity.identity.ensure_user("bench@example.com", "viewer", "Bench")
    assert principal.tenant_id is not None
    tenant = principal.tenant_id
    await app.identity.identity.set_tier(tenant, "fleet")
    credential = app.tokens.mint(principal)
    print(json.dumps({"port": app.ports.http, "token": credential}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := (await reader.readline()).decode().strip():
            kind, _, number = line.partition(" ")
            # The timestamp is taken here, right before the publish: latency covers the whole server.
            await app.events.publish_state_update(tenant, kind, {"n": int(number), "sent_ns": time.time_ns()})
    finally:
        await app.stop()


async def _serve_bare() -> None:
    """The baseline: a bare websockets server sending each event, encoded once, to every client."""
    from websockets.asyncio.server import broadcast, serve

    clients: set[Any] = set()

    async def handler(socket: Any) -> None:
        clients.add(socket)
        try:
            await socket.wait_closed()
        finally:
            clients.discard(socket)

    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(json.dumps({"port": port, "token": ""}), flush=True)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := (await reader.readline()).decode().strip():
            kind, _, number = line.partition(" ")
            event = {
                "type": "state_update",
                "device_id": kind,
                "state": {"n": int(number), "sent_ns": time.time_ns()},
            }
            broadcast(clients, json.dumps(event))


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

        uvloop.run(_serve(sys.argv[2]) if sys.argv[2] != "--bare" else _serve_bare())
        return 0
    pin_server = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    if pin_server:
        os.sched_setaffinity(0, {1})
    bare = _fan_out(pin_server, "--bare")
    result = _fan_out(pin_server, tempfile.mkdtemp(prefix="hxtp-bench-ws-"))
    cache = "Redis" if REDIS_URL else "in-memory cache"
    print(f"{CLIENTS} clients, {EVENTS} events every {INTERVAL * 1000:.0f} ms, {cache}")
    print(f"  all subscribed after {result['connect_s']:.1f} s")
    for name, figures in (("server", result), ("bare websockets server (baseline)", bare)):
        print(f"  {name}:")
        p50, p99, worst = figures["p50"], figures["p99"], figures["max"]
        print(f"    per delivery:     p50 {p50:.2f} ms   p99 {p99:.2f} ms   max {worst:.2f} ms")
        p50, p99 = figures["completion_p50"], figures["completion_p99"]
        print(f"    last of {CLIENTS}:  p50 {p50:.2f} ms   p99 {p99:.2f} ms")
        print(f"    deliveries missing: {int(figures['missing'])}")
    emit(
        p50_ms=result["p50"],
        p99_ms=result["p99"],
        last_of_all_p99_ms=result["completion_p99"],
        missing=result["missing"],
        bare_p99_ms=bare["p99"],
        ratio=result["p99"] / bare["p99"] if bare["p99"] else 0.0,
    )
    return 0 if result["missing"] == 0 else 1


def _fan_out(pin_server: list[str], mode: str) -> dict[str, float]:
    """One server process (`mode`: a data dir, or --bare) and the clients' run against it."""
    import uvloop

    data_dir = mode if mode != "--bare" else ""
    server = subprocess.Popen(
        [*pin_server, sys.executable, __file__, "--serve", mode],
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
        if data_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
    return result


if __name__ == "__main__":
    sys.exit(main())
