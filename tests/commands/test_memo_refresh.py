"""The safety-net TTL never holds a request up: an entry is reloaded in the background once it has
lived part of its TTL, callers keep getting it from memory meanwhile, entries filled together are
not reloaded together, and an entry past its TTL is never answered."""

from __future__ import annotations

import asyncio

import pytest

from server.domain.memo import REFRESH_FROM, TtlMemo
from server.errors import Code, HxtpError
from tests.commands.memo_loads import Source, settle, started_callers

TTL = 30.0


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _filled(memo: TtlMemo[str, str], source: Source, key: str = "device-1") -> None:
    source.release.set()
    assert await memo.get(key, source.load) == source.value
    source.release.clear()


async def _filled_memo(value: str) -> tuple[_Clock, TtlMemo[str, str], Source]:
    """A memo on a clock of its own holding `value` for "device-1", loaded from the returned source."""
    clock = _Clock()
    memo: TtlMemo[str, str] = TtlMemo(TTL, clock=clock)
    source = Source(value)
    await _filled(memo, source)
    return clock, memo, source


async def test_an_entry_due_for_refresh_is_answered_from_memory_while_it_reloads() -> None:
    clock, memo, source = await _filled_memo("old")
    source.value = "new"
    clock.now += TTL * 0.999  # due for its refresh, not yet expired
    # The reload waits for `release`; the callers do not wait for it.
    assert await asyncio.wait_for(memo.get("device-1", source.load), 1) == "old"
    assert await asyncio.wait_for(memo.get("device-1", source.load), 1) == "old"
    assert source.loads == 2  # the fill, and one reload however many callers came meanwhile
    source.release.set()
    await settle()
    assert await memo.get("device-1", source.load) == "new"
    assert source.loads == 2


async def test_an_entry_past_its_ttl_is_never_answered() -> None:
    clock, memo, source = await _filled_memo("old")
    source.value = "new"
    clock.now += TTL
    (caller,) = await started_callers(memo, source.load)  # waits for the load
    source.release.set()
    assert await caller == "new"


async def test_entries_filled_together_are_not_reloaded_together() -> None:
    clock = _Clock()
    memo: TtlMemo[str, str] = TtlMemo(TTL, clock=clock)
    source = Source("row")
    for number in range(50):
        await _filled(memo, source, f"device-{number}")
    clock.now += TTL * (REFRESH_FROM + 1.0) / 2  # half way through the refresh window
    source.release.set()
    for number in range(50):
        await memo.get(f"device-{number}", source.load)
    await settle()
    reloads = source.loads - 50
    # Each entry's refresh point is its own: some are due, some not (all on one side: 2 ** -49).
    assert 0 < reloads < 50


async def test_a_refresh_that_finds_the_row_gone_drops_the_entry() -> None:
    clock, memo, _ = await _filled_memo("row")
    loads = 0

    async def gone() -> str:
        nonlocal loads
        loads += 1
        raise HxtpError(Code.NOT_FOUND, "Device not found")

    clock.now += TTL * 0.999
    assert await memo.get("device-1", gone) == "row"  # answered while the refresh runs
    await settle()
    with pytest.raises(HxtpError) as refused:
        await memo.get("device-1", gone)  # the refresh failed: nothing is answered from memory
    assert refused.value.code == Code.NOT_FOUND
    assert loads == 2


async def test_a_refresh_under_way_at_a_forget_is_not_remembered() -> None:
    clock, memo, source = await _filled_memo("old")
    clock.now += TTL * 0.999
    assert await memo.get("device-1", source.load) == "old"  # starts the refresh, which reads "old"
    memo.forget("device-1")  # the row changed while the refresh was reading it
    source.release.set()
    await settle()
    source.value = "new"
    assert await memo.get("device-1", source.load) == "new"
    assert source.loads == 3
