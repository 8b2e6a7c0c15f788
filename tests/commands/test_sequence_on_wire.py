"""Sequence numbers reach the wire in increasing order per device: under concurrent commands to one
device, across a restart, and alternating between two replicas. The device side is the firmware twin
subscribed on the broker, which refuses a number that is not above the last one, as the firmware does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.commands.conftest import in_process
from tests.commands.domain import Commands
from tests.devicelink.firmware import FirmwareDevice, MqttPeer

CONCURRENT = 40
LIMITS = {"HXTP_DEVICE_COMMANDS_PER_MINUTE": "100000"}


@pytest.fixture
async def busy(tmp_path: Path, parts: dict[str, str]) -> AsyncIterator[Commands]:
    async with in_process(tmp_path, **LIMITS, **parts) as value:
        yield value


async def _received(device: FirmwareDevice, peer: MqttPeer, count: int) -> list[int]:
    """The next `count` commands as they arrive, each checked as the firmware checks it."""
    return [device.accept_command((await peer.next_message())[1])["sequence_number"] for _ in range(count)]


async def test_concurrent_commands_to_one_device_arrive_in_increasing_order(busy: Commands) -> None:
    device, peer = await busy.device_on_mqtt("light")
    answers = await asyncio.gather(*(busy.dispatch(device.device_id, "light_on") for _ in range(CONCURRENT)))
    numbers = await _received(device, peer, CONCURRENT)  # accept_command fails on any step back
    assert numbers == sorted(numbers) and len(set(numbers)) == CONCURRENT
    sent = {a.message_id for a in answers}
    assert len(sent) == CONCURRENT


async def test_numbers_keep_increasing_across_a_restart(tmp_path: Path, parts: dict[str, str]) -> None:
    numbers: list[int] = []
    device: FirmwareDevice | None = None
    for _ in range(2):
        async with in_process(tmp_path, **LIMITS, **parts) as commands:
            if device is None:
                registration = await commands.register("light")
                device = FirmwareDevice(
                    registration.device_id, registration.tenant_id, registration.device_secret
                )
            commands.tenant_id = device.tenant_id
            app = commands.app
            broker = app.broker.url if app.broker is not None else app.settings.mqtt_url
            peer = MqttPeer(broker, f"fw-{device.device_id}")
            await peer.connect()
            await peer.subscribe(device.topic("cmd"))
            commands.peers.append(peer)
            for _ in range(3):
                await commands.dispatch(device.device_id, "light_on")
            numbers += await _received(device, peer, 3)  # the twin keeps its last number across runs
    assert len(numbers) == 6 and numbers == sorted(numbers)


async def test_two_replicas_alternating_never_step_back_on_the_wire(
    tmp_path: Path, fresh_postgres_url: str, redis_url: str, mosquitto_url: str
) -> None:
    # Each replica holds its own block; one whose block is below what the other already sent must
    # reserve a fresh one instead of sending a lower number.
    env = {
        "HXTP_DATABASE_URL": fresh_postgres_url,
        "HXTP_REDIS_URL": redis_url,
        "HXTP_MQTT_URL": mosquitto_url,
        "HXTP_JWT_SECRET": "s" * 32,
        "HXTP_SECRET_KEY": "k" * 64,
        **LIMITS,
    }
    async with in_process(tmp_path / "a", **env) as replica_a, in_process(tmp_path / "b", **env) as replica_b:
        replica_b.tenant_id = replica_a.tenant_id
        device, peer = await replica_a.device_on_mqtt("light")
        for replica in (replica_a, replica_b, replica_a, replica_b, replica_a):
            await replica.dispatch(device.device_id, "light_on")
            await _received(device, peer, 1)  # fails if this replica sent below the other
