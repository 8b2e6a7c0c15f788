"""A memo loads a key once however many callers miss it at the same moment (an entry that expires
or is forgotten under load costs one read, not one per request in flight), and that sharing never
hands out a value from before a forget, nor lets one caller's cancellation fail the others."""

from __future__ import annotations

import asyncio

import pytest

from server.domain.memo import TtlMemo
from server.errors import Code, HxtpError
from tests.commands.memo_loads import Source, started_callers


async def test_callers_that_miss_together_share_one_load() -> None:
    memo: TtlMemo[str, str] = TtlMemo()
    source = Source("row")
    callers = await started_callers(memo, source.load, 64)
    source.release.set()
    assert await asyncio.gather(*callers) == ["row"] * 64
    assert source.loads == 1
    assert await memo.get("device-1", source.load) == "row"  # remembered
    assert source.loads == 1


async def test_other_keys_load_on_their_own() -> None:
    memo: TtlMemo[str, str] = TtlMemo()
    source = Source("row")
    on_a = await started_callers(memo, source.load, 2, "a")
    callers = [*on_a, *await started_callers(memo, source.load, 2, "b")]
    source.release.set()
    await asyncio.gather(*callers)
    assert source.loads == 2


async def test_a_caller_after_a_forget_does_not_join_the_older_load() -> None:
    memo: TtlMemo[str, str] = TtlMemo()
    source = Source("old")
    (before,) = await started_callers(memo, source.load)
    memo.forget("device-1")  # e.g. the device's secret rotated while the first read was under way
    source.value = "new"
    (after,) = await started_callers(memo, source.load)
    assert source.loads == 2
    source.release.set()
    # The first read may have seen either row; the later caller only the new one.
    assert await after == "new"
    await before
    assert await memo.get("device-1", source.load) == "new"
    assert source.loads == 2


async def test_a_load_under_way_at_a_forget_is_not_remembered() -> None:
    memo: TtlMemo[str, str] = TtlMemo()
    source = Source("old")
    (before,) = await started_callers(memo, source.load)
    memo.forget(None)
    source.release.set()
    assert await before == "old"
    source.value = "new"
    assert await memo.get("device-1", source.load) == "new"
    assert source.loads == 2


async def test_a_cancelled_caller_does_not_cancel_the_load_others_wait_for() -> None:
    memo: TtlMemo[str, str] = TtlMemo()
    source = Source("row")
    first, second = await started_callers(memo, source.load, 2)
    first.cancel()  # the first caller's client went away
    await asyncio.sleep(0)
    source.release.set()
    assert await second == "row"
    assert first.cancelled()
    assert source.loads == 1


async def test_a_failed_load_fails_its_waiters_and_is_not_remembered() -> None:
    memo: TtlMemo[str, str] = TtlMemo()
    loads = 0
    gate = asyncio.Event()

    async def missing() -> str:
        nonlocal loads
        loads += 1
        await gate.wait()
        raise HxtpError(Code.NOT_FOUND, "Device not found")

    callers = await started_callers(memo, missing, 3)
    gate.set()
    for caller in callers:
        with pytest.raises(HxtpError) as refused:
            await caller
        assert refused.value.code == Code.NOT_FOUND
    assert loads == 1

    async def found() -> str:
        return "row"

    assert await memo.get("device-1", found) == "row"  # the failure was not memoised
