"""hxtp-device (firmware/host, our firmware core) against the running server, through this machine's
Mosquitto: registered over REST, bootstrapped over signed HTTP, commanded over REST, acking,
reporting state to /ws/state; and a broker that rewrites or forges commands on their way."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from websockets.asyncio.client import connect

from tests.firmware.conftest import Cloud, eventually
from tests.firmware.device_process import DeviceProcess
from tests.firmware.mqtt_tamper import MqttTamper, Rewrite


async def test_commands_over_rest_are_executed_acked_and_state_arrives_on_the_websocket(cloud: Cloud) -> None:
    registration = await cloud.register("light")
    device_id = registration["device_id"]
    device = await cloud.start_device(registration)
    url = f"ws://127.0.0.1:{cloud.app.ports.http}/ws/state?token={cloud.token()}"
    async with connect(url, open_timeout=10) as socket:
        on = await cloud.command(device_id, "light_on", {})
        dim = await cloud.command(device_id, "light_brightness", {"brightness": 42})
        updates = []
        async with asyncio.timeout(20):
            while not any(u["state"].get("brightness") == 42 for u in updates):
                frame = json.loads(await socket.recv())
                if frame.get("type") == "state_update" and frame.get("device_id") == device_id:
                    updates.append(frame)
    assert updates[-1]["state"] == {"brightness": 42, "on": True}
    assert await eventually(lambda: _both(cloud, on, dim, "acked"))
    history = (await cloud.get(f"/api/v1/devices/{device_id}/commands")).json()
    rows = history if isinstance(history, list) else next(v for v in history.values() if isinstance(v, list))
    assert {r["action"]: r["status"] for r in rows} == {"light_on": "acked", "light_brightness": "acked"}
    device_view = (await cloud.get(f"/api/v1/devices/{device_id}")).json()
    assert device_view["firmware"] == "1.0.0"
    assert await cloud.profile(device_id) == "hxtp-3.1-bound"
    assert "inbound cmd OK acked" in device.lines

    async def heartbeat_seen() -> bool:
        row = await cloud.device_row(device_id)
        return row is not None and row.last_heartbeat is not None

    assert await eventually(heartbeat_seen)  # verified by the server: it fit its buffer and signed
    await cloud.rest_until(f"/api/v1/devices/{device_id}", lambda view: view["last_heartbeat"] is not None)


async def _both(cloud: Cloud, first: str, second: str, status: str) -> bool:
    return await cloud.status(first) == status and await cloud.status(second) == status


@contextlib.asynccontextmanager
async def _behind_tamper(cloud: Cloud, rewrite: Rewrite) -> AsyncIterator[tuple[str, DeviceProcess]]:
    """A registered hxtp-device whose broker connection runs through `rewrite`: (device id, process)."""
    parts = urlsplit(cloud.app.settings.mqtt_url)
    tamper = MqttTamper(parts.hostname or "127.0.0.1", parts.port or 1883, rewrite)
    await tamper.start()
    try:
        registration = await cloud.register("light")
        device = await cloud.start_device(registration, broker=f"mqtt://127.0.0.1:{tamper.port}")
        yield registration["device_id"], device
    finally:
        await tamper.stop()


async def _is(cloud: Cloud, command_id: str, status: str) -> bool:
    return await cloud.status(command_id) == status


async def test_params_rewritten_on_the_broker_are_refused_by_the_device(cloud: Cloud) -> None:
    def rewrite(packet: bytes) -> list[bytes]:
        return [packet.replace(b'"brightness":17', b'"brightness":99')]  # same length: a valid packet

    async with _behind_tamper(cloud, rewrite) as (device_id, device):
        mark = len(device.lines)
        command = await cloud.command(device_id, "light_brightness", {"brightness": 17})
        assert await device.wait_for("inbound cmd", after=mark) == "inbound cmd HASH_MISMATCH"
        # Nothing ran and nothing was acknowledged: the command stays dispatched (then expires).
        assert not any(line.startswith("state ") for line in device.lines[mark:])
        assert await cloud.status_over_rest(command) == "dispatched"
        # An untouched command on the same link still works.
        ok = await cloud.command(device_id, "light_brightness", {"brightness": 55})
        assert await eventually(lambda: _is(cloud, ok, "acked"))


async def test_a_forged_copy_sent_first_does_not_block_the_genuine_command(cloud: Cloud) -> None:
    forged_sent: list[bytes] = []

    def forge_first(packet: bytes) -> list[bytes]:
        if b'"brightness":23' not in packet:
            return [packet]
        forged = packet.replace(b'"brightness":23', b'"brightness":88')
        forged_sent.append(forged)
        return [forged, packet]  # same nonce, message id and sequence as the genuine command

    async with _behind_tamper(cloud, forge_first) as (device_id, device):
        mark = len(device.lines)
        command = await cloud.command(device_id, "light_brightness", {"brightness": 23})
        assert await eventually(lambda: _is(cloud, command, "acked"))
        assert await cloud.status_over_rest(command) == "acked"
        inbound = [line for line in device.lines[mark:] if line.startswith("inbound cmd")]
        assert inbound[:2] == ["inbound cmd HASH_MISMATCH", "inbound cmd OK acked"]
        assert forged_sent
        assert await device.wait_for('state {"brightness":23', after=mark)
