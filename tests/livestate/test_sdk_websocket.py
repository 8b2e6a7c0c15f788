"""hxtp-py 1.2.0's own async client on /ws/state: after hello/hello_ack its validator accepts the
server's events (signed HxTP envelopes) and `on_message` fires with the event; a plain client on
the same tenant keeps the documented JSON."""

from __future__ import annotations

import asyncio
import secrets
import uuid

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hxtp_py.client.async_client import HxTPClient, LifecycleState
from hxtp_py.client.types import HxTPConfig, HxTPErrorEvent, HxTPMessageEvent
from hxtp_py.transport.websocket import WebSocketTransport

from server.app import Application
from server.domain.identity.principal import Role
from tests.devicelink.conftest import eventually
from tests.integration.harness import token
from tests.livestate.wsclient import next_event, open_socket, until_streaming, ws_url


async def test_the_sdk_client_receives_events_and_plain_clients_keep_json(app: Application) -> None:
    tenant = f"tenant-{secrets.token_hex(4)}"
    credential = token(app, Role.VIEWER, tenant)
    seed = Ed25519PrivateKey.generate()
    seed_hex = seed.private_bytes_raw().hex()
    link_key = app.link_signer.public_key_hex
    config = HxTPConfig(
        url=ws_url(app, credential),
        tenant_id=tenant,
        device_id="sdk-watcher",
        private_key_hex=seed_hex,
        public_key_hex=seed.public_key().public_bytes_raw().hex(),
        previous_public_key_hex=link_key,  # as the README says: the server's published link key
        client_id=str(uuid.uuid4()),
        transport=WebSocketTransport(ws_url(app, credential)),
        auto_reconnect=False,
    )
    client = HxTPClient(config=config)
    received: list[HxTPMessageEvent] = []
    errors: list[HxTPErrorEvent] = []
    client.on_message(received.append)
    client.on_error(errors.append)
    async with open_socket(app, credential) as plain:
        await until_streaming(app.events, tenant, plain)
        await client.connect()
        try:
            await eventually(lambda: client.lifecycle == LifecycleState.ACTIVE)
            await eventually(lambda: app.events.subscriber_count(tenant) == 2)

            async def delivered() -> bool:
                await app.events.publish_telemetry(tenant, "dev-1", {"temperature": 21.5})
                await asyncio.sleep(0.05)
                return any(e.parsed.get("message_type") == "telemetry" for e in received)

            await eventually(delivered)
            event = next(e.parsed for e in received if e.parsed["message_type"] == "telemetry")
            assert event["version"] == "HxTP/3.1" and len(event["signature"]) == 128
            assert event["params"]["type"] == "telemetry" and event["params"]["data"] == {"temperature": 21.5}
            assert event["params"]["device_id"] == "dev-1"
            assert not errors, errors

            plain_event = await next_event(plain)
            assert plain_event == {
                "type": "telemetry",
                "device_id": "dev-1",
                "data": {"temperature": 21.5},
                "timestamp": plain_event["timestamp"],
            }
        finally:
            await client.disconnect()
