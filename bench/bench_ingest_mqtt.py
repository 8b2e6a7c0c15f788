"""Device ingest through Mosquitto: signed `state` and `cmd_ack` frames from a separate publisher
process, counted as verified (Prometheus) and checked as applied.

The server (`hxtp-cloud serve`, SQLite and in-process cache, Mosquitto at 127.0.0.1:1883, the
benchmark tenant on the unlimited `fleet` tier set with the CLI) runs pinned to core 0, with 100
devices registered through the REST API and two commands dispatched to each. The publisher process
(core 1) builds MESSAGES frames as the public firmware writes them (one `cmd_ack` per dispatched
command, the rest `state`), then publishes them at QoS 0 as fast as it can. The rate is verified
messages over the time from the first to the last one verified, read from
`hxtp_device_messages_total` on /metrics. Applied: afterwards every device's state is the last one
it sent and every command is `acked` in its history.

The baseline is a bare gmqtt subscriber on core 0 counting the same stream from the same
publisher: what Mosquitto and one Python MQTT client deliver with no work per message.

Run: `.venv/bin/python bench/bench_ingest_mqtt.py` (BENCH_MESSAGES=20000, BENCH_MQTT_URL).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_command import _post  # noqa: E402
from bench.bench_server import bench_server  # noqa: E402
from bench.result import emit  # noqa: E402

MESSAGES = int(os.environ.get("BENCH_MESSAGES", "20000"))
MQTT_URL = os.environ.get("BENCH_MQTT_URL", "mqtt://127.0.0.1:1883")
DEVICES = 100
COMMANDS_PER_DEVICE = 2


# ---------------------------------------------------------------- publisher process


def _frames(plan: dict[str, Any]) -> list[tuple[str, bytes]]:
    from tests.devicelink.firmware import FirmwareDevice

    devices = [FirmwareDevice(d["device_id"], d["tenant_id"], d["secret"]) for d in plan["devices"]]
    acks = [(n, ref) for n, d in enumerate(plan["devices"]) for ref in d["message_ids"]]
    frames = []
    every = max(1, plan["messages"] // max(1, len(acks)))
    for n in range(plan["messages"]):
        if acks and n % every == every - 1:
            index, ref = acks.pop()
            frames.append((devices[index].topic("cmd_ack"), devices[index].ack(ref)))
            continue
        device = devices[n % len(devices)]
        params = f'{{"brightness": {n % 100}, "power": true, "n": {n}}}'
        frames.append((device.topic("state"), device.build("state", params)))
    return frames


async def _publish(plan: dict[str, Any]) -> None:
    from tests.devicelink.firmware import MqttPeer

    frames = _frames(plan)
    peer = MqttPeer(MQTT_URL, f"bench-publisher-{uuid.uuid4().hex[:8]}")
    await peer.connect()
    print(json.dumps({"started": time.time()}), flush=True)
    try:
        started = time.perf_counter()
        for n, (topic, payload) in enumerate(frames):
            peer.publish(topic, payload)
            if n % 200 == 199:
                await asyncio.sleep(0)  # let the socket drain
        await asyncio.sleep(0.5)
        print(json.dumps({"published": len(frames), "seconds": time.perf_counter() - started}), flush=True)
    finally:
        await peer.close()


# ---------------------------------------------------------------- bare subscriber (baseline)


async def _bare_subscriber(topic_filter: str, expected: int) -> None:
    from tests.devicelink.firmware import MqttPeer

    peer = MqttPeer(MQTT_URL, f"bench-bare-{uuid.uuid4().hex[:8]}")
    await peer.connect()
    await peer.subscribe(topic_filter)
    print("ready", flush=True)
    first = last = 0.0
    count = 0
    try:
        while count < expected:
            try:
                await peer.next_message(within=15)
            except TimeoutError:
                break
            last = time.perf_counter()
            first = first or last
            count += 1
    finally:
        await peer.close()
    print(json.dumps({"count": count, "seconds": last - first}), flush=True)


# ---------------------------------------------------------------- driver


def _counted(port: int, message_types: tuple[str, ...] = ("state", "ack")) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("hxtp_device_messages_total{") and any(f'"{t}"' in line for t in message_types):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _profile(pid: int) -> subprocess.Popen[bytes] | None:
    """BENCH_PROFILE=file: py-spy samples the server (collapsed stacks) while the stream runs."""
    target = os.environ.get("BENCH_PROFILE")
    if not target:
        return None
    command = ["py-spy", "record", "-p", str(pid), "-d", "8", "-r", "200", "-f", "raw", "-o", target]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _get(port: int, path: str, token: str) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _run_publisher(env: dict[str, str], plan: dict[str, Any]) -> subprocess.Popen[str]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(plan, handle)
    return subprocess.Popen(
        ["taskset", "-c", "1", sys.executable, __file__, "--publish", handle.name],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def _baseline(env: dict[str, str], plan: dict[str, Any]) -> float:
    tenant = plan["devices"][0]["tenant_id"]
    subscriber = subprocess.Popen(
        [
            "taskset",
            "-c",
            "0",
            sys.executable,
            __file__,
            "--bare",
            f"hxtp/{tenant}/device/+/+",
            str(plan["messages"]),
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert subscriber.stdout is not None
    subscriber.stdout.readline()  # ready
    publisher = _run_publisher(env, plan)
    publisher.communicate(timeout=120)
    result = json.loads(subscriber.stdout.readline())
    subscriber.wait(timeout=30)
    return float(result["count"] / result["seconds"]) if result["seconds"] else 0.0


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--publish":
        import uvloop

        uvloop.run(_publish(json.loads(Path(sys.argv[2]).read_text())))
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "--bare":
        import uvloop

        uvloop.run(_bare_subscriber(sys.argv[2], int(sys.argv[3])))
        return 0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    settings = {"HXTP_MQTT_URL": MQTT_URL, "HXTP_DEVICE_COMMANDS_PER_MINUTE": "1000000000"}
    with bench_server(env, **settings) as server:
        port, token = server.port, server.token
        devices = []
        for _ in range(DEVICES):
            answer = server.register()
            ids = []
            for _ in range(COMMANDS_PER_DEVICE):
                path, command = f"/api/v1/device/{answer['device_id']}/command", {"action": "light_on"}
                ids.append(_post(port, path, token, command)["message_id"])
            devices.append(
                {
                    "device_id": answer["device_id"],
                    "tenant_id": answer["tenant_id"],
                    "secret": answer["device_secret"],
                    "message_ids": ids,
                }
            )
        plan = {"devices": devices, "messages": MESSAGES}
        before = _counted(port)
        profiler = _profile(server.pid)
        publisher = _run_publisher(env, plan)
        assert publisher.stdout is not None
        began = float(json.loads(publisher.stdout.readline())["started"])  # wall clock, before the first
        # /metrics is expensive to render (it would take a fifth of the server's time at 10 reads a
        # second): read it twice a second; the rate then errs low by up to half a second.
        last, seen = began, before
        deadline = time.monotonic() + 120
        while seen - before < MESSAGES and time.monotonic() < deadline:
            time.sleep(0.5)
            now, counted = time.time(), _counted(port)
            if counted > seen:
                last, seen = now, counted
            elif now - last > 5:
                break  # nothing more arrives
        publisher.wait(timeout=60)
        if profiler is not None:
            profiler.wait(timeout=60)
        rate = (seen - before) / (last - began) if last > began else 0.0
        verified = seen - before
        applied_state = 0
        for device in devices:
            state = _get(port, f"/api/v1/devices/{device['device_id']}/state", token)
            applied_state += 1 if state.get("state", {}).get("n") is not None else 0
        acked = sum(
            1
            for device in devices
            for record in _get(port, f"/api/v1/devices/{device['device_id']}/commands", token)["commands"]
            if record["status"] == "acked"
        )
    baseline = _baseline(env, plan)
    commands = DEVICES * COMMANDS_PER_DEVICE
    print(f"{MESSAGES} frames ({commands} cmd_ack, the rest state) from {DEVICES} devices through {MQTT_URL}")
    print(f"  verified {verified:.0f} ({verified / MESSAGES:.1%}) at {rate:,.0f} messages/s")
    print(f"  applied: {applied_state}/{DEVICES} devices show their state, {acked}/{commands} commands acked")
    print(
        f"  bare subscriber (baseline): {baseline:,.0f} messages/s;"
        f" ratio {rate / baseline if baseline else 0:.2f}"
    )
    emit(
        verified_per_s=rate,
        verified_share=verified / MESSAGES,
        commands_acked=acked,
        devices_with_state=applied_state,
        bare_subscriber_per_s=baseline,
        ratio=rate / baseline if baseline else 0.0,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
