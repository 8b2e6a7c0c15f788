"""hxtp-device (firmware/host) as a subprocess of a test, with its stdout lines to wait on."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from tests.firmware.build import built


class DeviceProcess:
    def __init__(
        self, registration: dict[str, str], server_url: str, state_dir: Path, **options: str
    ) -> None:
        self.device_id = registration["device_id"]
        self._args = [
            "--device-id",
            registration["device_id"],
            "--tenant-id",
            registration["tenant_id"],
            "--secret",
            registration["device_secret"],
            "--server",
            server_url,
            "--state-dir",
            str(state_dir),
        ]
        for name, value in options.items():
            self._args += [f"--{name.replace('_', '-')}", value]
        self.lines: list[str] = []
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def start(self) -> None:
        program = built("hxtp-device")
        # Only the arguments configure it: no HXTP_* variable of the test run leaks in.
        env = {k: v for k, v in os.environ.items() if not k.startswith("HXTP_")}
        self._proc = await asyncio.create_subprocess_exec(
            str(program),
            *self._args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
        )
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        while line := await self._proc.stdout.readline():
            self.lines.append(line.decode(errors="replace").rstrip("\n"))
            self._changed.set()

    async def wait_for(self, prefix: str, within: float = 20.0, after: int = 0) -> str:
        """The first line from index `after` on that starts with prefix."""
        async with asyncio.timeout(within):
            while True:
                for line in self.lines[after:]:
                    if line.startswith(prefix):
                        return line
                self._changed.clear()
                await self._changed.wait()

    async def stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._proc.wait(), 10)
            if self._proc.returncode is None:
                self._proc.kill()
                await self._proc.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
