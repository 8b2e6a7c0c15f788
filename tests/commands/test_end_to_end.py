"""One command end to end, on the embedded defaults and on PostgreSQL + Redis + Mosquitto:
REST command -> signed frame on MQTT -> the device verifies and acks -> the command is `acked`;
the device's state -> a `state_update` frame on a WebSocket client and GET /devices/{id}/state."""

from __future__ import annotations

import json

from websockets.asyncio.client import connect

from tests.commands.conftest import Fleet
from tests.devicelink.conftest import eventually


async def test_command_ack_and_state_end_to_end(fleet: Fleet) -> None:
    device, peer = await fleet.device_on_mqtt("light")
    token = fleet.headers()["authorization"].removeprefix("Bearer ")
    async with connect(f"ws://127.0.0.1:{fleet.app.ports.http}/ws/state?token={token}") as socket:
        sent = await fleet.post(
            f"/api/v1/devices/{device.device_id}/command",
            {"action": "light_brightness", "params": {"brightness": "75"}, "dry_run": False},
        )
        assert sent.status_code == 202, sent.text
        command_id = sent.json()["command_id"]
        envelope = device.accept_command((await peer.next_message())[1])
        peer.publish(device.topic("cmd_ack"), device.ack(envelope["message_id"]))
        peer.publish(device.topic("state"), device.build("state", '{"light": "on", "brightness": 75}'))

        frames: list[dict[str, object]] = []
        while not any(f.get("type") == "state_update" for f in frames):
            frames.append(json.loads(await socket.recv()))
        statuses = [f["status"] for f in frames if f.get("type") == "command_status"]
        assert "dispatched" in statuses
        update = next(f for f in frames if f["type"] == "state_update")
        assert update["device_id"] == device.device_id
        assert update["state"] == {"light": "on", "brightness": 75} and isinstance(update["timestamp"], int)

    async def acked() -> bool:
        record = await fleet.http.get(f"/api/v1/commands/{command_id}", headers=fleet.headers())
        return bool(record.json()["status"] == "acked")

    assert await eventually(acked)
    state = await fleet.http.get(f"/api/v1/devices/{device.device_id}/state", headers=fleet.headers())
    assert state.status_code == 200
    assert state.json()["state"] == {"light": "on", "brightness": 75} and state.json()["active"] is True
