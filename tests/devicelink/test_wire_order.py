"""Two replicas sending to one device: the sequence numbers reach the device in increasing order.

Replica A reaches Mosquitto through a slow link (every chunk delayed), B directly; A sends, and B
sends a moment later, while A's message is still on its way. A number B takes after A's must not
reach the device before A's (the firmware drops a number below the last it accepted).
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from server.app import Application
from server.devicelink.connection import MqttConnection, MqttNotConnectedError
from tests.devicelink.firmware import FirmwareDevice, MqttPeer
from tests.integration.harness import base_url, running, token
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

_LINK_DELAY_S = 0.05
_ROUNDS = 6


async def _register(app: Application) -> FirmwareDevice:
    headers = {"authorization": f"Bearer {token(app)}"}
    async with httpx.AsyncClient(base_url=base_url(app) + "/api/v1", headers=headers) as http:
        home = (await http.post("/homes", json={"home_name": "Lab"})).json()["id"]
        answer = await http.post("/devices/register", json={"device_type": "esp32", "home_id": home})
        assert answer.status_code == 201, answer.text
        body = answer.json()
    return FirmwareDevice(body["device_id"], body["tenant_id"], body["device_secret"])


async def test_two_replicas_keep_a_devices_numbers_increasing_on_the_wire(
    tmp_path: Path, fresh_postgres_url: str, redis_url: str, mosquitto_url: str
) -> None:
    broker = urlsplit(mosquitto_url)
    slow = TcpProxy(broker.hostname or "127.0.0.1", broker.port or 1883, delay=_LINK_DELAY_S)
    await slow.start()
    shared = {
        "HXTP_DATABASE_URL": fresh_postgres_url,
        "HXTP_REDIS_URL": redis_url,
        "HXTP_JWT_SECRET": secrets.token_hex(32),
        "HXTP_SECRET_KEY": secrets.token_hex(32),
        "HXTP_LINK_SIGNING_KEY": secrets.token_hex(32),
        "HXTP_GRPC_PORT": "-1",
    }
    try:
        async with (
            running(tmp_path / "a", HXTP_MQTT_URL=f"mqtt://127.0.0.1:{slow.port}", **shared) as a,
            running(tmp_path / "b", HXTP_MQTT_URL=mosquitto_url, **shared) as b,
        ):
            assert a.outbound is not None and b.outbound is not None
            device = await _register(a)
            peer = MqttPeer(mosquitto_url, f"hxtp-{device.device_id}")
            await peer.connect()
            await peer.subscribe(device.topic("cmd"))
            try:
                for _ in range(_ROUNDS):
                    first = asyncio.ensure_future(a.outbound.send_command(device.device_id, "light_on", {}))
                    await asyncio.sleep(_LINK_DELAY_S / 5)  # A's message is still on the slow link
                    second = asyncio.ensure_future(b.outbound.send_command(device.device_id, "light_on", {}))
                    await asyncio.gather(first, second)
                # Each accepted only above the last one it accepted, as the firmware does.
                for _ in range(2 * _ROUNDS):
                    device.accept_command((await peer.next_message(within=10))[1])
            finally:
                await peer.close()
    finally:
        await slow.cut()
        await asyncio.sleep(0.2)  # the proxy's pipes see the cut and end before the loop does


async def test_a_publish_waiting_for_its_puback_fails_when_the_connection_goes(mosquitto_url: str) -> None:
    broker = urlsplit(mosquitto_url)
    slow = TcpProxy(broker.hostname or "127.0.0.1", broker.port or 1883, delay=0.5)
    await slow.start()
    connection = MqttConnection(f"mqtt://127.0.0.1:{slow.port}", client_id=f"puback-{secrets.token_hex(4)}")
    await connection.start()
    try:
        async with asyncio.timeout(10):
            await connection.wait_connected()
            await connection.publish("hxtp/t/device/d/cmd", b"x", acknowledged=True)  # through, acked
            waiting = asyncio.ensure_future(
                connection.publish("hxtp/t/device/d/cmd", b"y", acknowledged=True)
            )
            await asyncio.sleep(0.1)
            assert not waiting.done()  # its PUBACK cannot have come back yet
            await slow.cut()
            with pytest.raises(MqttNotConnectedError):
                await waiting
    finally:
        await connection.stop()
        await slow.cut()
        await asyncio.sleep(0.2)
