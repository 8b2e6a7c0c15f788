"""The outbound path: persisted sequence numbers (restart, two instances on one PostgreSQL), profiles,
the receive-buffer limit, and the bounded in-flight window."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import ext
from server.app import Application
from server.devicelink.bridge import subscription_filters
from server.devicelink.connection import MqttConnection
from server.domain.link.channels import DEVICE_CHANNELS, SERVER_CHANNELS
from server.domain.link.sequence import OutboundSequence
from server.errors import HxtpError
from server.storage.database import Database
from server.storage.migrate import run_migrations_async
from tests.devicelink.conftest import Link, accepted, eventually
from tests.devicelink.firmware import FirmwareDevice
from tests.integration.harness import running, settings_for


async def test_sequence_survives_a_restart(tmp_path: Path) -> None:
    async with running(tmp_path) as app:
        first = await app.outbound_sequence.next("d1")
        second = await app.outbound_sequence.next("d1")
    async with running(tmp_path) as app:
        third = await app.outbound_sequence.next("d1")
    assert first < second < third


async def test_sequence_is_max_of_next_and_clock(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'seq.db'}"
    await run_migrations_async(url)
    database = Database(url)
    clock = [1000]
    sequence = OutboundSequence(database, clock_ms=lambda: clock[0], block=3)
    try:
        assert [await sequence.next("d") for _ in range(3)] == [1000, 1001, 1002]
        clock[0] = 5000  # the clock jumps ahead: the next block follows it
        assert await sequence.next("d") == 5000
        clock[0] = 10  # the clock goes back: numbers still increase (within the block and after it)
        assert [await sequence.next("d") for _ in range(3)] == [5001, 5002, 5003]  # next block: 5003..
        assert await sequence.next("other") == 10
        # Another process (or this one after a restart) starts above every reserved number.
        assert await OutboundSequence(database, clock_ms=lambda: clock[0], block=3).next("d") == 5006
    finally:
        await database.dispose()


async def test_two_instances_on_one_postgres_never_reuse_a_number(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    await run_migrations_async(fresh_postgres_url)
    apps = [Application(settings_for(tmp_path / name, HXTP_DATABASE_URL=fresh_postgres_url)) for name in "ab"]
    try:

        async def take(app: Application) -> list[int]:
            return [await app.outbound_sequence.next("shared-device") for _ in range(40)]

        taken = await asyncio.gather(*(take(app) for app in apps for _ in range(3)))
        numbers = [n for run in taken for n in run]
        assert len(set(numbers)) == len(numbers) == 240
        assert all(run == sorted(run) for run in taken)
    finally:
        for app in apps:
            await app.database.dispose()


@pytest.mark.parametrize("broker_kind", ["embedded"])
async def test_firmware_v106_profile_round_trip(link: Link) -> None:
    """hxtp-3.0-fw: quoted integers, the JSON template with the raw params; the profile is learned
    from the verified hello and used for the commands that follow."""
    app = link.app
    device = await link.device(ext.VARIANT_FIRMWARE_30)
    peer = await link.peer(device)
    try:
        hellos = accepted("hello")
        peer.publish(
            device.topic("hello"),
            device.build("hello", '{"device_type":"smart-relay","firmware_version":"0.0.1"}'),
        )
        await eventually(lambda: accepted("hello") > hellos)
        await eventually(lambda: _protocol_is(app, device.device_id, "hxtp-3.0-fw"))
        assert app.outbound is not None
        sent = await app.outbound.send_command(device.device_id, "toggle", {"state": "1"}, capability="relay")
        command = device.accept_command((await peer.next_message())[1])
        assert command["version"] == "HxTP/3.0" and command["capability"] == "relay"
        assert command["message_id"] == sent.message_id
        acks = accepted("ack")
        peer.publish(device.topic("cmd_ack"), device.ack(sent.message_id))
        await eventually(lambda: accepted("ack") > acks)
        record = await eventually(lambda: app.command_outcomes.get(device.device_id, sent.message_id))
        assert record.status == "acked"
    finally:
        await peer.close()


async def _protocol_is(app: Application, device_id: str, protocol: str) -> bool:
    profile = await app.device_keys.profile(device_id)
    return profile is not None and profile.protocol == protocol


@pytest.mark.parametrize("broker_kind", ["embedded"])
async def test_a_message_too_big_for_the_device_is_refused_before_sending(link: Link) -> None:
    app = link.app
    device = await link.device()
    peer = await link.peer(device)
    try:
        assert app.outbound is not None
        before = await app.outbound_sequence.next(device.device_id)
        with pytest.raises(HxtpError) as refused:
            await app.outbound.send_command(device.device_id, "set_text", {"text": "x" * 4000})
        assert refused.value.spec.name == "PARAMS_INVALID"
        with pytest.raises(asyncio.TimeoutError):
            await peer.next_message(within=0.3)
        fits = await app.outbound.send_command(device.device_id, "set_text", {"text": "x" * 3000})
        device.accept_command((await peer.next_message())[1])
        assert fits.sequence_number > before
    finally:
        await peer.close()


async def test_outbound_refuses_unknown_and_revoked_devices(embedded_link: Link) -> None:
    app = embedded_link.app
    assert app.outbound is not None
    with pytest.raises(HxtpError) as unknown:
        await app.outbound.send_command("f" * 32, "toggle", {})
    assert unknown.value.spec.name == "NOT_FOUND"
    device: FirmwareDevice = await embedded_link.device()
    revoke = f"/api/v1/devices/{device.device_id}/revoke"
    await embedded_link.http.post(revoke, headers=embedded_link.headers())
    with pytest.raises(HxtpError) as revoked:
        await app.outbound.send_command(device.device_id, "toggle", {})
    assert revoked.value.spec.name == "DEVICE_REVOKED"


async def test_in_flight_window_bounds_unacknowledged_publishes(mosquitto_url: str) -> None:
    connection = MqttConnection(mosquitto_url, client_id="window-test", max_in_flight=2)
    await connection.start()
    try:
        async with asyncio.timeout(5):
            await connection.wait_connected()
        for _ in range(50):
            await connection.publish("hxtp/t/device/window/cmd", b"x", qos=1)
            assert connection.in_flight <= 2
        await eventually(lambda: connection.in_flight == 0)
    finally:
        await connection.stop()


def test_shared_subscription_only_on_a_real_broker() -> None:
    assert "hxtp/+/device/+/state" in subscription_filters("", embedded_broker=False)
    assert "$share/cloud/hxtp/+/device/+/state" in subscription_filters("cloud", embedded_broker=False)
    assert "hxtp/+/device/+/state" in subscription_filters("cloud", embedded_broker=True)


def test_the_server_subscribes_to_exactly_the_device_channels() -> None:
    # Never the full wildcard: every command the server publishes would come back to it.
    filters = subscription_filters("", embedded_broker=True)
    channels = {ext.parse_topic(f.replace("+", "x"))[2] for f in filters}
    assert channels == DEVICE_CHANNELS
    assert not channels & SERVER_CHANNELS
