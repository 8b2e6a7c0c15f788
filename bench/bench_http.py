"""HTTP throughput of the gateway against an empty handler on the same stack (uvicorn + uvloop).

Each server runs in its own process pinned to one core; wrk (Debian package `wrk`) drives it from
the other core over loopback, for a bounded time. Prints requests/s and latency percentiles, and
the ratio gateway/empty. Run: `.venv/bin/python bench/bench_http.py` (after `make build`).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.result import emit  # noqa: E402

DURATION = os.environ.get("BENCH_DURATION", "10s")
CONNECTIONS = os.environ.get("BENCH_CONNECTIONS", "64")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def wrk(url: str, script: str | None = None) -> dict[str, float]:
    """One wrk run from core 1; `script` is a Lua file (e.g. to POST a body)."""
    extra = ["-s", script] if script else []
    out = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{DURATION}", "--latency", *extra, url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    result["requests"] = float(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    for pct in ("50", "99"):
        match = re.search(rf"\s{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)", out)
        if match:
            scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
            result[f"p{pct}_ms"] = float(match.group(1)) * scale
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["errors"] = float(non2xx.group(1)) if non2xx else 0.0
    return result


def start_server(
    command: list[str], env: dict[str, str], port: int, root: Path = ROOT
) -> subprocess.Popen[bytes]:
    """The server process (of the checkout at `root`) pinned to core 0, listening on `port`."""
    process = subprocess.Popen(["taskset", "-c", "0", *command], env=env, cwd=root, stdout=subprocess.DEVNULL)
    wait_for(port)
    return process


def server_env(env: dict[str, str], data_dir: str, port: int, **extra: str) -> dict[str, str]:
    """The environment of a benchmarked server: embedded defaults in `data_dir`, HTTP on `port`."""
    return {
        **env,
        "HXTP_DATA_DIR": data_dir,
        "HXTP_HTTP_PORT": str(port),
        "HXTP_GRPC_PORT": "-1",
        "HXTP_EMBEDDED_MQTT_PORT": str(free_port()),
        "HXTP_LOG_LEVEL": "warning",
        **extra,
    }


def measure_empty_handler(env: dict[str, str]) -> dict[str, float]:
    port = free_port()
    process = start_server(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.empty_app:app",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env,
        port,
    )
    try:
        wrk(f"http://127.0.0.1:{port}/")  # warm-up
        return wrk(f"http://127.0.0.1:{port}/")
    finally:
        process.terminate()
        process.wait(timeout=30)


def _run(command: list[str], env: dict[str, str], port: int, path: str) -> dict[str, float]:
    process = start_server(command, env, port)
    try:
        wrk(f"http://127.0.0.1:{port}{path}")  # warm-up
        return wrk(f"http://127.0.0.1:{port}{path}")
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> int:
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    python = sys.executable
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    empty = measure_empty_handler(env)
    with tempfile.TemporaryDirectory() as data_dir:
        gateway_port = free_port()
        environment = server_env(env, data_dir, gateway_port)
        status = _run([python, "-m", "server", "serve"], environment, gateway_port, "/api/v1/status")
    print(f"duration {DURATION}, {CONNECTIONS} connections, server on core 0, wrk on core 1")
    for name, result in (("empty ASGI handler", empty), ("GET /api/v1/status (gateway+chain)", status)):
        print(
            f"{name:38} {result['rps']:10.0f} req/s  p50 {result.get('p50_ms', 0):.2f} ms"
            f"  p99 {result.get('p99_ms', 0):.2f} ms  non-2xx {result['errors']:.0f}"
        )
    print(f"ratio gateway/empty: {status['rps'] / empty['rps']:.2f}")
    emit(
        empty_rps=empty["rps"],
        status_rps=status["rps"],
        status_p99_ms=status.get("p99_ms", 0),
        status_non2xx=status["errors"],
        ratio=status["rps"] / empty["rps"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
