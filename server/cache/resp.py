"""A pipelined Redis client for the request path: one connection, requests written back to back,
replies matched in order.

Every command and device message makes a few Redis calls (a claim, a counter, a publish). redis-py
spends most of its time per call on the client side (a pool checkout, a task per socket timeout, a
health check), which made Redis the largest cost of a command. Here a call is one write and one
future: replies arrive in request order (RESP), so concurrent callers share the connection and its
round trips, and a single timer bounds how long the oldest request may wait.

Failures use redis-py's exception types (`ConnectionError`, `TimeoutError`, `ResponseError`), so
`server.cache.outage` stays the one place that decides what an outage is. A lost connection fails
the requests in flight; the next call connects again. Subscriptions, which hold a connection of
their own, stay with redis-py.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
from collections import deque
from typing import Any

from redis.asyncio.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

Reply = Any  # bytes | int | None | list[Reply] | ResponseError

_CRLF = b"\r\n"


def encode(args: tuple[bytes | str | int, ...]) -> bytes:
    """One command as a RESP array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class _Incomplete(Exception):
    """The buffer ends inside a reply: wait for more bytes."""


def _parse(buffer: bytes, start: int) -> tuple[Reply, int]:
    """One reply from buffer[start:]: (reply, index after it); _Incomplete when cut short."""
    end = buffer.find(_CRLF, start)
    if end < 0:
        raise _Incomplete
    kind, line = buffer[start : start + 1], buffer[start + 1 : end]
    after = end + 2
    if kind == b"+":
        return line, after
    if kind == b":":
        return int(line), after
    if kind == b"$":
        length = int(line)
        if length < 0:
            return None, after
        if len(buffer) < after + length + 2:
            raise _Incomplete
        return buffer[after : after + length], after + length + 2
    if kind == b"*":
        count = int(line)
        if count < 0:
            return None, after
        items = []
        for _ in range(count):
            item, after = _parse(buffer, after)
            items.append(item)
        return items, after
    if kind == b"-":
        return ResponseError(line.decode("utf-8", "replace")), after
    raise RedisConnectionError(f"unexpected reply type {kind!r} from Redis")


class _Protocol(asyncio.Protocol):
    def __init__(self, on_lost: Any) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[tuple[asyncio.Future[Reply], float]] = deque()
        self._buffer = b""
        self._on_lost = on_lost
        self._outgoing: list[bytes] = []

    def send(self, request: bytes) -> None:
        """Queues a request; everything queued in one turn of the loop leaves in one write (a
        system call per request was most of a call's cost)."""
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outgoing.append(request)

    def _flush(self) -> None:
        outgoing, self._outgoing = self._outgoing, []
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(outgoing))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        position = 0
        try:
            while position < len(buffer):
                reply, position = _parse(buffer, position)
                future, _ = self.waiting.popleft()
                if not future.done():
                    if isinstance(reply, ResponseError):
                        future.set_exception(reply)
                    else:
                        future.set_result(reply)
        except _Incomplete:
            pass
        except (RedisConnectionError, ValueError, IndexError) as error:  # not Redis speaking: give up
            self.abort(RedisConnectionError(f"unreadable reply from Redis: {error}"))
            return
        self._buffer = buffer[position:]

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisConnectionError("connection to Redis lost"))
        self._on_lost(self)

    def fail(self, error: Exception) -> None:
        while self.waiting:
            future, _ = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)

    def abort(self, error: Exception) -> None:
        self.fail(error)
        if self.transport is not None:
            self.transport.abort()


class RespClient:
    def __init__(self, url: str, timeout: float = 5.0) -> None:
        # Read as redis-py reads it (the subscriptions' client gets the same URL): one meaning per URL.
        parsed = parse_url(url)
        if "path" in parsed:
            raise ValueError(f"not a redis:// or rediss:// URL: {url!r}")
        self._host = str(parsed.get("host") or "127.0.0.1")
        self._port = int(parsed.get("port") or 6379)
        self._ssl = ssl.create_default_context() if "connection_class" in parsed else None
        self._username = parsed.get("username")
        self._password = parsed.get("password")
        self._db = int(parsed.get("db") or 0)
        self._timeout = timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._scripts: dict[bytes, bytes] = {}  # sha1 -> source, for NOSCRIPT after a Redis restart

    async def call(self, *args: bytes | str | int) -> Reply:
        """One command's reply; ResponseError for an error reply, ConnectionError/TimeoutError when
        Redis cannot be reached or does not answer within the timeout."""
        protocol = self._protocol if self._protocol is not None else await self._connect()
        return await self._send(protocol, encode(args))

    def script(self, source: str) -> bytes:
        """Registers a Lua script; returns the handle `evalsha` takes."""
        sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest().encode()
        self._scripts[sha] = source.encode()
        return sha

    async def evalsha(self, sha: bytes, keys: list[str], args: list[bytes | str | int]) -> Reply:
        try:
            return await self.call(b"EVALSHA", sha, len(keys), *keys, *args)
        except ResponseError as error:
            if not str(error).startswith("NOSCRIPT"):
                raise
            return await self.call(b"EVAL", self._scripts[sha], len(keys), *keys, *args)

    def close(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    # -- connection -----------------------------------------------------------------------

    def _send(self, protocol: _Protocol, request: bytes) -> asyncio.Future[Reply]:
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        protocol.waiting.append((future, time.monotonic() + self._timeout))
        protocol.send(request)
        if self._watchdog is None:
            self._arm(self._timeout)
        return future

    def _arm(self, delay: float) -> None:
        self._watchdog = asyncio.get_running_loop().call_later(delay, self._check_overdue)

    def _check_overdue(self) -> None:
        """The oldest request past its deadline means Redis stopped answering: drop the connection."""
        self._watchdog = None
        protocol = self._protocol
        if protocol is None or not protocol.waiting:
            return
        overdue = protocol.waiting[0][1] - time.monotonic()
        if overdue <= 0:
            self._protocol = None
            protocol.abort(RedisTimeoutError(f"Redis did not answer within {self._timeout:g} s"))
        else:
            self._arm(overdue)

    async def _connect(self) -> _Protocol:
        # Callers arriving while a connection is being made wait for that one.
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
            self._connecting.add_done_callback(self._connected)
        return await asyncio.shield(self._connecting)

    def _connected(self, attempt: asyncio.Future[_Protocol]) -> None:
        self._connecting = None
        if not attempt.cancelled() and attempt.exception() is None:
            self._protocol = attempt.result()

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout):
                _, protocol = await loop.create_connection(
                    lambda: _Protocol(self._forget), self._host, self._port, ssl=self._ssl
                )
                try:
                    for request in self._hello():
                        await self._send(protocol, encode(request))
                except BaseException:
                    protocol.abort(RedisConnectionError("connection setup failed"))
                    raise
        except TimeoutError:
            raise RedisTimeoutError(f"could not connect to Redis at {self._host}:{self._port}") from None
        except OSError as error:
            raise RedisConnectionError(
                f"could not connect to Redis at {self._host}:{self._port}: {error}"
            ) from None
        return protocol

    def _hello(self) -> list[tuple[bytes | str | int, ...]]:
        """What a new connection sends before any command: AUTH, then SELECT."""
        requests: list[tuple[bytes | str | int, ...]] = []
        if self._password is not None:
            if self._username is not None:
                requests.append((b"AUTH", self._username, self._password))
            else:
                requests.append((b"AUTH", self._password))
        if self._db:
            requests.append((b"SELECT", self._db))
        return requests

    def _forget(self, protocol: _Protocol) -> None:
        if self._protocol is protocol:
            self._protocol = None
