"""`hxtp-cloud serve` as a person runs it: a port already taken is a clear message, not a traceback."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.integration.harness import running

ROOT = Path(__file__).resolve().parents[2]


async def test_a_taken_port_is_named_with_the_setting_that_chooses_it(tmp_path: Path) -> None:
    async with running(tmp_path / "first") as app:
        assert app.broker is not None
        env = {
            **os.environ,
            "HXTP_DATA_DIR": str(tmp_path / "second"),
            "HXTP_HTTP_PORT": "0",
            "HXTP_GRPC_PORT": "-1",
            "HXTP_EMBEDDED_MQTT_PORT": str(app.broker.port),  # held by the first server
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "server",
            "serve",
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    message = stderr.decode()
    assert "cannot start" in message and "HXTP_EMBEDDED_MQTT_PORT" in message
    assert "Traceback" not in message
