"""Serves a server-streaming RPC as a WebSocket.

Each streamed message goes out as one JSON text frame. Client frames never close the socket: the
text `ping` is answered with `pong`, a JSON `hello` (the SDKs' handshake) with `hello_ack`, and
anything else (SDK heartbeats, unknown JSON) is ignored. After a client's hello, its frames go out
through the `sdk_envelope` hook when one is given (the server wraps them in the signed HxTP envelope
the SDK validates); plain clients keep the documented JSON. A stream that ends in an authentication
error closes with 4401, a permission error with 4403. A call the rate limit refuses is not accepted
at all: the upgrade is answered 429 with Retry-After and the error body.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import grpc
import orjson
from google.protobuf.message import Message

from contract.clock import epoch_ms
from gateway.codec import codec_for
from gateway.descriptors import MethodInfo
from gateway.errors import ErrorResponse, failure_response
from gateway.transport import Metadata, RpcFailure, Transport

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Headers = Sequence[tuple[bytes, bytes]]

_CLOSE_CODES = {
    grpc.StatusCode.UNAUTHENTICATED: 4401,
    grpc.StatusCode.PERMISSION_DENIED: 4403,
    grpc.StatusCode.NOT_FOUND: 4404,
    grpc.StatusCode.INVALID_ARGUMENT: 4400,
}
PROTOCOL_VERSION = "HxTP/3.1"
# Frames recently encoded, by the identity of the streamed message: the state stream hands the same
# message object to every client of a tenant, so a fan-out to 1,000 sockets encodes it once, not
# 1,000 times. Strong references are held, so an id() is not reused while its entry lives.
_ENCODED_KEEP = 256

# (the frame as a JSON object, the client's hello frame) -> the text sent to that client.
SdkEnvelope = Callable[[dict[str, Any], dict[str, Any]], str]


def hello_frame(text: str) -> dict[str, Any] | None:
    """The client's HxTP hello, when `text` is one."""
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return frame if isinstance(frame, dict) and frame.get("message_type") == "hello" else None


def reply_to_client_frame(text: str) -> str | None:
    """What the server answers to one client text frame (None: nothing)."""
    if text == "ping":
        return "pong"
    frame = hello_frame(text)
    if frame is not None:
        return orjson.dumps(
            {
                "message_type": "hello_ack",
                "version": PROTOCOL_VERSION,
                "device_id": frame.get("device_id", ""),
                "timestamp": epoch_ms(),
            }
        ).decode()
    return None


async def refuse_handshake(receive: Receive, send: Send, refusal: ErrorResponse, extra: Headers = ()) -> None:
    """Answers the upgrade request with a plain HTTP status and the documented error body."""
    connect = await receive()
    if connect["type"] != "websocket.connect":
        return
    await _http_refusal(send, refusal, extra)


async def _http_refusal(send: Send, refusal: ErrorResponse, extra: Headers = ()) -> None:
    body = orjson.dumps(refusal.body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "websocket.http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": body})


async def serve_websocket(
    transport: Transport,
    method: MethodInfo,
    request: Message,
    metadata: Metadata,
    receive: Receive,
    send: Send,
    sdk_envelope: SdkEnvelope | None = None,
) -> None:
    connect = await receive()
    if connect["type"] != "websocket.connect":
        return
    admitted = asyncio.Event()
    stream = transport.stream(method, request, metadata, on_admitted=admitted.set)
    first: asyncio.Future[Message] = asyncio.ensure_future(anext(stream))  # runs the chain's admission
    gate = asyncio.ensure_future(admitted.wait())
    await asyncio.wait({first, gate}, return_when=asyncio.FIRST_COMPLETED)
    gate.cancel()
    if not admitted.is_set():
        failure = first.exception() if first.done() and not first.cancelled() else None
        if isinstance(failure, RpcFailure) and failure.code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            # Refused at the handshake with the reason, not accepted and then dropped: a client that
            # retries on close would otherwise hammer the limit it is over.
            refusal = failure_response(failure)
            retry_after = str(refusal.body.get("retry_after_seconds", 1)).encode()
            await _http_refusal(send, refusal, ((b"retry-after", retry_after),))
            await _close(stream)
            return
    await send({"type": "websocket.accept"})
    send_lock = asyncio.Lock()

    async def send_text(text: str) -> None:
        async with send_lock:
            await send({"type": "websocket.send", "text": text})

    hello: dict[str, dict[str, Any]] = {}  # the client's hello frame, once it sent one
    relay = asyncio.create_task(_relay(method, first, stream, send_text, hello, sdk_envelope))
    try:
        await _read_client(receive, send_text, relay, hello)
    finally:
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay
        await _close(stream)
    close_code = relay.result() if not relay.cancelled() else None
    if close_code is not None:
        with contextlib.suppress(Exception):
            await send({"type": "websocket.close", "code": close_code})


_encoded_frames: dict[str, OrderedDict[int, tuple[Message, dict[str, Any], str]]] = {}


async def _close(stream: AsyncIterator[Message]) -> None:
    """Finishes the stream's generator, so the server side unsubscribes now, not at garbage collection."""
    closer = getattr(stream, "aclose", None)
    if closer is not None:
        with contextlib.suppress(Exception):
            await closer()


async def _relay(
    method: MethodInfo,
    first: asyncio.Future[Message],
    stream: AsyncIterator[Message],
    send_text: Callable[[str], Awaitable[None]],
    hello: dict[str, dict[str, Any]],
    sdk_envelope: SdkEnvelope | None,
) -> int:
    """Streams messages out; returns the close code when the stream ends."""
    codec = codec_for(method.output_type.DESCRIPTOR)
    encoded = _encoded_frames.setdefault(method.output_type.DESCRIPTOR.full_name, OrderedDict())
    try:
        message = await first
        while True:
            hit = encoded.get(id(message))
            if hit is None or hit[0] is not message:
                body = codec.encode(message)
                hit = encoded[id(message)] = (message, body, orjson.dumps(body).decode())
                if len(encoded) > _ENCODED_KEEP:
                    encoded.popitem(last=False)
            sdk = hello.get("frame") if sdk_envelope is not None else None
            if sdk is not None and sdk_envelope is not None:
                await send_text(sdk_envelope(hit[1], sdk))
            else:
                await send_text(hit[2])
            message = await anext(stream)
    except StopAsyncIteration:
        return 1000
    except RpcFailure as failure:
        return _CLOSE_CODES.get(failure.code, 1011)


async def _read_client(
    receive: Receive,
    send_text: Callable[[str], Awaitable[None]],
    relay: asyncio.Task[int],
    hello: dict[str, dict[str, Any]],
) -> None:
    """Answers client frames until the client leaves or the relay ends."""
    while True:
        event_task = asyncio.ensure_future(receive())
        done, _ = await asyncio.wait({event_task, relay}, return_when=asyncio.FIRST_COMPLETED)
        if event_task not in done:
            event_task.cancel()
            return
        event = event_task.result()
        if event["type"] == "websocket.disconnect":
            return
        text = event.get("text")
        if text is None and event.get("bytes") is not None:
            text = event["bytes"].decode("utf-8", "replace")
        frame = hello_frame(text or "")
        if frame is not None:
            hello["frame"] = frame
        reply = reply_to_client_frame(text or "")
        if reply is not None:
            await send_text(reply)
