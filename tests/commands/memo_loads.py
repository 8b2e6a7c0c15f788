"""What the memo tests load from: a row whose reads wait until released, and callers started up to
their first wait."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from server.domain.memo import TtlMemo


class Source:
    """A row read by the loads: each load waits for `release`, then returns the row as it is then."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.loads = 0
        self.release = asyncio.Event()

    async def load(self) -> str:
        self.loads += 1
        await self.release.wait()
        return self.value


async def settle() -> None:
    """Lets every ready task run up to its next wait."""
    for _ in range(3):
        await asyncio.sleep(0)


async def started_callers(
    memo: TtlMemo[str, str], load: Callable[[], Awaitable[str]], count: int = 1, key: str = "device-1"
) -> list[asyncio.Task[str]]:
    """`count` callers of `memo.get(key, load)`, each run up to its first wait."""
    tasks = [asyncio.create_task(memo.get(key, load)) for _ in range(count)]
    await settle()
    assert not any(task.done() for task in tasks)
    return tasks
