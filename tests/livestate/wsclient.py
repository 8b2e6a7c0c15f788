"""WebSocket client helpers for the live-state tests (real sockets against a running server)."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from server.app import Application
from server.domain.events import EventBus

WARMUP_DEVICE = "warmup"


def ws_url(app: Application, token: str | None, path: str = "/ws/state") -> str:
    query = "" if token is None else f"?token={token}"
    return f"ws://127.0.0.1:{app.ports.http}{path}{query}"


def open_socket(app: Application, token: str | None, path: str = "/ws/state", **options: Any) -> Any:
    """``connect(...)``; an async context manager giving a ClientConnection."""
    return connect(ws_url(app, token, path), open_timeout=5, **options)


def small_receive_buffer_socket(app: Application, size: int = 4096) -> socket.socket:
    """A connected TCP socket whose kernel receive buffer is tiny, so a client that stops reading
    backs the server up after kilobytes rather than megabytes."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    sock.connect(("127.0.0.1", app.ports.http))
    sock.setblocking(False)
    return sock


async def until_streaming(bus: EventBus, tenant_id: str, *sockets: ClientConnection) -> None:
    """Publishes warm-up events until each socket has received one.

    The socket opens before the server has subscribed it (and on Redis the subscription itself takes a
    round trip), and nothing tells a client when it is live; a received event does.
    """
    pending = set(sockets)
    async with asyncio.timeout(10):
        while pending:
            await bus.publish_state_update(tenant_id, WARMUP_DEVICE, {})
            for sock in tuple(pending):
                try:
                    frame = await asyncio.wait_for(sock.recv(), timeout=0.05)
                except TimeoutError:
                    continue
                assert json.loads(frame)["device_id"] == WARMUP_DEVICE, frame
                pending.discard(sock)


async def next_event(sock: ClientConnection, within: float = 5.0) -> dict[str, Any]:
    """The next event frame that is not a warm-up (those may still trail in)."""
    async with asyncio.timeout(within):
        while True:
            event: dict[str, Any] = json.loads(await sock.recv())
            if event.get("device_id") != WARMUP_DEVICE:
                return event
