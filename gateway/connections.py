"""Connection limits of the HTTP server: what a hostile or broken client may hold, and for how long.

uvicorn's own protocol closes an idle keep-alive connection, but never one that connects and sends
nothing or sends its head or body a byte at a time, bounds no header size (one endless header grew a
process to 703 MB), and counts connections only once a request arrives. This protocol adds, per
connection:

- a header deadline: the request head must be complete within `header_timeout` of its first byte
  (or of the connection, for one that sends nothing), else 408 and close;
- a body deadline: the declared body must arrive within `body_timeout` of the head, else 408;
- a head size limit: more than `max_header_bytes` before the head is complete is 431 and close;
- a cap on open connections: at the cap, the connection that has been idle longest (between
  requests, or still dawdling over its head) is closed to make room, so health probes still get in
  under a flood of idle sockets; when none is idle, the new one is refused with 503 and the
  documented error body.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.errors import error_response

log = logging.getLogger("hxtp.gateway")


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int = 1000
    keep_alive: float = 5.0
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_header_bytes: int = 16384


def _raw_answer(status: int, reason: str, code: str, detail: str, extra: bytes = b"") -> bytes:
    body = orjson.dumps(error_response(code, detail).body)
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n".encode()
        + extra
        + b"\r\n"
        + body
    )


_TOO_MANY = _raw_answer(
    503,
    "Service Unavailable",
    "SERVICE_UNAVAILABLE",
    "Too many open connections; retry shortly",
    b"retry-after: 1\r\n",
)
_HEAD_TOO_SLOW = _raw_answer(
    408, "Request Timeout", "BAD_REQUEST", "The request head took too long to arrive"
)
_BODY_TOO_SLOW = _raw_answer(
    408, "Request Timeout", "BAD_REQUEST", "The request body took too long to arrive"
)
_HEAD_TOO_LARGE = _raw_answer(
    431,
    "Request Header Fields Too Large",
    "BAD_REQUEST",
    "The request head is larger than the server accepts",
)


class LimitedHttpProtocol(HttpToolsProtocol):
    limits = ConnectionLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The current deadline and what to answer when it passes; `_timer` fires at or before it.
        # Moving a deadline later (every request does, several times) only records it: the timer
        # that fires early schedules itself again, so a request costs no timer of its own.
        self._due: float | None = None
        self._due_answer = b""
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._in_head = True
        self._head_bytes = 0
        self._idle_since = time.monotonic()

    # -- the cap

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections and not self._evict_idlest():
            log.warning("connection cap of %d reached: refusing a connection", self.limits.max_connections)
            self._answer_and_close(_TOO_MANY)
            return
        self._arm(self.limits.header_timeout, _HEAD_TOO_SLOW)

    def _idle(self) -> bool:
        return (self.cycle is None or self.cycle.response_complete) and not self.pipeline

    def _evict_idlest(self) -> bool:
        idle = [
            c for c in self.connections if isinstance(c, LimitedHttpProtocol) and c is not self and c._idle()
        ]
        if not idle:
            return False
        min(idle, key=lambda c: c._idle_since).transport.close()
        return True

    # -- head size and deadlines

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._answer_and_close(_HEAD_TOO_LARGE)
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._arm(self.limits.header_timeout, _HEAD_TOO_SLOW)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._arm(self.limits.body_timeout, _BODY_TOO_SLOW)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self._idle_since = time.monotonic()
        self._in_head = True  # the next bytes are the next request's head
        super().on_response_complete()

    def handle_websocket_upgrade(self) -> None:
        self._stop_timer()  # the WebSocket protocol takes the connection over, with its own ping timeouts
        super().handle_websocket_upgrade()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    def _arm(self, seconds: float, answer: bytes) -> None:
        due = self.loop.time() + seconds
        self._due, self._due_answer = due, answer
        if self._timer is not None and self._timer_at <= due:
            return  # it fires first and moves itself to the new deadline
        self._schedule(due)

    def _disarm(self) -> None:
        self._due = None

    def _stop_timer(self) -> None:
        self._due = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _schedule(self, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = self.loop.call_at(at, self._fire), at

    def _fire(self) -> None:
        self._timer = None
        if self._due is None:
            return
        if self.loop.time() < self._due:
            self._schedule(self._due)
            return
        self._due = None
        self._expired(self._due_answer)

    def _expired(self, answer: bytes) -> None:
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False
            if self.cycle.response_started:
                self.transport.close()  # nothing sensible can follow a response already begun
                return
        self._answer_and_close(answer)

    def _answer_and_close(self, answer: bytes) -> None:
        self._stop_timer()
        if self.cycle is not None:
            # The application sees the client gone: its receive() ends, its late answer is dropped.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.write(answer)
        self.transport.close()


def reserve_descriptors(limits: ConnectionLimits, spare: int = 256) -> None:
    """Raise the soft open-file limit so the cap, not the OS, is what refuses connections.

    `spare` covers what else the process holds open (database pool, Redis, MQTT, files, logs).
    """
    try:
        import resource
    except ImportError:  # not on this platform: nothing to raise
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = limits.max_connections + spare
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < wanted:
            log.warning(
                "open-file limit %d is below HXTP_HTTP_MAX_CONNECTIONS + %d: lower the cap or raise it",
                target,
                spare,
            )


def protocol_for(limits: ConnectionLimits) -> type[LimitedHttpProtocol]:
    """The protocol class uvicorn instantiates per connection, bound to these limits."""
    return type("LimitedHttpProtocol", (LimitedHttpProtocol,), {"limits": limits})


def uvicorn_options(limits: ConnectionLimits) -> dict[str, Any]:
    """What uvicorn.Config takes for these limits (the server and the tests start uvicorn alike)."""
    return {
        "http": protocol_for(limits),
        "timeout_keep_alive": limits.keep_alive,
        # Stopping waits this long for requests in flight, then closes what is left: a client that
        # never finishes its request cannot hold a shutdown (or a test) forever.
        "timeout_graceful_shutdown": 5,
        "ws_max_size": 1 << 16,  # clients send pings and hellos, nothing bigger
        "ws_ping_interval": 20.0,
        "ws_ping_timeout": 20.0,
    }
