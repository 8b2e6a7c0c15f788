"""A firmware ack whose unescaped error text broke its JSON (wire protocol §10.2): when its message
id and signature verify over the signed fields, the command is recorded failed with what can be
read of the error; a frame that does not verify changes nothing and is counted as rejected."""

from __future__ import annotations

from typing import Any

import pytest

from tests.commands.conftest import Fleet
from tests.devicelink.conftest import accepted, eventually, rejected
from tests.devicelink.firmware import FirmwareDevice, MqttPeer

BROKEN_ERROR = 'Missing "state" parameter'


async def _dispatched(fleet: Fleet) -> tuple[FirmwareDevice, MqttPeer, str, str]:
    device, peer = await fleet.device_on_mqtt("light")
    sent = await fleet.post(
        f"/api/v1/devices/{device.device_id}/command",
        {"action": "light_on", "params": {}, "dry_run": False},
    )
    assert sent.status_code == 202, sent.text
    envelope = device.accept_command((await peer.next_message())[1])
    return device, peer, sent.json()["command_id"], envelope["message_id"]


async def _command(fleet: Fleet, command_id: str) -> dict[str, Any]:
    return dict((await fleet.http.get(f"/api/v1/commands/{command_id}", headers=fleet.headers())).json())


@pytest.mark.parametrize("parts", ["embedded"], indirect=True)
async def test_a_verified_unparseable_ack_fails_the_command_with_its_text(fleet: Fleet) -> None:
    device, peer, command_id, message_id = await _dispatched(fleet)
    acks = accepted("ack")
    peer.publish(device.topic("cmd_ack"), device.ack(message_id, error=BROKEN_ERROR))
    await eventually(lambda: accepted("ack") > acks)

    async def failed() -> dict[str, Any] | None:
        command = await _command(fleet, command_id)
        return command if command["status"] == "failed" else None

    command = await eventually(failed)
    assert command["error"] == BROKEN_ERROR, command


@pytest.mark.parametrize("parts", ["embedded"], indirect=True)
async def test_an_unverified_unparseable_ack_changes_nothing(fleet: Fleet) -> None:
    device, peer, command_id, message_id = await _dispatched(fleet)
    before = rejected("SIGNATURE_INVALID")
    params = f'{{"ack_status":"failed","error":"{BROKEN_ERROR}","ref_message_id":"{message_id}"}}'
    peer.publish(device.topic("cmd_ack"), device.build("ack", params, secret_hex="ab" * 32))  # forged
    await eventually(lambda: rejected("SIGNATURE_INVALID") > before)
    garbage = rejected("JSON_INVALID")
    peer.publish(device.topic("cmd_ack"), device.build("ack", '{"ack_status":"failed","error":"x"y"}'))
    await eventually(lambda: rejected("JSON_INVALID") > garbage)
    assert (await _command(fleet, command_id))["status"] == "dispatched"
