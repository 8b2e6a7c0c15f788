"""A GET binding on a server-streaming RPC is a WebSocket relaying JSON frames."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf.message import Message
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gateway.app import Gateway
from gateway.transport import Metadata, RpcFailure
from hxtp.cloud.v1 import state_pb2
from tests.gateway.scripted import ScriptedTransport
from tests.serving import serving

# Every test serves the gateway on a real uvicorn socket.
pytestmark = pytest.mark.integration


def _events(count: int, hold_open: bool = True):  # type: ignore[no-untyped-def]
    async def stream(request: Message, metadata: Metadata) -> AsyncIterator[Message]:
        for n in range(count):
            event = state_pb2.StreamStateResponse(
                type="state_update", device_id=f"d{n}", timestamp=1704067200000 + n
            )
            event.state.update({"light": "on", "brightness": 100})
            yield event
        if hold_open:
            await asyncio.sleep(3600)

    return stream


async def test_streamed_messages_arrive_as_json_frames(
    transport: ScriptedTransport, gateway: Gateway
) -> None:
    transport.streams["StreamState"] = _events(2)
    async with serving(gateway) as port, connect(f"ws://127.0.0.1:{port}/ws/state?token=abc") as socket:
        first, second = json.loads(await socket.recv()), json.loads(await socket.recv())
    assert first == {
        "type": "state_update",
        "device_id": "d0",
        "state": {"brightness": 100, "light": "on"},
        "timestamp": 1704067200000,
    }
    assert second["device_id"] == "d1"
    # the query token became the credential the chain reads
    assert transport.last.metadata["authorization"] == "Bearer abc"


async def test_ping_pong_hello_and_unknown_frames(transport: ScriptedTransport, gateway: Gateway) -> None:
    transport.streams["StreamState"] = _events(0)
    async with serving(gateway) as port, connect(f"ws://127.0.0.1:{port}/ws?token=t") as socket:
        await socket.send("ping")
        assert await socket.recv() == "pong"
        await socket.send(json.dumps({"message_type": "heartbeat", "nonce": "x"}))
        await socket.send("not json at all")
        await socket.send(json.dumps({"message_type": "hello", "device_id": "sdk-1"}))
        ack = json.loads(await socket.recv())
        assert ack["message_type"] == "hello_ack" and ack["device_id"] == "sdk-1"
        assert ack["version"] == "HxTP/3.1" and isinstance(ack["timestamp"], int)
        await socket.send("ping")  # the socket is still open after the frames it ignored
        assert await socket.recv() == "pong"


@pytest.mark.parametrize(
    ("code", "close_code"),
    [(grpc.StatusCode.UNAUTHENTICATED, 4401), (grpc.StatusCode.PERMISSION_DENIED, 4403)],
)
async def test_refused_stream_closes_with_a_reason_code(
    transport: ScriptedTransport, gateway: Gateway, code: grpc.StatusCode, close_code: int
) -> None:
    async def refuse(request: Message, metadata: Metadata) -> AsyncIterator[Message]:
        raise RpcFailure(code, "no")
        yield  # an async generator

    transport.streams["StreamState"] = refuse
    async with serving(gateway) as port, connect(f"ws://127.0.0.1:{port}/ws/state") as socket:
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == close_code


async def test_unknown_websocket_path_is_refused(gateway: Gateway) -> None:
    async with serving(gateway) as port:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://127.0.0.1:{port}/ws/nothing"):
                pass
    # closing before accepting is how ASGI refuses an upgrade; servers answer it with 403
    assert refused.value.response.status_code == 403
