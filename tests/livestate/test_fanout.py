"""Fan-out under pressure: a stalled client loses its oldest events (counted) without delaying a fast
one; events published on one replica reach clients of another through Redis."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path

from prometheus_client import REGISTRY

from server.app import Application
from server.domain.identity.principal import Role
from tests.integration.harness import running, token
from tests.livestate.wsclient import (
    WARMUP_DEVICE,
    next_event,
    open_socket,
    small_receive_buffer_socket,
    until_streaming,
)

PAYLOAD = "x" * 65_536  # big events fill the stalled client's buffers in hundreds, not thousands
MAX_EVENTS = 3000
END_DEVICE = "end-of-test"
QUEUE = 16
AHEAD = 4  # events the publisher may be ahead of the fast client (well under QUEUE)


def _metric(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


async def test_a_stalled_client_drops_its_oldest_events_and_never_delays_a_fast_one(
    tmp_path: Path, cache_env: dict[str, str]
) -> None:
    # A short queue: the stalled client overflows after a few megabytes instead of QUEUE x 64 KiB more.
    async with running(tmp_path, wait_for_mqtt=False, HXTP_WS_QUEUE_SIZE=str(QUEUE), **cache_env) as app:
        await _stall_one_of_two(app)


async def _stall_one_of_two(app: Application) -> None:
    tenant = f"tenant-{secrets.token_hex(4)}"
    credential = token(app, Role.VIEWER, tenant)
    clients_before = _metric("hxtp_ws_clients")
    dropped_before = _metric("hxtp_ws_events_dropped_total")
    # max_queue=1: the stalled client's library stops reading from TCP after one unread frame;
    # compression=None: permessage-deflate would shrink the padding to nothing.
    async with (
        open_socket(app, credential, compression=None) as fast,
        open_socket(
            app, credential, sock=small_receive_buffer_socket(app), max_queue=1, compression=None
        ) as stalled,
    ):
        await until_streaming(app.events, tenant, fast, stalled)
        assert _metric("hxtp_ws_clients") == clients_before + 2
        received: list[int] = []
        progress = asyncio.Event()

        async def read_fast() -> None:
            while (event := json.loads(await fast.recv()))["device_id"] != END_DEVICE:
                if event["device_id"] != WARMUP_DEVICE:
                    received.append(event["state"]["n"])
                    progress.set()

        async def publish_one() -> None:
            nonlocal published
            await app.events.publish_state_update(tenant, "dev-1", {"n": published, "pad": PAYLOAD})
            published += 1
            # Paced by the fast client (a few events ahead at most), never by the stalled one: were
            # the stalled client holding up the fan-out, this would wait until the timeout.
            while published - len(received) > AHEAD:
                progress.clear()
                await progress.wait()

        reader = asyncio.create_task(read_fast())
        published = 0
        async with asyncio.timeout(60):
            # Publish until the stalled client overflows, then as many again: the fast one must get
            # every single event, in order, all the while.
            while published < MAX_EVENTS and _metric("hxtp_ws_events_dropped_total") == dropped_before:
                await publish_one()
            overflow_at = published
            for _ in range(overflow_at):
                await publish_one()
            await app.events.publish_state_update(tenant, END_DEVICE, {})
            await reader
        assert overflow_at < MAX_EVENTS, "the stalled client never overflowed"
        assert received == list(range(published))
        dropped = _metric("hxtp_ws_events_dropped_total") - dropped_before
        # Everything past what its buffers and its queue hold was dropped, and counted.
        assert dropped >= overflow_at - QUEUE
        # Once read again, the stalled client gets the newest events, in order, without a gap at the end.
        # Read up to the end marker, so the close handshake is not stuck behind unread frames.
        tail: list[int] = []
        async with asyncio.timeout(30):
            while (event := await next_event(stalled))["device_id"] != END_DEVICE:
                tail.append(event["state"]["n"])
        # (The end marker pushed one more out of its full queue, hence "- 1".)
        newest = QUEUE - 1
        assert tail == sorted(tail) and tail[-newest:] == list(range(published - newest, published))
    for _ in range(100):  # the streams end just after the sockets close
        if _metric("hxtp_ws_clients") == clients_before:
            break
        await asyncio.sleep(0.01)
    assert _metric("hxtp_ws_clients") == clients_before


async def test_events_cross_replicas_through_redis(tmp_path: Path, redis_url: str) -> None:
    tenant = f"tenant-{secrets.token_hex(4)}"
    async with (
        running(
            tmp_path / "a", wait_for_mqtt=False, HXTP_REDIS_URL=redis_url, HXTP_JWT_SECRET="s" * 32
        ) as one,
        running(
            tmp_path / "b", wait_for_mqtt=False, HXTP_REDIS_URL=redis_url, HXTP_JWT_SECRET="s" * 32
        ) as two,
        open_socket(two, token(one, Role.VIEWER, tenant)) as sock,
    ):
        # Warmed up through replica one: the path under test is one's publish -> Redis -> two's stream.
        await until_streaming(one.events, tenant, sock)
        for n in range(10):
            await one.events.publish_state_update(tenant, "dev-x", {"n": n}, n)
        assert [(await next_event(sock))["state"]["n"] for _ in range(10)] == list(range(10))
        assert one.events.subscriber_count(tenant) == 0 and two.events.subscriber_count(tenant) == 1
