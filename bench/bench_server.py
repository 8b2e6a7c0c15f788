"""The whole server as benchmarks run it: its own process on core 0, embedded defaults (unless told
otherwise), a benchmark owner whose tenant is on the unlimited `fleet` tier (set with the CLI, as
an operator would), and one home to register devices in."""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

from bench.bench_command import _owner_token, _post, _unlimited_tier
from bench.bench_http import free_port, server_env, start_server


@dataclass(frozen=True)
class BenchServer:
    pid: int
    port: int
    token: str
    home_id: str

    def register(self, device_type: str = "light") -> dict[str, object]:
        body = {"device_type": device_type, "home_id": self.home_id}
        return _post(self.port, "/api/v1/devices/register", self.token, body)


@contextlib.contextmanager
def bench_server(env: dict[str, str], **settings: str) -> Iterator[BenchServer]:
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        environment = server_env(env, data_dir, port, **settings)
        token = _owner_token(environment)
        _unlimited_tier(environment)
        process = start_server([sys.executable, "-m", "server", "serve"], environment, port)
        try:
            home = _post(port, "/api/v1/homes", token, {"home_name": "Bench"})
            yield BenchServer(process.pid, port, token, str(home["id"]))
        finally:
            process.terminate()
            process.wait(timeout=30)
