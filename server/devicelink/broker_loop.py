"""The embedded broker's delivery loop: amqtt's broker, with messages that are already queued handed
to their subscribers inline.

amqtt's loop starts a task and an ``asyncio.wait`` for every message it delivers, even when the next
message is already waiting; under command load the broker took 8.5 % of the event loop on the
embedded defaults, half of it that bookkeeping (bench/bench_inprocess.py --profile). Here a message
that is already queued is delivered in the loop itself, in queue order as before, and the
task-and-wait (which also watches for shutdown) is only used to wait for the next message when the
queue is empty. The loop yields to the event loop after every INLINE_BURST messages, so a burst
never holds up the server, and a delivery that raises is logged and skipped: one bad message never
stops the loop.

A stop waits (bounded) for `delivered` first, so what the broker accepted before it reaches the
devices that are connected. Each message's topic is matched against every subscription filter; a
device's topics recur, so the answers are remembered (bounded: forgotten all at once at
MATCHES_KEPT pairs).

It relies on amqtt's broadcast internals (its queue, its running-task deque, ``_run_broadcast`` and
the shutdown future), which is why the amqtt version is pinned; tests/devicelink and
tests/infra/test_infra_mqtt.py hold delivery, order and shutdown to what a client sees.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from amqtt.broker import Broker

log = logging.getLogger(__name__)

INLINE_BURST = 32  # messages delivered before the loop lets other tasks run
MATCHES_KEPT = 65_536  # (topic, filter) answers remembered
_DRAIN_POLL_S = 0.005


def _reap(running: deque[asyncio.Task[Any]]) -> None:
    """Drops the finished per-subscriber publish tasks from the front (as amqtt does), logging failures."""
    while running and running[0].done():
        task = running.popleft()
        if not task.cancelled() and task.exception() is not None:
            log.warning("embedded broker: a delivery to a subscriber failed: %r", task.exception())


class InlineDeliveryBroker(Broker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._matched: dict[tuple[str, str], bool] = {}

    async def delivered(self, within: float) -> bool:
        """Waits until every message the broker holds has been handed to its subscribers and each
        delivery is done (acknowledged, for QoS 1); False when `within` ran out first."""
        queue, running = self._broadcast_queue, self._tasks_queue
        try:
            async with asyncio.timeout(within):
                while True:  # amqtt signals neither an empty queue nor a finished delivery: polled
                    if queue.empty() and all(task.done() for task in running):
                        return True
                    await asyncio.sleep(_DRAIN_POLL_S)
        except TimeoutError:
            return False

    def undelivered(self) -> int:
        """Messages still queued for delivery."""
        return int(self._broadcast_queue.qsize())

    def _matches(self, topic: str, a_filter: str) -> bool:
        key = (topic, a_filter)
        answer = self._matched.get(key)
        if answer is None:
            if len(self._matched) >= MATCHES_KEPT:
                self._matched.clear()
            answer = self._matched[key] = super()._matches(topic, a_filter)
        return answer

    async def _broadcast_loop(self) -> None:
        running: deque[asyncio.Task[Any]] = self._tasks_queue
        queue = self._broadcast_queue
        try:
            while not self._broadcast_shutdown_waiter.done():
                _reap(running)
                if queue.empty():
                    if await self._next_or_shutdown(running):
                        return
                    continue
                for _ in range(INLINE_BURST):
                    if queue.empty() or self._broadcast_shutdown_waiter.done():
                        break
                    try:
                        await self._run_broadcast(running)  # takes the queued message at once
                    except Exception as error:
                        log.warning("embedded broker: a message could not be delivered: %r", error)
                await asyncio.sleep(0)
        finally:
            for task in running:
                task.cancel()

    async def _next_or_shutdown(self, running: deque[asyncio.Task[Any]]) -> bool:
        """Waits for the next message and delivers it; True when shutdown came first."""
        shutdown = self._broadcast_shutdown_waiter
        delivery = asyncio.ensure_future(self._run_broadcast(running))
        await asyncio.wait([delivery, shutdown], return_when=asyncio.FIRST_COMPLETED)
        if shutdown.done():
            delivery.cancel()
            await asyncio.gather(delivery, return_exceptions=True)
            return True
        if not delivery.cancelled() and delivery.exception() is not None:
            log.warning("embedded broker: a message could not be delivered: %r", delivery.exception())
        return False
