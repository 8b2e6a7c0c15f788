"""Dependency outages: which one is down, said once when it goes and once when it comes back.

A call that fails because PostgreSQL or Redis cannot be reached is the dependency's fault, not the
client's and not a bug: it is answered 503 with Retry-After (the chain does that, through
`unavailable`), and the log says so in one line, not one traceback per request. While a dependency
is marked down, a watcher probes it until it answers again and then logs the second line; no restart
is involved in recovery: the engines and clients reconnect by themselves on the next call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

from server.errors import Code, HxtpError

log = logging.getLogger("hxtp.outages")

Probe = Callable[[], Awaitable[bool]]
# Names the dependency an exception comes from ("database", "redis"), or None when it is not an outage.
Classifier = Callable[[BaseException], str | None]

RETRY_AFTER_SECONDS = 2
_PROBE_INTERVAL_S = 0.5


class Outages:
    def __init__(
        self, classifiers: Mapping[str, Callable[[BaseException], bool]], probes: Mapping[str, Probe]
    ) -> None:
        self._classifiers = dict(classifiers)
        self._probes = dict(probes)
        self._watchers: dict[str, asyncio.Task[None]] = {}

    def dependency_of(self, error: BaseException) -> str | None:
        """The dependency whose absence raised `error` (its cause chain included), or None."""
        seen: set[int] = set()
        current: BaseException | None = error
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            for name, matches in self._classifiers.items():
                if matches(current):
                    return name
            current = current.__cause__ or current.__context__
        return None

    def is_down(self, name: str) -> bool:
        return name in self._watchers

    def noted(self, error: BaseException) -> str | None:
        """The dependency whose outage caused `error`, noted as down (said once); None for any
        other failure, which the caller handles as its own."""
        name = self.dependency_of(error)
        if name is not None:
            self.went_down(name, error)
        return name

    def unavailable(self, error: BaseException) -> HxtpError | None:
        """The 503 to answer for `error` when a dependency's outage caused it (and note the outage)."""
        name = self.noted(error)
        if name is None:
            return None
        return HxtpError(
            Code.SERVICE_UNAVAILABLE,
            f"The {name} is unavailable; retry in {RETRY_AFTER_SECONDS} s",
            retry_after_seconds=RETRY_AFTER_SECONDS,
        )

    def went_down(self, name: str, error: BaseException) -> None:
        if name in self._watchers:
            return
        log.warning("dependency %s is down (%s): answering 503 until it is back", name, type(error).__name__)
        self._watchers[name] = asyncio.get_running_loop().create_task(self._watch(name))

    async def _watch(self, name: str) -> None:
        probe = self._probes[name]
        while True:
            await asyncio.sleep(_PROBE_INTERVAL_S)
            try:
                if await probe():
                    break
            except Exception:  # a probe that raises means "still down"
                continue
        del self._watchers[name]
        log.warning("dependency %s is back", name)

    async def close(self) -> None:
        for task in list(self._watchers.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._watchers.clear()
