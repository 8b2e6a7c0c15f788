"""Per-process memos for hot read paths (the command path reads the same user, device, manifest and
keys on every call), kept correct across replicas by invalidation over the cache's pub/sub.

A write that changes what a memo holds (revocation, secret rotation, manifest change, role or tier
change) calls `MemoHub.forget`: the entry is dropped here at once, then the hub publishes it on the
cache's channel (Redis when configured, in-process otherwise) and every replica's hub drops it too
and answers with an acknowledgement. `forget` returns when every replica that received the message
has acknowledged it (bounded by ACK_TIMEOUT_SECONDS), so when a revocation answers, no replica's
memo still holds the device. While a replica's subscription is down its memos answer nothing from
memory (they are emptied, and refilled only once it is back), so the TTL is only a safety net.
Failures (e.g. NOT_FOUND) are never memoised.

One load per key at a time: callers that miss while a load of their key is under way wait for that
load instead of starting their own, so when a hot entry expires or is forgotten under load, the
database is read once, not once per request in flight. A caller that arrives after a forget never
joins a load that began before it.

The TTL never holds a request up: an entry is loaded again in the background once it has lived a
random part (REFRESH_FROM..1) of its TTL, and callers go on getting it from memory meanwhile. Without
that, the entries a burst filled together all expired together, and every request in flight then
waited for the same wall of reads (a 230 ms stall every 30 s at 1,000 commands/s). An entry past its
TTL is never answered; nor does the refresh change what invalidation guarantees.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import time
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from server.cache.base import Cache

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

SAFETY_TTL_SECONDS = 30.0
REFRESH_FROM = 0.5  # an entry is reloaded, in the background, after this part of its TTL or more
ACK_TIMEOUT_SECONDS = 1.0
CHANNEL = "memo:invalidate"
_RESUBSCRIBE_SECONDS = 0.5
_PROBES, _PROBE_WAIT_SECONDS = 50, 0.1

# The memos' names: a write names what it changed, whichever memo (in any module) holds it.
USER = "user"  # key: None (all users: identity writes are rare)
DEVICE = "device"  # key: (tenant_id, device_id)
DEVICE_KEYS = "device-keys"  # key: device_id (profile and secrets on the outbound side)
MANIFEST = "manifest"  # key: (tenant_id, device_id)
LINK_VARIANT = "link-variant"  # key: device_id (the signing variant its messages were seen to use)


class TtlMemo(Generic[K, V]):
    def __init__(
        self,
        ttl: float = SAFETY_TTL_SECONDS,
        max_entries: int = 10_000,
        live: Callable[[], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._live = live
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, float, V]] = OrderedDict()  # refresh at, expiry
        # Bumped by every forget: a load that was under way when one arrived may have read the old
        # row, so its value is returned but not remembered, and later callers do not wait for it.
        self._generation = 0
        self._loading: dict[K, tuple[int, asyncio.Task[V]]] = {}  # key -> (generation, its load)

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        if self._live is not None and not self._live():
            return await load()  # invalidations could be missed now: remember nothing
        entry = self._entries.get(key)
        if entry is not None:
            now = self._clock()
            if now < entry[0]:
                return entry[2]
            if now < entry[1]:
                self._load(key, load)
                return entry[2]
        return await asyncio.shield(self._load(key, load))

    def _load(self, key: K, load: Callable[[], Awaitable[V]]) -> asyncio.Task[V]:
        """The load of `key` under way since the last forget, started if there is none."""
        loading = self._loading.get(key)
        if loading is None or loading[0] != self._generation:
            # Its own task: a caller that is cancelled (its client went away) does not cancel the
            # load the others are waiting for.
            task = asyncio.ensure_future(self._fill(key, load, self._generation))
            task.add_done_callback(_retrieve)
            loading = self._loading[key] = (self._generation, task)
        return loading[1]

    async def _fill(self, key: K, load: Callable[[], Awaitable[V]], generation: int) -> V:
        try:
            value = await load()
        except BaseException:
            if generation == self._generation:
                self._entries.pop(key, None)  # a refresh that finds the row gone or unreadable
            raise
        finally:
            if self._loading.get(key, (None, None))[1] is asyncio.current_task():
                del self._loading[key]
        if generation == self._generation:
            now = self._clock()
            refresh_at = now + self._ttl * random.uniform(REFRESH_FROM, 1.0)
            self._entries[key] = (refresh_at, now + self._ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return value

    def forget(self, key: K | None) -> None:
        """Drops `key` (None: everything) in this process only; see MemoHub.forget for all replicas."""
        self._generation += 1
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key, None)


def _retrieve(task: asyncio.Task[Any]) -> None:
    """A load's failure reaches the callers that waited for it; this only keeps asyncio from
    reporting it again when every one of them was cancelled."""
    if not task.cancelled():
        task.exception()


def _wire_key(key: Hashable) -> Any:
    return list(key) if isinstance(key, tuple) else key


def _memo_key(value: Any) -> Hashable:
    return tuple(value) if isinstance(value, list) else value


class _Waiting:
    """An invalidation waiting for its acknowledgements (which may arrive before the publish's
    answer says how many replicas received it)."""

    def __init__(self) -> None:
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.receivers: int | None = None
        self.acks = 0

    def check(self) -> None:
        if self.receivers is not None and self.acks >= self.receivers and not self.done.done():
            self.done.set_result(None)


class MemoHub:
    """The process's memos by name, and the invalidation channel every replica listens on.

    Without a cache it only drops entries here. With one, memos answer from memory only while this
    hub's subscription is live (its own probe came back): while the cache is unreachable every read
    loads, since invalidations could be missed. Not started (a CLI process), it publishes without
    waiting, so running servers still hear it."""

    def __init__(self, cache: Cache | None = None, ttl: float = SAFETY_TTL_SECONDS) -> None:
        self._cache = cache
        self._ttl = ttl
        self._memos: defaultdict[str, list[TtlMemo[Any, Any]]] = defaultdict(list)
        self._replica = uuid.uuid4().hex
        self._ids = itertools.count(1)
        self._pending: dict[int, _Waiting] = {}
        self._task: asyncio.Task[None] | None = None
        self._live = cache is None
        self._heard = asyncio.Event()

    def memo(self, name: str) -> TtlMemo[Any, Any]:
        memo: TtlMemo[Any, Any] = TtlMemo(self._ttl, live=lambda: self._live)
        self._memos[name].append(memo)
        return memo

    def _drop(self, entries: list[tuple[str, Any]]) -> None:
        for name, key in entries:
            for memo in self._memos.get(name, ()):
                memo.forget(key)

    async def forget(self, *entries: tuple[str, Hashable | None]) -> None:
        """Drops each (memo name, key) here and on every replica; key None = the whole memo.

        Never raises: the write it follows is committed. When the cache cannot be reached, no
        replica is answering from its memos anyway (see the class)."""
        self._drop(list(entries))
        if self._cache is None:
            return
        number = next(self._ids)
        message = json.dumps(
            {
                "origin": self._replica,
                "id": number,
                "entries": [[name, _wire_key(key)] for name, key in entries],
            }
        ).encode()
        waiting = self._pending[number] = _Waiting()
        try:
            waiting.receivers = await self._cache.publish(CHANNEL, message)
            if self._task is not None:
                waiting.check()
                await asyncio.wait_for(waiting.done, ACK_TIMEOUT_SECONDS)
        except TimeoutError:
            log.warning("memo invalidation %s: not every replica acknowledged in time", entries)
        except Exception as error:
            log.warning("memo invalidation %s not published: %r", entries, error)
        finally:
            self._pending.pop(number, None)

    def _acknowledged(self, number: int) -> None:
        waiting = self._pending.get(number)
        if waiting is not None:
            waiting.acks += 1
            waiting.check()

    async def start(self) -> None:
        """Subscribes, and returns once this hub hears its own probe (from then on every
        invalidation published by any replica reaches it), or after a few seconds without."""
        if self._cache is None or self._task is not None:
            return
        self._task = asyncio.create_task(self._listen(self._cache), name="memo-invalidation")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._heard.wait(), _PROBES * _PROBE_WAIT_SECONDS)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self, cache: Cache) -> None:
        failures = 0
        while True:
            prober = asyncio.create_task(self._probe(cache))
            try:
                async with contextlib.aclosing(cache.subscribe(CHANNEL)) as messages:
                    async for data in messages:
                        failures = 0
                        await self._receive(cache, json.loads(data))
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failures += 1
                if failures == 1:
                    log.warning("memo invalidation subscription lost (%r); memos bypassed until back", error)
            finally:
                prober.cancel()
                self._offline()
            await asyncio.sleep(_RESUBSCRIBE_SECONDS)

    async def _probe(self, cache: Cache) -> None:
        """Publishes this hub's probe until it comes back: the subscription is then live."""
        probe = json.dumps({"origin": self._replica, "probe": True}).encode()
        while not self._live:
            with contextlib.suppress(Exception):
                await cache.publish(CHANNEL, probe)
            await asyncio.sleep(_PROBE_WAIT_SECONDS)

    async def _receive(self, cache: Cache, message: dict[str, Any]) -> None:
        if message["origin"] == self._replica and not self._live:
            self._clear_all()  # whatever was published before the subscription is unknown
            self._live = True
            self._heard.set()
        if "probe" in message:
            return
        if "ack" in message:
            if message["origin"] == self._replica:
                self._acknowledged(int(message["ack"]))
            return
        self._drop([(str(name), _memo_key(key)) for name, key in message["entries"]])
        if message["origin"] == self._replica:
            self._acknowledged(int(message["id"]))
        else:
            ack = {"origin": message["origin"], "ack": message["id"]}
            await cache.publish(CHANNEL, json.dumps(ack).encode())

    def _offline(self) -> None:
        self._live = False
        self._heard.clear()
        self._clear_all()

    def _clear_all(self) -> None:
        for memos in self._memos.values():
            for memo in memos:
                memo.forget(None)
