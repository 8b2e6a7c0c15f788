"""/ws/state end to end: real WebSockets against a running server, embedded cache and Redis."""

from __future__ import annotations

import asyncio
import json
import secrets

import pytest
from websockets.exceptions import ConnectionClosed

from server.app import Application
from server.domain.identity.principal import Role
from tests.integration.harness import token
from tests.livestate.wsclient import next_event, open_socket, until_streaming


def _tenant() -> str:
    # Unique per test: Redis (and its channels) may be shared with other runs.
    return f"tenant-{secrets.token_hex(4)}"


async def test_events_arrive_in_order_with_the_reference_shape(app: Application) -> None:
    tenant = _tenant()
    async with open_socket(app, token(app, Role.VIEWER, tenant)) as sock:
        await until_streaming(app.events, tenant, sock)
        for n in range(20):
            await app.events.publish_state_update(
                tenant, "dev-1", {"light": "on", "brightness": n}, 1704067200000 + n
            )
        await app.events.publish_command_status(tenant, "dev-1", "cmd-1", "failed", "timeout", 1704067300000)
        await app.events.publish_command_status(tenant, "dev-1", "cmd-2", "acked", timestamp_ms=1704067300001)
        received = [await next_event(sock) for _ in range(22)]
    assert received[:20] == [
        {
            "type": "state_update",
            "device_id": "dev-1",
            "state": {"light": "on", "brightness": n},
            "timestamp": 1704067200000 + n,
        }
        for n in range(20)
    ]
    assert received[20] == {
        "type": "command_status",
        "device_id": "dev-1",
        "command_id": "cmd-1",
        "status": "failed",
        "error": "timeout",
        "timestamp": 1704067300000,
    }
    assert received[21] == {
        "type": "command_status",
        "device_id": "dev-1",
        "command_id": "cmd-2",
        "status": "acked",
        "timestamp": 1704067300001,
    }


@pytest.mark.parametrize("path", ["/ws/state", "/ws"])
async def test_ping_hello_and_heartbeats_on_a_live_stream(app: Application, path: str) -> None:
    tenant = _tenant()
    async with open_socket(app, token(app, Role.VIEWER, tenant), path) as sock:
        await sock.send("ping")
        assert await sock.recv() == "pong"
        await sock.send(json.dumps({"message_type": "heartbeat", "nonce": "n1", "version": "HxTP/3.0"}))
        await sock.send(json.dumps({"message_type": "hello", "device_id": "sdk-1", "params": {}}))
        ack = json.loads(await sock.recv())
        assert ack["message_type"] == "hello_ack" and ack["version"] == "HxTP/3.1"
        assert ack["device_id"] == "sdk-1" and isinstance(ack["timestamp"], int)
        # The stream is still up after the frames it ignored; after its hello the client gets each
        # event inside a signed HxTP envelope (what the SDKs validate), the event itself as params.
        await until_streaming(app.events, tenant, sock)
        await app.events.publish_state_update(tenant, "dev-9", {"on": True}, 5)
        envelope = await next_event(sock)
        assert envelope["message_type"] == "state_update" and envelope["version"] == "HxTP/3.1"
        assert envelope["params"] == {
            "type": "state_update",
            "device_id": "dev-9",
            "state": {"on": True},
            "timestamp": 5,
        }


async def test_a_tenant_never_sees_another_tenants_events(app: Application) -> None:
    tenant_a, tenant_b = _tenant(), _tenant()
    async with (
        open_socket(app, token(app, Role.ADMIN, tenant_a)) as sock_a,
        open_socket(app, token(app, Role.ADMIN, tenant_b)) as sock_b,
    ):
        await until_streaming(app.events, tenant_a, sock_a)
        await until_streaming(app.events, tenant_b, sock_b)
        for n in range(5):
            await app.events.publish_state_update(tenant_a, "dev-a", {"n": n}, n)
        await app.events.publish_state_update(tenant_b, "dev-b", {"n": 0}, 0)
        await app.events.publish_state_update(tenant_a, "dev-a", {"n": 5}, 5)
        # B's first event is its own: A's five, published before it, never reached B.
        assert (await next_event(sock_b))["device_id"] == "dev-b"
        assert [(await next_event(sock_a))["state"]["n"] for _ in range(6)] == [0, 1, 2, 3, 4, 5]
        with pytest.raises(TimeoutError):
            await next_event(sock_b, within=0.3)


async def test_an_api_key_in_the_query_authenticates(app: Application) -> None:
    owner = await app.identity.identity.ensure_user(
        f"o-{secrets.token_hex(4)}@example.com", "owner", "WS tenant"
    )
    assert owner.tenant_id is not None
    issued = await app.identity.api_keys.create(owner, "live view", ["devices:read"])
    async with open_socket(app, issued.key) as sock:
        await until_streaming(app.events, owner.tenant_id, sock)
        await app.events.publish_state_update(owner.tenant_id, "dev-k", {"k": 1}, 7)
        assert (await next_event(sock))["device_id"] == "dev-k"


@pytest.mark.parametrize("credential", [None, "not-a-token", "hxtp_notarealkey"])
async def test_a_missing_or_bad_credential_closes_with_4401(app: Application, credential: str | None) -> None:
    async with open_socket(app, credential) as sock:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(sock.recv(), timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_a_tenantless_caller_is_refused(app: Application) -> None:
    async with open_socket(app, token(app, Role.VIEWER, None)) as sock:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(sock.recv(), timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
