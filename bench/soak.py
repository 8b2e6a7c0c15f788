"""Soak: mixed load against one server process for SOAK_SECONDS (default 600), then its figures.

The server (`hxtp-cloud serve`, embedded defaults, the tenant on the unlimited tier so the 429 path is
not what is measured) runs as its own process on loopback; this process drives it with, at once:
- commands: REST `POST /device/{id}/command` to firmware-like devices, which verify and ack them;
- device traffic: each device publishes a signed `state` message every DEVICE_INTERVAL_S;
- WebSocket clients on `/ws/state`, which must stay connected and keep receiving events;
- API reads: device list, one device, homes, health.

Every answer that is not the expected status, every lost WebSocket, every command not acked by the
end is an error. The server's resident memory is sampled throughout. The figures are printed and
appended to bench/RESULTS.md; the exit status is 1 on any error or on memory growth beyond
MEMORY_GROWTH_LIMIT after warm-up. Loopback only; every count is bounded; it stops by itself.
Run: `make soak` (SOAK_SECONDS=60 make soak for a short run; SOAK_PARTS=production make soak on this
machine's PostgreSQL, Redis and Mosquitto).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from websockets.asyncio.client import connect

from bench.bench_http import ROOT, free_port, server_env, wait_for
from bench.parts import parts
from tests.devicelink.firmware import FirmwareDevice, MqttPeer

SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))
# embedded (the defaults) or production: PostgreSQL, Redis and Mosquitto on this machine (bench/parts.py).
PARTS = os.environ.get("SOAK_PARTS", "embedded")
DEVICES = 10
WS_CLIENTS = 20
COMMANDS_PER_S = 10
READS_PER_S = 20
DEVICE_INTERVAL_S = 1.0
SAMPLE_EVERY_S = 5.0
WARM_UP_FRACTION = 0.2  # memory is compared from the end of warm-up (caches and pools filled)
MEMORY_GROWTH_LIMIT = 0.15
RESULTS = ROOT / "bench" / "RESULTS.md"


@dataclass
class Figures:
    requests: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    acked_on_device: int = 0
    device_messages: int = 0
    ws_events: int = 0
    rss_mb: list[float] = field(default_factory=list)

    def count(self, kind: str) -> None:
        self.requests[kind] = self.requests.get(kind, 0) + 1

    def error(self, text: str) -> None:
        if len(self.errors) < 1000:
            self.errors.append(text)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _owner_token(env: dict[str, str]) -> str:
    command = [sys.executable, "-m", "server", "users", "create", "--email", "soak@example.com"]
    command += ["--role", "owner", "--tenant", "Soak"]
    out = subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


async def _expect(figures: Figures, kind: str, response: httpx.Response, status: int) -> None:
    figures.count(kind)
    if response.status_code != status:
        figures.error(f"{kind}: {response.status_code} {response.text[:120]}")


async def _device(
    device: FirmwareDevice, broker: str, figures: Figures, until: float, stop: asyncio.Event
) -> None:
    peer = MqttPeer(broker, f"soak-{device.device_id}")
    await peer.connect()
    await peer.subscribe(device.topic("cmd"))
    next_state = time.monotonic()
    try:
        while not stop.is_set():
            try:
                _, payload = await peer.next_message(
                    within=max(0.01, min(1.0, next_state - time.monotonic()))
                )
                command = device.accept_command(payload)
                peer.publish(device.topic("cmd_ack"), device.ack(command["message_id"]))
                figures.acked_on_device += 1
            except TimeoutError:
                pass
            except AssertionError as error:
                figures.error(f"device {device.device_id}: refused a command ({error})")
            if time.monotonic() >= next_state and time.monotonic() < until:
                level = random.randint(0, 100)
                peer.publish(
                    device.topic("state"), device.build("state", f'{{"power":"on","level":{level}}}')
                )
                figures.device_messages += 1
                next_state += DEVICE_INTERVAL_S
    finally:
        await peer.close()


async def _ws_client(url: str, figures: Figures, until: float) -> None:
    started = time.monotonic()
    try:
        await _ws_session(url, figures, until)
    except Exception as error:
        figures.error(f"WebSocket lost after {time.monotonic() - started:.0f} s of {SECONDS:.0f}: {error!r}")


async def _ws_session(url: str, figures: Figures, until: float) -> None:
    async with connect(url, open_timeout=10, ping_interval=None) as socket:
        while time.monotonic() < until:
            try:
                frame = await asyncio.wait_for(
                    socket.recv(), timeout=min(5.0, max(0.01, until - time.monotonic()))
                )
            except TimeoutError:
                await socket.send("ping")
                continue
            if frame != "pong":
                json.loads(frame)
                figures.ws_events += 1


async def _paced(rate: float, until: float, step: object) -> None:
    interval, next_at = 1.0 / rate, time.monotonic()
    pending: set[asyncio.Task[None]] = set()
    while time.monotonic() < until:
        task = asyncio.create_task(step())  # type: ignore[operator]
        pending.add(task)
        task.add_done_callback(pending.discard)
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    if pending:
        await asyncio.gather(*pending)


async def _drive(pid: int, port: int, broker: str, token: str, figures: Figures) -> None:
    auth = {"authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}/api/v1", headers=auth, timeout=30, limits=limits
    ) as http:
        home = (await http.post("/homes", json={"home_name": "Soak"})).json()["id"]
        devices = []
        for _ in range(DEVICES):
            body = (await http.post("/devices/register", json={"type": "esp32", "home_id": home})).json()
            devices.append(FirmwareDevice(body["device_id"], body["tenant_id"], body["device_secret"]))
        until = time.monotonic() + SECONDS

        async def command() -> None:
            device = random.choice(devices)
            try:
                response = await http.post(f"/device/{device.device_id}/command", json={"action": "ping"})
            except httpx.HTTPError as error:
                figures.error(f"command: {error!r}")
                return
            await _expect(figures, "command", response, 202)
            if response.status_code == 202:
                figures.commands.append(response.json()["command_id"])

        async def read() -> None:
            path = random.choice(
                ["/devices", f"/devices/{random.choice(devices).device_id}", "/homes", "/health/live"]
            )
            try:
                await _expect(figures, "read", await http.get(path), 200)
            except httpx.HTTPError as error:
                figures.error(f"read {path}: {error!r}")

        async def sample() -> None:
            while time.monotonic() < until:
                figures.rss_mb.append(_rss_mb(pid))
                await asyncio.sleep(SAMPLE_EVERY_S)

        ws_url = f"ws://127.0.0.1:{port}/ws/state?token={token}"
        stop = asyncio.Event()
        device_jobs = [asyncio.create_task(_device(d, broker, figures, until, stop)) for d in devices]
        jobs = [
            *(_ws_client(ws_url, figures, until) for _ in range(WS_CLIENTS)),
            _paced(COMMANDS_PER_S, until, command),
            _paced(READS_PER_S, until, read),
            sample(),
        ]
        for outcome in await asyncio.gather(*jobs, return_exceptions=True):
            if isinstance(outcome, BaseException):
                figures.error(f"client failed: {outcome!r}")
        figures.rss_mb.append(_rss_mb(pid))
        await _settle_commands(http, figures)  # the devices still ack while commands settle
        stop.set()
        for outcome in await asyncio.gather(*device_jobs, return_exceptions=True):
            if isinstance(outcome, BaseException):
                figures.error(f"device failed: {outcome!r}")


async def _settle_commands(http: httpx.AsyncClient, figures: Figures) -> None:
    """Every dispatched command must end acked: anything else is a lost command."""
    for command_id in figures.commands:
        for _ in range(50):
            status = (await http.get(f"/commands/{command_id}")).json().get("status")
            if status != "dispatched":
                break
            await asyncio.sleep(0.1)
        if status != "acked":
            figures.error(f"command {command_id} ended {status}")


def _report(figures: Figures) -> tuple[str, bool]:
    samples = figures.rss_mb
    warm = samples[max(0, int(len(samples) * WARM_UP_FRACTION) - 1)] if samples else 0.0
    last = samples[-1] if samples else 0.0
    growth = (last - warm) / warm if warm else 0.0
    lost = sum(1 for e in figures.errors if e.startswith("command ") and " ended " in e)
    ok = not figures.errors and growth <= MEMORY_GROWTH_LIMIT
    requests = sum(figures.requests.values())
    median = statistics.median(samples or [0])
    cells = [
        datetime.date.today().isoformat(),
        f"{SECONDS:.0f} s" + ("" if PARTS == "embedded" else ", PostgreSQL + Redis + Mosquitto"),
        f"{requests:,} ({figures.requests.get('command', 0):,} commands, "
        f"{figures.requests.get('read', 0):,} reads)",
        f"{figures.device_messages:,}",
        f"{WS_CLIENTS} / {figures.ws_events:,}",
        str(len(figures.errors)),
        str(lost),
        f"{warm:.0f} -> {last:.0f} (max {max(samples, default=0):.0f}, median {median:.0f})",
    ]
    row = "| " + " | ".join(cells) + " |"
    return row, ok


def _append(row: str) -> None:
    text = RESULTS.read_text()
    heading = "## Soak"
    if heading not in text:
        text += (
            f"\n{heading}\n\nCommand: `make soak` (`bench/soak.py`; embedded defaults unless the duration "
            "says otherwise, quota lifted, "
            f"one server process on loopback; {DEVICES} firmware-like devices publishing state every "
            f"{DEVICE_INTERVAL_S:.0f} s and acking every command, {WS_CLIENTS} WebSocket clients, "
            f"{COMMANDS_PER_S} commands/s and {READS_PER_S} reads/s). Errors: any unexpected status, "
            "lost socket or command not acked; memory is the server's resident set, from the end of "
            "warm-up (first 20 %) to the end.\n\n"
            "| date | duration | requests | device messages | WS clients / events | errors | commands lost "
            "| RSS MB |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n"
        )
    # The row goes under the soak table's last row, wherever later sections put the file's end.
    lines = text.rstrip("\n").split("\n")
    at = lines.index(heading)
    while at < len(lines) and not lines[at].startswith("| --- "):
        at += 1
    while at + 1 < len(lines) and lines[at + 1].startswith("| "):
        at += 1
    lines.insert(at + 1, row)
    RESULTS.write_text("\n".join(lines) + "\n")


def main() -> int:
    with tempfile.TemporaryDirectory() as data_dir, parts(PARTS) as settings:
        port, broker_port = free_port(), free_port()
        env = server_env(
            dict(os.environ),
            data_dir,
            port,
            HXTP_EMBEDDED_MQTT_PORT=str(broker_port),
            HXTP_DEVICE_COMMANDS_PER_MINUTE="1000000",
            **settings,
        )
        broker = settings.get("HXTP_MQTT_URL", f"mqtt://127.0.0.1:{broker_port}")
        token = _owner_token(env)
        # Every request counts against the tenant's quota: the soak tenant is on the unlimited tier.
        subprocess.run(
            [sys.executable, "-m", "server", "tenants", "set-tier", "soak", "fleet"],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        command = [sys.executable, "-m", "server", "serve"]
        server = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            wait_for(port)
            if PARTS == "embedded":
                wait_for(broker_port)
            figures = Figures()
            asyncio.run(_drive(server.pid, port, broker, token, figures))
        finally:
            server.terminate()
            try:
                _, stderr = server.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                _, stderr = server.communicate()
    row, ok = _report(figures)
    # Our own errors and any traceback; the embedded broker library logs every client's goodbye as ERROR.
    ours = ("ERROR hxtp", "ERROR server", "ERROR gateway", "ERROR uvicorn", "Traceback")
    server_errors = [
        line for line in stderr.decode(errors="replace").splitlines() if any(o in line for o in ours)
    ]
    print(row)
    print(f"   commands accepted {len(figures.commands)}, acked by the devices {figures.acked_on_device}")
    for error in figures.errors[:20] + server_errors[:20]:
        print("  ", error)
    _append(row)
    return 0 if ok and not server_errors else 1


if __name__ == "__main__":
    sys.exit(main())
