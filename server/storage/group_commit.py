"""Group commit: many callers' writes committed together in one transaction.

A caller submits a unit of work (one or more items) and awaits its commit; a single writer task takes
everything submitted so far, applies it in one transaction and resolves every caller's future when
that transaction has committed. While one transaction commits, the next units queue, so under load a
commit carries many callers' work and when idle a unit is committed at once (no timer to wait out).

Items of one class are applied together (`apply_all`, typically one executemany), classes in
ascending `order`, so a batch is a handful of statements whatever its size. A unit is never split
across transactions. When a batch fails, each unit is retried alone, so one bad unit fails only its
own caller.

The writer task exists only while there is work: nothing lingers after the last commit, and
`drain()` waits for what is in flight (shutdown).

`apply_all` is synchronous and takes a synchronous Connection, so that a batch costs the event loop
what its SQL costs and nothing per statement: on a SQLite file the batch runs on the loop thread
through a connection of its own (`inline_sqlite_engine`), where going through aiosqlite would hand
every statement to its thread and back; elsewhere (PostgreSQL) it runs inside the async
connection's `run_sync`, one round trip per statement as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol, Self

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from server.storage.database import checkpoint_wal, inline_sqlite_engine, is_sqlite_busy

log = logging.getLogger(__name__)

DEFAULT_MAX_BATCH = 1000  # items per transaction: bounds one commit's duration and size
# How long a batch waits for SQLite's write lock while another connection holds it, as the async
# engine's busy_timeout does; the wait yields to the loop, so the holder can finish.
_LOCK_WAIT_S = 5.0
_LOCK_RETRY_S = 0.001
# Items written between two checkpoints of the write-ahead log: a command and its audit entry take
# about a page, so this keeps the log well under SQLite's own threshold of 1,000 pages, and each
# checkpoint short.
_CHECKPOINT_EVERY = 500


class Work(Protocol):
    """One item of a unit of work; `apply_all` applies every item of its class in a batch."""

    order: ClassVar[int]

    @classmethod
    def apply_all(cls, connection: Connection, items: Sequence[Self]) -> Sequence[Any]:
        """Applies `items` (in submission order) inside the open transaction; one result per item."""
        ...


class _Unit:
    __slots__ = ("future", "items")

    def __init__(self, items: Sequence[Work], future: asyncio.Future[list[Any]]) -> None:
        self.items = items
        self.future = future


def _log_failure(future: asyncio.Future[list[Any]]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("a queued write could not be committed: %r", future.exception())


class GroupCommit:
    def __init__(self, engine: AsyncEngine, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._pending: list[_Unit] = []
        self._task: asyncio.Task[None] | None = None
        self._inline: Engine | None = None  # the loop thread's own SQLite connection, opened on first use
        self._inline_known = False
        self._checkpoint: asyncio.Task[None] | None = None
        self._since_checkpoint = 0
        self.transactions = 0  # committed so far: what a batch shares is visible to tests and operators

    async def submit(self, *items: Work) -> list[Any]:
        """Commits `items` together (with whatever else is pending); their results, in order."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending.append(_Unit(items, future))
        if self._task is None:
            self._task = asyncio.create_task(self._write(), name="group-commit")
        return await future

    def submit_later(self, *items: Work) -> None:
        """Queues `items` for the next commit without waiting for it: for a write whose caller has
        nothing to promise about it (a status that a restart would resolve anyway). A failure is
        logged; `caught_up` and `drain` still wait for it."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_log_failure)
        self._pending.append(_Unit(items, future))
        if self._task is None:
            self._task = asyncio.create_task(self._write(), name="group-commit")

    async def caught_up(self) -> None:
        """Returns once everything submitted before this call is committed (or failed): reads that
        follow see this process's writes, including those queued with `submit_later`."""
        if self._task is not None:
            await self.submit()  # an empty unit: it commits with, or after, everything before it

    async def drain(self) -> None:
        """Returns once everything submitted so far is committed (or failed), and closes the loop
        thread's connection (a later submit opens it again)."""
        while self._task is not None:
            await asyncio.shield(self._task)
        if self._checkpoint is not None:
            await asyncio.shield(self._checkpoint)
        if self._inline is not None:
            self._inline.dispose()
            self._inline, self._inline_known = None, False

    async def _write(self) -> None:
        try:
            while self._pending:
                await asyncio.sleep(0)  # callers made ready by the last commit join this batch
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

    def _take(self) -> list[_Unit]:
        taken, size = 0, 0
        for unit in self._pending:
            if taken and size + len(unit.items) > self._max_batch:
                break
            taken, size = taken + 1, size + len(unit.items)
        batch, self._pending = self._pending[:taken], self._pending[taken:]
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
        if not self._inline_known:
            self._inline, self._inline_known = inline_sqlite_engine(self._engine), True
        if self._inline is None:
            async with self._engine.begin() as connection:
                results = await connection.run_sync(_apply, batch)
        else:
            results = await self._commit_inline(self._inline, batch)
        self.transactions += 1
        return results

    async def _commit_inline(self, engine: Engine, batch: list[_Unit]) -> list[list[Any]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _LOCK_WAIT_S
        while True:
            try:
                with engine.begin() as connection:  # BEGIN IMMEDIATE: the write lock, or "busy" at once
                    results = _apply(connection, batch)
            except OperationalError as error:
                if not is_sqlite_busy(error) or loop.time() > deadline:
                    raise
                await asyncio.sleep(_LOCK_RETRY_S)  # the async engine's connection holds the lock
            else:
                self._checkpoint_now_and_then(engine, sum(len(unit.items) for unit in batch))
                return results

    def _checkpoint_now_and_then(self, engine: Engine, written: int) -> None:
        self._since_checkpoint += written
        if self._since_checkpoint >= _CHECKPOINT_EVERY and self._checkpoint is None:
            self._since_checkpoint = 0
            self._checkpoint = asyncio.create_task(self._checkpoint_off_loop(engine), name="wal-checkpoint")

    async def _checkpoint_off_loop(self, engine: Engine) -> None:
        try:
            await asyncio.to_thread(checkpoint_wal, engine)
        except Exception as error:  # the next one catches up; the log only grows meanwhile
            log.warning("the write-ahead log could not be checkpointed: %r", error)
        finally:
            self._checkpoint = None


def _apply(connection: Connection, batch: list[_Unit]) -> list[list[Any]]:
    """Applies every unit of `batch` in the open transaction: each class in one call, in `order`."""
    by_class: dict[type[Work], list[tuple[int, int, Work]]] = {}
    for u, unit in enumerate(batch):
        for i, item in enumerate(unit.items):
            by_class.setdefault(type(item), []).append((u, i, item))
    results: list[list[Any]] = [[None] * len(unit.items) for unit in batch]
    for kind in sorted(by_class, key=lambda k: k.order):
        placed = by_class[kind]
        applied = kind.apply_all(connection, [item for _, _, item in placed])
        for (u, i, _), result in zip(placed, applied, strict=True):
            results[u][i] = result
    return results
