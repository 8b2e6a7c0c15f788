"""The gRPC command path (CommandService.ExecuteCommand over a real channel) against an empty
grpc.aio unary method, in the same process arrangement.

Both servers run in their own process pinned to core 0: the whole server (`hxtp-cloud serve`,
embedded defaults, the benchmark tenant on the unlimited `fleet` tier set with the CLI), and a
bare grpc.aio server whose one unary method answers an empty message. The load is this process on
core 1: one grpc.aio channel with CONCURRENCY calls in flight for SECONDS after a warm-up, the
same for both. Commands go round-robin to DEVICES `light` devices, as on the REST path; then, as a
second figure, all of them to one device, whose commands take their turn one after the other
(server.devicelink.ordering). Reports calls/s, p50/p99 and the ratio command/empty.

Run: `.venv/bin/python bench/bench_grpc.py` (BENCH_SECONDS=10, BENCH_CONCURRENCY=64, BENCH_DEVICES=50).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_http import free_port, start_server  # noqa: E402
from bench.bench_server import bench_server  # noqa: E402
from bench.result import emit  # noqa: E402

SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "64"))
DEVICES = int(os.environ.get("BENCH_DEVICES", "50"))
EMPTY_METHOD = "/bench.Empty/Call"


# ---------------------------------------------------------------- the empty baseline server


async def _serve_empty(port: int) -> None:
    async def call(request: bytes, context: grpc.aio.ServicerContext) -> bytes:  # type: ignore[type-arg]
        return b""

    handler = grpc.method_handlers_generic_handler(
        "bench.Empty", {"Call": grpc.unary_unary_rpc_method_handler(call)}
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


# ---------------------------------------------------------------- load


async def _load(
    target: str, method: str, requests: list[bytes], metadata: tuple[tuple[str, str], ...]
) -> dict[str, float]:
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.unary_unary(method)
        latencies: list[float] = []
        failures = 0
        turns = itertools.cycle(requests)

        async def worker(until: float, record: bool) -> None:
            nonlocal failures
            while time.perf_counter() < until:
                started = time.perf_counter()
                try:
                    await call(next(turns), metadata=metadata)
                except grpc.aio.AioRpcError:
                    failures += 1
                if record:
                    latencies.append((time.perf_counter() - started) * 1000)

        for record, seconds in ((False, min(3.0, SECONDS)), (True, SECONDS)):  # warm-up, then measured
            latencies.clear()
            failures = 0
            until = time.perf_counter() + seconds
            began = time.perf_counter()
            await asyncio.gather(*(worker(until, record) for _ in range(CONCURRENCY)))
            elapsed = time.perf_counter() - began
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": quantiles[49],
        "p99_ms": quantiles[98],
        "errors": failures,
    }


def _measure(
    target: str, method: str, requests: list[bytes], metadata: tuple[tuple[str, str], ...]
) -> dict[str, float]:
    import uvloop

    return uvloop.run(_load(target, method, requests, metadata))


def _command(command_pb2: Any, device_id: str) -> bytes:
    request = command_pb2.ExecuteCommandRequest(device_id=device_id, action="light_brightness")
    request.params.update({"brightness": 80})
    return bytes(request.SerializeToString())


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--empty":
        import uvloop

        uvloop.run(_serve_empty(int(sys.argv[2])))
        return 0
    from hxtp.cloud.v1 import command_pb2

    os.sched_setaffinity(0, {1})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    empty_port = free_port()
    empty_server = start_server([sys.executable, __file__, "--empty", str(empty_port)], env, empty_port)
    try:
        empty = _measure(f"127.0.0.1:{empty_port}", EMPTY_METHOD, [b""], ())
    finally:
        empty_server.terminate()
        empty_server.wait(timeout=30)
    grpc_port = free_port()
    settings = {"HXTP_GRPC_PORT": str(grpc_port), "HXTP_DEVICE_COMMANDS_PER_MINUTE": "1000000000"}
    with bench_server(env, **settings) as server:
        requests = [_command(command_pb2, str(server.register()["device_id"])) for _ in range(DEVICES)]
        target, method = f"127.0.0.1:{grpc_port}", "/hxtp.cloud.v1.CommandService/ExecuteCommand"
        credential = (("authorization", f"Bearer {server.token}"),)
        command = _measure(target, method, requests, credential)
        one_device = _measure(target, method, requests[:1], credential)
    print(
        f"{SECONDS:.0f} s, {CONCURRENCY} calls in flight on one channel, commands round-robin to {DEVICES} "
        "devices; servers on core 0, load on core 1"
    )
    figures = {f"empty_{k}": v for k, v in empty.items()} | {f"command_{k}": v for k, v in command.items()}
    figures["ratio"] = command["rps"] / empty["rps"]
    figures |= {f"one_device_{k}": v for k, v in one_device.items()}
    print("  ".join(f"{name} {value:,.2f}" for name, value in figures.items()))
    emit(**figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
