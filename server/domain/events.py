"""The live event bus: device state and command status events, per tenant, across replicas.

Publishing goes through the cache's pub/sub on one channel per tenant, so an event published on any
replica reaches subscribers on every replica (Redis) or in this process (in-memory cache).

Channel: ``hxtp:events:<tenant_id>`` (the cache channel name; RedisCache adds its key prefix). Message:
UTF-8 JSON, one event per message, one of

    {"type": "state_update", "device_id": "...", "state": {...}, "timestamp": <epoch ms>}
    {"type": "telemetry", "device_id": "...", "data": {...}, "timestamp": <epoch ms>}
    {"type": "command_status", "device_id": "...", "command_id": "...", "status": "acked",
     "error": "..." (optional), "timestamp": <epoch ms>}

Every live event is built here (the `Event` constructors below) and published through `EventBus`;
nothing else writes to these channels.

Subscribing: each process holds ONE cache subscription per tenant with local subscribers, however
many clients watch it (a thousand WebSockets do not open a thousand Redis connections), and fans each
event out to every local subscriber's bounded queue. A full queue drops its oldest event and counts
it, so one slow consumer never holds up the pump or the other consumers.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from server.cache.base import Cache
from server.domain.clock import epoch_ms
from server.errors import Code, HxtpError

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "hxtp:events:"
STATE_UPDATE = "state_update"
COMMAND_STATUS = "command_status"
TELEMETRY = "telemetry"
DEFAULT_QUEUE_SIZE = 256


def events_channel(tenant_id: str) -> str:
    return CHANNEL_PREFIX + tenant_id


@dataclass(frozen=True, slots=True)
class Event:
    """One event as it travels; shared (never copied) by every subscriber it is fanned out to."""

    type: str
    device_id: str
    timestamp: int  # epoch milliseconds
    state: Mapping[str, Any] | None = None
    command_id: str | None = None
    status: str | None = None
    error: str | None = None
    data: Mapping[str, Any] | None = None  # a telemetry sample as the device sent it

    def to_json(self) -> bytes:
        return json.dumps(self.body(), separators=(",", ":"), ensure_ascii=False).encode()

    def body(self) -> dict[str, Any]:
        """The event as the documented JSON object (what plain WebSocket clients receive)."""
        body: dict[str, Any] = {"type": self.type, "device_id": self.device_id, "timestamp": self.timestamp}
        for name in ("state", "data", "command_id", "status", "error"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        return body

    @classmethod
    def from_json(cls, data: bytes) -> Event | None:
        """The event in ``data``, or None when it is not one (logged; another publisher's bug)."""
        try:
            body = json.loads(data)
            state = body.get("state")
            data_ = body.get("data")
            event = cls(
                type=_text(body["type"]),
                device_id=_text(body["device_id"]),
                timestamp=int(body["timestamp"]),
                state=state if isinstance(state, dict) else None,
                command_id=_optional_text(body.get("command_id")),
                status=_optional_text(body.get("status")),
                error=_optional_text(body.get("error")),
                data=data_ if isinstance(data_, dict) else None,
            )
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("dropped a malformed event: %r (%r)", data[:200], exc)
            return None
        return event


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


@dataclass(eq=False)
class Subscription:
    """One consumer's bounded mailbox; iterate it for events in publication order."""

    tenant_id: str
    size: int
    on_drop: Callable[[], None] | None = None
    dropped: int = 0
    _events: collections.deque[Event] = field(default_factory=collections.deque)
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    _failure: HxtpError | None = None

    def deliver(self, event: Event) -> None:
        if len(self._events) >= self.size:
            self._events.popleft()  # the oldest goes: a live view wants the newest state
            self.dropped += 1
            if self.on_drop is not None:
                self.on_drop()
        self._events.append(event)
        self._wakeup.set()

    def fail(self, error: HxtpError) -> None:
        self._failure = error
        self._wakeup.set()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        while not self._events:
            if self._failure is not None:
                raise self._failure
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._events.popleft()


class _TenantFeed:
    """The one cache subscription of a tenant in this process, and its local subscribers."""

    def __init__(self, cache: Cache, tenant_id: str) -> None:
        self.subscribers: set[Subscription] = set()
        self.task = asyncio.create_task(self._pump(cache, tenant_id), name=f"events:{tenant_id}")

    async def _pump(self, cache: Cache, tenant_id: str) -> None:
        try:
            async with contextlib.aclosing(cache.subscribe(events_channel(tenant_id))) as messages:
                async for data in messages:
                    event = Event.from_json(data)
                    if event is None:
                        continue
                    for subscriber in tuple(self.subscribers):
                        subscriber.deliver(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The cache went away (Redis down): end the streams so clients reconnect, as they do.
            log.warning("event feed of tenant %s failed: %r", tenant_id, exc)
        for subscriber in tuple(self.subscribers):
            subscriber.fail(HxtpError(Code.SERVICE_UNAVAILABLE, "Live event feed interrupted; reconnect"))


class EventBus:
    def __init__(self, cache: Cache, queue_size: int = DEFAULT_QUEUE_SIZE, local_only: bool = False) -> None:
        """`local_only`: the cache is this process's own, so a tenant nobody here subscribes to has no
        subscriber anywhere, and its events are not even encoded (every command announces one)."""
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self._cache = cache
        self._local_only = local_only
        self._queue_size = queue_size
        self._feeds: dict[str, _TenantFeed] = {}
        self._leaving: set[asyncio.Task[None]] = set()  # feeds cancelled, still unsubscribing

    async def publish(self, tenant_id: str, event: Event) -> bool:
        """Sends ``event`` to the tenant's subscribers on every replica; False when the cache failed.

        Live events are best effort (at most once, no history): a cache outage must not fail the
        command or device message that caused the event, so it is logged here, not raised.
        """
        if self._local_only and tenant_id not in self._feeds:
            return True
        try:
            await self._cache.publish(events_channel(tenant_id), event.to_json())
        except Exception as exc:
            log.warning("could not publish a %s event for tenant %s: %r", event.type, tenant_id, exc)
            return False
        return True

    async def publish_state_update(
        self, tenant_id: str, device_id: str, state: Mapping[str, Any], timestamp_ms: int | None = None
    ) -> bool:
        event = Event(
            STATE_UPDATE, device_id, epoch_ms() if timestamp_ms is None else timestamp_ms, dict(state)
        )
        return await self.publish(tenant_id, event)

    async def publish_telemetry(
        self, tenant_id: str, device_id: str, data: Mapping[str, Any], timestamp_ms: int | None = None
    ) -> bool:
        event = Event(
            TELEMETRY, device_id, epoch_ms() if timestamp_ms is None else timestamp_ms, data=dict(data)
        )
        return await self.publish(tenant_id, event)

    async def publish_command_status(
        self,
        tenant_id: str,
        device_id: str,
        command_id: str,
        status: str,
        error: str | None = None,
        timestamp_ms: int | None = None,
    ) -> bool:
        timestamp = epoch_ms() if timestamp_ms is None else timestamp_ms
        event = Event(COMMAND_STATUS, device_id, timestamp, command_id=command_id, status=status, error=error)
        return await self.publish(tenant_id, event)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, tenant_id: str, on_drop: Callable[[], None] | None = None
    ) -> AsyncIterator[Subscription]:
        """A subscription to the tenant's events from now on, released on leaving the block."""
        subscription = Subscription(tenant_id, self._queue_size, on_drop)
        feed = self._feeds.get(tenant_id)
        if feed is None or feed.task.done():
            feed = self._feeds[tenant_id] = _TenantFeed(self._cache, tenant_id)
        feed.subscribers.add(subscription)
        try:
            yield subscription
        finally:
            feed.subscribers.discard(subscription)
            if not feed.subscribers and self._feeds.get(tenant_id) is feed:
                del self._feeds[tenant_id]
                feed.task.cancel()
                # Not awaited here: a closing stream must not wait on the cache to finish leaving.
                # close() awaits whatever is still on its way out.
                self._leaving.add(feed.task)
                feed.task.add_done_callback(self._leaving.discard)

    def subscriber_count(self, tenant_id: str | None = None) -> int:
        feeds = (
            self._feeds.values()
            if tenant_id is None
            else [f for t, f in self._feeds.items() if t == tenant_id]
        )
        return sum(len(feed.subscribers) for feed in feeds)

    async def close(self) -> None:
        tasks = [feed.task for feed in self._feeds.values()] + list(self._leaving)
        self._feeds = {}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
