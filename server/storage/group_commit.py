"""Group commit: many callers' writes committed together in one transaction.

A caller submits a unit of work (one or more items) and awaits its commit; a single writer task takes
everything submitted so far, applies it in one transaction and resolves every caller's future when
that transaction has committed. While one transaction commits, the next units queue, so under load a
commit carries many callers' work and when idle a unit is committed at once (no timer to wait out).

Items of one class are applied together (`apply_all`, typically one executemany), classes in
ascending `order`, so a batch is a handful of statements whatever its size. A unit is never split
across transactions. When a batch fails, each unit is retried alone, so one bad unit fails only its
own caller.

A write queued with `submit_later` (nobody waits for it) starts no transaction of its own: it rides
with the next unit somebody awaits, or goes alone after `LAZY_DELAY_S`. Below saturation that halves
the transactions of a command (its `dispatched` status joins the next command's commit instead of
costing one), which is where the command path spends its time at a fixed rate.

The writer task exists only while there is work: nothing lingers after the last commit, and
`drain()` commits what is queued at once and waits for it (shutdown).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol, Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

DEFAULT_MAX_BATCH = 1000  # items per transaction: bounds one commit's duration and size
# How long a write nobody waits for may wait for company; a reader calls `caught_up` first.
LAZY_DELAY_S = 0.05


class Work(Protocol):
    """One item of a unit of work; `apply_all` applies every item of its class in a batch."""

    order: ClassVar[int]

    @classmethod
    async def apply_all(cls, connection: AsyncConnection, items: Sequence[Self]) -> Sequence[Any]:
        """Applies `items` (in submission order) inside the open transaction; one result per item."""
        ...


class _Unit:
    __slots__ = ("awaited", "future", "items")

    def __init__(self, items: Sequence[Work], future: asyncio.Future[list[Any]], awaited: bool) -> None:
        self.items = items
        self.future = future
        self.awaited = awaited


def _log_failure(future: asyncio.Future[list[Any]]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("a queued write could not be committed: %r", future.exception())


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class GroupCommit:
    def __init__(
        self, engine: AsyncEngine, max_batch: int = DEFAULT_MAX_BATCH, lazy_delay: float = LAZY_DELAY_S
    ) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._lazy_delay = lazy_delay
        self._pending: list[_Unit] = []
        self._awaited = 0  # units in _pending that somebody awaits
        self._task: asyncio.Task[None] | None = None
        self._company: asyncio.Future[None] | None = None  # set when an awaited unit arrives

    async def submit(self, *items: Work) -> list[Any]:
        """Commits `items` together (with whatever else is pending); their results, in order."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._queue(_Unit(items, future, awaited=True))
        return await future

    def submit_later(self, *items: Work) -> None:
        """Queues `items` for a coming commit without waiting for it: for a write whose caller has
        nothing to promise about it (a status that a restart would resolve anyway). It joins the
        next awaited unit's commit, or commits alone after the lazy delay. A failure is logged;
        `caught_up` and `drain` still wait for it."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_log_failure)
        self._queue(_Unit(items, future, awaited=False))

    def _queue(self, unit: _Unit) -> None:
        self._pending.append(unit)
        if unit.awaited:
            self._awaited += 1
            if self._company is not None:
                _settle(self._company)
        if self._task is None:
            self._task = asyncio.create_task(self._write(), name="group-commit")

    async def caught_up(self) -> None:
        """Returns once everything submitted before this call is committed (or failed): reads that
        follow see this process's writes, including those queued with `submit_later`."""
        if self._task is not None:
            await self.submit()  # an empty unit: it commits with, or after, everything before it

    async def drain(self) -> None:
        """Returns once everything submitted so far is committed (or failed)."""
        while self._task is not None:
            await self.submit()  # awaited: what is queued for later commits now
            if self._task is not None:
                await asyncio.shield(self._task)

    async def _write(self) -> None:
        try:
            while self._pending:
                await asyncio.sleep(0)  # callers made ready by the last commit join this batch
                if not self._awaited:
                    await self._wait_for_company()
                batch = self._take()
                try:
                    results = await self._commit(batch)
                except Exception:
                    await self._one_by_one(batch)
                else:
                    for unit, result in zip(batch, results, strict=True):
                        if not unit.future.done():
                            unit.future.set_result(result)
        finally:
            self._task = None
            if self._pending:  # submitted while the task was finishing
                self._task = asyncio.create_task(self._write(), name="group-commit")

    async def _wait_for_company(self) -> None:
        """Until an awaited unit is queued, or the lazy delay has passed."""
        loop = asyncio.get_running_loop()
        company = self._company = loop.create_future()
        timer = loop.call_later(self._lazy_delay, _settle, company)
        try:
            await company
        finally:
            timer.cancel()
            self._company = None

    def _take(self) -> list[_Unit]:
        taken, size, awaited = 0, 0, 0
        for unit in self._pending:
            if taken and size + len(unit.items) > self._max_batch:
                break
            taken, size, awaited = taken + 1, size + len(unit.items), awaited + unit.awaited
        batch, self._pending = self._pending[:taken], self._pending[taken:]
        self._awaited -= awaited
        return batch

    async def _one_by_one(self, batch: list[_Unit]) -> None:
        for unit in batch:
            try:
                (result,) = await self._commit([unit])
            except Exception as error:
                log.debug("a unit of work failed: %r", error)
                if not unit.future.done():
                    unit.future.set_exception(error)
            else:
                if not unit.future.done():
                    unit.future.set_result(result)

    async def _commit(self, batch: list[_Unit]) -> list[list[Any]]:
        by_class: dict[type[Work], list[tuple[int, int, Work]]] = {}
        for u, unit in enumerate(batch):
            for i, item in enumerate(unit.items):
                by_class.setdefault(type(item), []).append((u, i, item))
        results: list[list[Any]] = [[None] * len(unit.items) for unit in batch]
        async with self._engine.begin() as connection:
            for kind in sorted(by_class, key=lambda k: k.order):
                placed = by_class[kind]
                applied = await kind.apply_all(connection, [item for _, _, item in placed])
                for (u, i, _), result in zip(placed, applied, strict=True):
                    results[u][i] = result
        return results
