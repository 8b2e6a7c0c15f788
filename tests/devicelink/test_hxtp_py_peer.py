"""A device built on the public hxtp-py 1.2.0 SDK (profile hxtp-3.1-ed25519) against the server.

Driven through the SDK's own public API: `HxTPClient` over its `MqttTransport` (bare JSON, QoS 1).
The SDK sends HELLO (Ed25519 over the 11-field string, sequence 0) and waits for `hello_ack` before it
goes ACTIVE; the server verifies with the device's registered public key and answers on `cmd`.

hxtp-py verifies inbound messages with its *own* key pair (active, then "previous"), so no server
can sign anything it accepts without the device's seed. The server signs with its link key; the
device is configured to trust that public key in the SDK's previous-key slot (`HxTPConfig`).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hxtp_py.client.async_client import HxTPClient, LifecycleState
from hxtp_py.client.types import HxTPConfig, HxTPErrorEvent, HxTPMessageEvent
from hxtp_py.core.envelope import build_envelope
from hxtp_py.transport.mqtt import MqttTransport

from server.devicelink.inbound import InboundPipeline
from tests.devicelink.conftest import Link, accepted, eventually
from tests.devicelink.directory import FixedDevice, FixedDirectory

SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"


@pytest.mark.parametrize("broker_kind", ["embedded", "mosquitto"])
async def test_hxtp_py_hello_ack_and_signed_messages_both_ways(link: Link) -> None:
    app = link.app
    public_key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(SEED)).public_key().public_bytes_raw()
    device = await link.register(protocol="hxtp-3.1-ed25519", public_key=public_key.hex())
    device_id, tenant_id = device["device_id"], device["tenant_id"]
    # The server's link key as a device setup reads it (README): the public route, the answer.
    link_key = (await link.http.get("/api/v1/device/link-key")).json()["public_key"]
    assert device["server_public_key"] == link_key

    parts = urlsplit(link.broker_url)
    transport = MqttTransport(parts.hostname or "127.0.0.1", parts.port or 1883, client_id=f"py-{device_id}")
    config = HxTPConfig(
        url=link.broker_url,
        tenant_id=tenant_id,
        device_id=device_id,
        private_key_hex=SEED,
        public_key_hex=public_key.hex(),
        previous_public_key_hex=link_key,
        client_id=str(uuid.uuid4()),
        transport=transport,
        max_message_age_sec=30,
        timestamp_skew_sec=5,
        heartbeat_interval_ms=200,
    )
    client = HxTPClient(config=config)
    received: list[HxTPMessageEvent] = []
    errors: list[HxTPErrorEvent] = []
    client.on_message(received.append)
    client.on_error(errors.append)
    # The transport receives only what the application subscribed to: `cmd`, before HELLO goes out.
    await transport.connect()
    await transport.subscribe(f"hxtp/{tenant_id}/device/{device_id}/cmd")
    await asyncio.sleep(0.1)
    try:
        hellos = accepted("hello")
        await client.connect()
        await eventually(lambda: client.lifecycle == LifecycleState.ACTIVE)
        assert accepted("hello") > hellos and not errors

        # Device -> server: an Ed25519-signed state message (numbers: the canonical hash rule).
        await client.send_message("state", {"temperature": 21.5, "relay": True})
        state = await eventually(lambda: app.device_messages.latest_state(device_id))
        assert state[0] == {"temperature": 21.5, "relay": True}
        # The SDK's heartbeat (every 200 ms here) moves last_heartbeat.
        await eventually(lambda: _heartbeat_seen(link, device_id))

        # Server -> device: a command the SDK's validation pipeline accepts.
        assert app.outbound is not None
        sent = await app.outbound.send_command(device_id, "set_mode", {"enabled": True, "level": 2})
        event = await eventually(
            lambda: next((e for e in received if e.parsed.get("message_id") == sent.message_id), None)
        )
        assert event.parsed["action"] == "set_mode"
        assert event.parsed["params"] == {"enabled": True, "level": 2}
        assert not errors, [(e.code, e.message) for e in errors]
    finally:
        await client.disconnect()


async def _heartbeat_seen(link: Link, device_id: str) -> bool:
    response = await link.http.get(f"/api/v1/devices/{device_id}", headers=link.headers())
    return response.json().get("last_heartbeat") is not None


def test_a_repeated_sdk_hello_is_accepted_and_the_window_still_holds() -> None:
    """hxtp-py re-sends HELLO with sequence 0 after every reconnect, keeping its client_id."""
    public_key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(SEED)).public_key().public_bytes_raw()
    device = FixedDevice(protocol="hxtp-3.1-ed25519", public_key=public_key)
    pipeline = InboundPipeline(FixedDirectory(device))
    client_id = str(uuid.uuid4())

    def message(message_type: str, sequence: int) -> bytes:
        envelope = build_envelope(
            private_key_hex=SEED,
            device_id=device.device_id,
            tenant_id=device.tenant_id,
            client_id=client_id,
            message_type=message_type,
            params={"n": sequence},
            sequence=sequence,
        )
        return json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode()

    def receive(message_type: str, sequence: int) -> bool:
        topic = f"hxtp/{device.tenant_id}/device/{device.device_id}/{message_type}"
        return asyncio.run(pipeline.receive(topic, message(message_type, sequence))) is not None

    assert receive("hello", 0) and receive("state", 1) and receive("state", 2)
    assert receive("hello", 0)  # reconnected
    assert receive("state", 3)
    assert not receive("state", 3)  # the window still holds for everything else
