"""Sequence numbers reach the wire in increasing order per device: under concurrent commands to one
device, across a restart, and alternating between two replicas. The device side is the firmware twin
subscribed on the broker, which refuses a number that is not above the last one, as the firmware does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.commands.conftest import Fleet, _fleet
from tests.devicelink.firmware import FirmwareDevice, MqttPeer
from tests.integration.harness import base_url, running

CONCURRENT = 40  # within the free tier's burst of 60 requests, with room for set-up
LIMITS = {"HXTP_DEVICE_COMMANDS_PER_MINUTE": "100000"}


@pytest.fixture
async def busy_fleet(tmp_path: Path, parts: dict[str, str]) -> AsyncIterator[Fleet]:
    async for value in _fleet(tmp_path, **LIMITS, **parts):
        yield value


async def _received(device: FirmwareDevice, peer: MqttPeer, count: int) -> list[int]:
    """The next `count` commands as they arrive, each checked as the firmware checks it."""
    return [device.accept_command((await peer.next_message())[1])["sequence_number"] for _ in range(count)]


async def test_concurrent_commands_to_one_device_arrive_in_increasing_order(busy_fleet: Fleet) -> None:
    device, peer = await busy_fleet.device_on_mqtt("light")
    path = f"/api/v1/device/{device.device_id}/command"
    answers = await asyncio.gather(
        *(busy_fleet.post(path, {"action": "light_on"}) for _ in range(CONCURRENT))
    )
    assert [a.status_code for a in answers] == [202] * CONCURRENT
    numbers = await _received(device, peer, CONCURRENT)  # accept_command fails on any step back
    assert numbers == sorted(numbers) and len(set(numbers)) == CONCURRENT
    sent = {a.json()["message_id"] for a in answers}
    assert len(sent) == CONCURRENT


async def test_numbers_keep_increasing_across_a_restart(tmp_path: Path, parts: dict[str, str]) -> None:
    numbers: list[int] = []
    device: FirmwareDevice | None = None
    registration: dict[str, str] = {}
    for _ in range(2):
        async for fleet in _fleet(tmp_path, **LIMITS, **parts):
            if device is None:
                registration = await fleet.register("light")
                device = FirmwareDevice(
                    registration["device_id"], registration["tenant_id"], registration["device_secret"]
                )
            fleet.tenant_id = registration["tenant_id"]
            broker = fleet.app.broker.url if fleet.app.broker is not None else fleet.app.settings.mqtt_url
            peer = MqttPeer(broker, f"fw-{device.device_id}")
            await peer.connect()
            await peer.subscribe(device.topic("cmd"))
            fleet.peers.append(peer)
            path = f"/api/v1/device/{device.device_id}/command"
            for _ in range(3):
                assert (await fleet.post(path, {"action": "light_on"})).status_code == 202
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
    }
    async with (
        running(tmp_path / "a", **LIMITS, **env, HXTP_JWT_SECRET="s" * 32, HXTP_SECRET_KEY="k" * 64) as a,
        running(tmp_path / "b", **LIMITS, **env, HXTP_JWT_SECRET="s" * 32, HXTP_SECRET_KEY="k" * 64) as b,
        httpx.AsyncClient(base_url=base_url(a), timeout=10) as http_a,
        httpx.AsyncClient(base_url=base_url(b), timeout=10) as http_b,
    ):
        fleet_a = Fleet(a, http_a)
        fleet_b = Fleet(b, http_b, tenant_id=fleet_a.tenant_id)
        device, peer = await fleet_a.device_on_mqtt("light")
        try:
            path = f"/api/v1/device/{device.device_id}/command"
            for fleet in (fleet_a, fleet_b, fleet_a, fleet_b, fleet_a):
                answer = await fleet.post(path, {"action": "light_on"})
                assert answer.status_code == 202, answer.text
                await _received(device, peer, 1)  # fails if this replica sent below the other
        finally:
            await peer.close()
            fleet_a.peers.clear()
