"""The REST command path end to end against an empty handler on the same HTTP stack.

`POST /api/v1/device/{id}/command` runs everything a real command does: the chain (JWT, tenant,
role, scope, rate limiter), the gates (device, manifest, compiled params validation, per-device
limit), the command row in SQLite, HMAC signing and framing, a QoS-1 publish to the embedded broker
(the benchmark device listens, so the broker delivers), the audit append and the status event.

Commands go round-robin to 50 registered `light` devices. Two measurements, server pinned to core 0
and load to core 1, loopback only, bounded in time:
1. throughput: wrk with 64 connections, against the empty ASGI handler of bench/empty_app.py;
2. latency at a fixed 1,000 commands/s for 10 s from an asyncio HTTP/1.1 client (this process,
   on core 1 like wrk): p50/p99.

Run: `.venv/bin/python bench/bench_command.py` (needs Debian's wrk) for the embedded defaults;
`--production` (or `BENCH_PARTS=production`) for PostgreSQL (a scratch database on BENCH_POSTGRES_DSN, default
postgresql://postgres@127.0.0.1:5432/test), Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379/0)
and Mosquitto (BENCH_MQTT_URL, default mqtt://127.0.0.1:1883).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_http import ROOT, free_port, measure_empty_handler, server_env, start_server, wrk
from bench.parts import parts

RATE = int(os.environ.get("BENCH_RATE", "1000"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
DEVICES = int(os.environ.get("BENCH_DEVICES", "50"))
PARTS = "production" if "--production" in sys.argv[1:] else os.environ.get("BENCH_PARTS", "embedded")
# A file to write the server's py-spy profile to (collapsed stacks), e.g. /tmp/command.txt.
PROFILE = os.environ.get("BENCH_PROFILE", "")


def _unlimited_tier(env: dict[str, str], root: Path = ROOT) -> None:
    """Every request counts against the tenant's quota: the benchmark tenant gets the unlimited tier."""
    command = [sys.executable, "-m", "server", "tenants", "set-tier", "bench", "fleet"]
    subprocess.run(command, env=env, cwd=root, check=True, capture_output=True)


def _owner_token(env: dict[str, str], root: Path = ROOT) -> str:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "server",
            "users",
            "create",
            "--email",
            "bench@example.com",
            "--role",
            "owner",
            "--tenant",
            "Bench",
        ],
        env=env,
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.strip().splitlines()[-1]


BODY = json.dumps({"action": "light_brightness", "params": {"brightness": "80"}})


def command_paths(port: int, token: str) -> list[str]:
    """Registers DEVICES `light` devices in a new home; the command route of each."""
    home = _post(port, "/api/v1/homes", token, {"home_name": "Bench"})
    paths = []
    for _ in range(DEVICES):
        device = _post(
            port, "/api/v1/devices/register", token, {"device_type": "light", "home_id": home["id"]}
        )
        paths.append(f"/api/v1/device/{device['device_id']}/command")
    return paths


def _post(port: int, path: str, token: str, body: object) -> dict[str, object]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.loads(response.read()))


async def _fixed_rate(port: int, paths: list[str], token: str, body: bytes) -> list[float]:
    """Requests at RATE/s on a pool of keep-alive connections, round-robin over `paths`; returns each
    latency in ms."""
    requests = itertools.cycle(
        [
            (
                f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {token}\r\n"
                f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
            ).encode()
            + body
            for path in paths
        ]
    )
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(64):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []
    failures = 0

    async def one(scheduled: float, request: bytes) -> None:
        nonlocal failures
        reader, writer = await pool.get()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(
            next(
                line.split(b":")[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        await reader.readexactly(length)
        latencies.append((time.perf_counter() - scheduled) * 1000)  # from the intended send time
        if not head.startswith(b"HTTP/1.1 202"):
            failures += 1
        pool.put_nowait((reader, writer))

    start = time.perf_counter()
    tasks = []
    for n in range(int(RATE * SECONDS)):
        scheduled = start + n / RATE
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled, next(requests))))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait()[1].close()
    if failures:
        print(f"  {failures} answers were not 202")
    return latencies


def _cpu_ticks(pid: int) -> int:
    """CPU time (clock ticks) of the process and its direct children (py-spy runs the server as one)."""
    total = 0
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for process in [pid, *map(int, children)]:
        fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


def _settle(pid: int, limit_s: float = 60.0) -> float:
    """Waits until the server is idle (under a tenth of a core over half a second), so the fixed-rate
    run measures latency at that rate, not work the throughput run left behind (such as the embedded
    broker still delivering what it accepted); returns how long that took."""
    started = time.monotonic()
    ticks_per_s = os.sysconf("SC_CLK_TCK")
    while time.monotonic() - started < limit_s:
        before = _cpu_ticks(pid)
        time.sleep(0.5)
        if (_cpu_ticks(pid) - before) / ticks_per_s < 0.05:
            break
    return time.monotonic() - started


def _round_robin_script(paths: list[str], body: str, token: str) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            f"local paths = {{{', '.join(json.dumps(p) for p in paths)}}}\n"
            "local n = 0\n"
            'wrk.method = "POST"\n'
            f"wrk.body = {json.dumps(body)}\n"
            f'wrk.headers["authorization"] = "Bearer {token}"\n'
            'wrk.headers["content-type"] = "application/json"\n'
            "request = function()\n"
            "  n = n % #paths + 1\n"
            "  return wrk.format(nil, paths[n])\n"
            "end\n"
        )
    return script.name


def main() -> int:
    # The load's side: the fixed-rate client runs in this process, and left unpinned it took turns
    # on the server's core (its latencies then measured the two sharing one core).
    os.sched_setaffinity(0, {1})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    empty = measure_empty_handler(env)
    with tempfile.TemporaryDirectory() as data_dir, parts(PARTS) as settings:
        port = free_port()
        environment = server_env(
            env, data_dir, port, HXTP_DEVICE_COMMANDS_PER_MINUTE="1000000000", **settings
        )
        token = _owner_token(environment)
        _unlimited_tier(environment)
        server = [sys.executable, "-m", "server", "serve"]
        if PROFILE:
            spy = Path(sys.executable).with_name("py-spy")
            server = [str(spy), "record", "--format", "raw", "--rate", "250", "-o", PROFILE, "--", *server]
        process = start_server(server, environment, port)
        try:
            paths = command_paths(port, token)
            script = _round_robin_script(paths, BODY, token)
            wrk(f"http://127.0.0.1:{port}{paths[0]}", script)  # warm-up
            command = wrk(f"http://127.0.0.1:{port}{paths[0]}", script)
            settled_s = _settle(process.pid)
            latencies = asyncio.run(_fixed_rate(port, paths, token, BODY.encode()))
        finally:
            process.send_signal(signal.SIGINT) if PROFILE else process.terminate()  # py-spy writes on SIGINT
            process.wait(timeout=60)
    quantiles = statistics.quantiles(latencies, n=100)
    print(f"parts: {PARTS}, {DEVICES} devices round-robin")
    print(f"empty ASGI handler          {empty['rps']:8.0f} req/s  p99 {empty.get('p99_ms', 0):.2f} ms")
    print(
        f"POST .../command (full path) {command['rps']:8.0f} req/s  p50 {command.get('p50_ms', 0):.2f} ms"
        f"  p99 {command.get('p99_ms', 0):.2f} ms  non-2xx {command['errors']:.0f}"
    )
    print(f"ratio command/empty: {command['rps'] / empty['rps']:.3f}")
    print(f"server idle again {settled_s:.1f} s after the throughput run")
    print(
        f"at {RATE}/s for {SECONDS:.0f} s: p50 {quantiles[49]:.2f} ms  p99 {quantiles[98]:.2f} ms"
        f"  ({len(latencies)} commands)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
