"""The embedded broker speaks MQTT 3.1.1 only. The server connects with 3.1.1 (never a CONNACK
0x01); hxtp-py's MqttTransport (gmqtt, MQTT 5 first) gets one CONNACK 0x01 from the broker's door,
downgrades by itself and connects; amqtt never sees the MQTT 5 connect."""

from __future__ import annotations

import logging
import uuid

import pytest
from hxtp_py.transport.interface import TransportState
from hxtp_py.transport.mqtt import MqttTransport

from tests.devicelink.conftest import Link


async def test_the_server_and_an_mqtt5_sdk_peer_connect_to_the_embedded_broker(
    embedded_link: Link, caplog: pytest.LogCaptureFixture
) -> None:
    app = embedded_link.app
    assert app.broker is not None and app.mqtt is not None and app.mqtt.connected
    caplog.set_level(logging.INFO)
    transport = MqttTransport("127.0.0.1", app.broker.port, client_id=f"py-{uuid.uuid4().hex[:8]}")
    await transport.connect()  # returns once connected (after gmqtt's own downgrade)
    try:
        assert transport.state == TransportState.CONNECTED
        await transport.subscribe("hxtp/t/device/x/cmd")
    finally:
        await transport.disconnect()
    messages = [r.getMessage() for r in caplog.records]
    assert any("speaks 3.1.1 only" in m for m in messages)
    assert not [r for r in caplog.records if r.name.startswith("amqtt") and r.levelno >= logging.WARNING]
    assert not [r for r in caplog.records if r.name.startswith("server") and r.levelno >= logging.WARNING]
