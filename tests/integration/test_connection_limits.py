"""Connection limits on real loopback sockets: idle, slow-head, slow-body and endless-head clients
are cut off, the connection cap makes room by closing idle connections (health probes keep
answering) and refuses clearly when every connection is busy.

Counts are small and every wait is bounded, so the test ends by itself whatever the server does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest

from server.app import Application
from tests.integration.harness import base_url, running

CAP = 20
_GUARD_S = 15.0  # the longest any read here waits: a bound on the test, not an assertion on speed


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Application]:
    async with running(
        tmp_path,
        wait_for_mqtt=False,
        HXTP_HTTP_MAX_CONNECTIONS=str(CAP),
        HXTP_HTTP_HEADER_TIMEOUT_SECONDS="0.5",
        HXTP_HTTP_BODY_TIMEOUT_SECONDS="0.5",
        HXTP_HTTP_KEEP_ALIVE_SECONDS="0.5",
        HXTP_HTTP_MAX_HEADER_BYTES="8192",
    ) as application:
        yield application


async def _connect(app: Application) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", app.ports.http)


async def _read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    async with asyncio.timeout(_GUARD_S):
        while chunk := await reader.read(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _body(answer: bytes) -> dict[str, object]:
    return dict(orjson.loads(answer.split(b"\r\n\r\n", 1)[1]))


async def _live(app: Application) -> int:
    async with httpx.AsyncClient(base_url=base_url(app), timeout=_GUARD_S) as http:
        return (await http.get("/health/live")).status_code


async def test_a_connection_that_sends_nothing_is_closed_with_408(app: Application) -> None:
    reader, writer = await _connect(app)
    answer = await _read_until_closed(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert _body(answer)["code"] == "BAD_REQUEST"


async def test_a_slow_head_is_closed_with_408(app: Application) -> None:
    reader, writer = await _connect(app)
    writer.write(b"GET /health/live HTTP/1.1\r\nhost: x\r\nx-slow: ")
    answer = await _read_until_closed(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")


async def test_a_slow_body_is_closed_with_408(app: Application) -> None:
    reader, writer = await _connect(app)
    writer.write(
        b"POST /api/v1/homes HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: 100\r\n\r\n{"
    )
    answer = await _read_until_closed(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"body" in answer


async def test_a_head_over_the_size_limit_is_431(app: Application) -> None:
    reader, writer = await _connect(app)
    writer.write(b"GET /health/live HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 9000 + b"\r\n\r\n")
    answer = await _read_until_closed(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 431 ")


async def test_an_endless_head_is_cut_off(app: Application) -> None:
    _, writer = await _connect(app)
    writer.write(b"GET /health/live HTTP/1.1\r\nhost: x\r\nx-endless: ")
    sent = 0
    with contextlib.suppress(ConnectionError):  # the server closes on us mid-stream: a reset is expected
        async with asyncio.timeout(_GUARD_S):
            while sent < 64 << 20:
                writer.write(b"a" * 65536)
                await writer.drain()
                sent += 65536
    writer.close()
    assert sent < 64 << 20  # cut off long before: the server does not keep reading an endless head
    assert await _live(app) == 200


async def test_an_idle_keep_alive_connection_is_closed(app: Application) -> None:
    reader, writer = await _connect(app)
    writer.write(b"GET /health/live HTTP/1.1\r\nhost: x\r\n\r\n")
    answer = await _read_until_closed(reader)  # the answer, then the keep-alive close
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200 ")


async def test_the_cap_closes_idle_connections_to_let_health_probes_in(app: Application) -> None:
    idle = [await _connect(app) for _ in range(CAP * 2)]
    try:
        assert await _live(app) == 200
        assert await _live(app) == 200
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_GUARD_S):  # one bound for all of them
                for reader, _ in idle:
                    await reader.read()  # evicted ones read their EOF at once, the others their 408
        assert sum(reader.at_eof() for reader, _ in idle) == CAP * 2
    finally:
        for _, writer in idle:
            writer.close()


async def test_the_cap_refuses_clearly_when_every_connection_is_busy(tmp_path: Path) -> None:
    async with running(
        tmp_path, wait_for_mqtt=False, HXTP_HTTP_MAX_CONNECTIONS=str(CAP), HXTP_HTTP_BODY_TIMEOUT_SECONDS="60"
    ) as app:
        busy = []
        try:
            for _ in range(CAP):
                reader, writer = await _connect(app)
                writer.write(b"POST /api/v1/homes HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{")
                await writer.drain()
                busy.append((reader, writer))
            await asyncio.sleep(0.2)  # lets the server read every head (no assertion on time)
            reader, writer = await _connect(app)
            answer = await _read_until_closed(reader)
            writer.close()
            assert answer.startswith(b"HTTP/1.1 503 ")
            assert b"retry-after: 1" in answer.lower()
            assert _body(answer)["code"] == "SERVICE_UNAVAILABLE"
        finally:
            for _, busy_writer in busy:
                busy_writer.close()
        for _ in range(100):  # the busy ones are gone once the server has seen them close
            with contextlib.suppress(httpx.HTTPError):
                if await _live(app) == 200:
                    break
            await asyncio.sleep(0.05)
        assert await _live(app) == 200
