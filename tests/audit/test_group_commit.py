"""The group-commit writer: concurrent units share a transaction, a unit is never split, and one bad
unit fails only its own caller."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError

from server.domain.audit.log import AuditLog
from server.domain.commands.history import NewCommand, StatusChange
from server.storage.database import Database
from server.storage.group_commit import GroupCommit


def _count_commits(database: Database) -> list[int]:
    commits = [0]

    def counted(*_: Any) -> None:
        commits[0] += 1

    event.listen(database.engine.sync_engine, "commit", counted)
    return commits


async def test_concurrent_units_share_transactions(database: Database) -> None:
    writer = GroupCommit(database.engine)
    audit = AuditLog(database, writer)
    commits = _count_commits(database)
    units = [
        writer.submit(
            NewCommand(f"t{n % 5}", "d", "u", "light_on", {"n": n}),
            audit.entry("command_executed", tenant_id=f"t{n % 5}", details={"n": n}),
        )
        for n in range(50)
    ]
    await asyncio.gather(*units)
    assert commits[0] < 50
    report = await audit.verify()
    assert report.intact and report.count == 50 and len(report.chains) == 5
    async with database.engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM command"))).scalar_one() == 50


async def test_a_bad_unit_fails_alone_and_takes_its_audit_entry_with_it(database: Database) -> None:
    writer = GroupCommit(database.engine)
    audit = AuditLog(database, writer)
    first = NewCommand("t", "d", "u", "light_on", {})
    duplicate = NewCommand("t", "d", "u", "light_on", {}, id=first.id)  # the same primary key
    results = await asyncio.gather(
        writer.submit(first, audit.entry("command_executed", tenant_id="t", details={"n": 1})),
        writer.submit(duplicate, audit.entry("command_executed", tenant_id="t", details={"n": 2})),
        writer.submit(audit.entry("command_executed", tenant_id="t", details={"n": 3})),
        return_exceptions=True,
    )
    assert not isinstance(results[0], BaseException) and not isinstance(results[2], BaseException)
    assert isinstance(results[1], IntegrityError)
    # The failed unit's audit entry went with it: the chain holds exactly the other two, gap-free.
    entries = await audit.entries("t")
    assert sorted(e.details for e in entries) == ['{"n":1}', '{"n":3}']
    assert [e.row_id for e in entries] == [1, 2]
    assert (await audit.verify()).intact


async def test_drain_waits_for_what_is_in_flight(database: Database) -> None:
    writer = GroupCommit(database.engine)
    audit = AuditLog(database, writer)
    pending = asyncio.ensure_future(audit.append("command_executed", tenant_id="t"))
    await asyncio.sleep(0)
    await writer.drain()
    assert pending.done() and (await audit.verify()).count == 1


async def test_a_unit_larger_than_a_batch_is_one_transaction(database: Database) -> None:
    writer = GroupCommit(database.engine, max_batch=2)
    audit = AuditLog(database, writer)
    commits = _count_commits(database)
    await writer.submit(*(audit.entry("command_executed", tenant_id="t", details={"n": n}) for n in range(3)))
    assert commits[0] == 1
    # Batches are bounded: four units of one item each take at least two transactions.
    await asyncio.gather(*(audit.append("command_executed", tenant_id="t") for _ in range(4)))
    assert commits[0] >= 3
    assert (await audit.verify()).count == 7


async def test_a_write_queued_for_later_is_seen_by_the_next_read(database: Database) -> None:
    writer = GroupCommit(database.engine, lazy_delay=3600)  # the read, not the delay, commits it
    command = NewCommand("t", "d", "u", "light_on", {})
    await writer.submit(command)
    writer.submit_later(StatusChange(command.id, "dispatched"))
    await writer.caught_up()
    async with database.engine.connect() as connection:
        query = text("SELECT status FROM command WHERE id = :id")
        status = await connection.execute(query, {"id": command.id})
        assert status.scalar_one() == "dispatched"
    await writer.caught_up()  # nothing pending: returns at once


async def test_a_queued_write_that_fails_is_logged_not_raised(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    writer = GroupCommit(database.engine)
    first = NewCommand("t", "d", "u", "light_on", {})
    await writer.submit(first)
    writer.submit_later(NewCommand("t", "d", "u", "light_on", {}, id=first.id))  # the same primary key
    await writer.drain()
    assert any("could not be committed" in r.getMessage() for r in caplog.records)


async def test_a_write_queued_for_later_rides_with_the_next_awaited_unit(database: Database) -> None:
    writer = GroupCommit(database.engine, lazy_delay=3600)
    first = NewCommand("t", "d", "u", "light_on", {})
    await writer.submit(first)
    commits = _count_commits(database)
    writer.submit_later(StatusChange(first.id, "dispatched"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert commits[0] == 0  # it starts no transaction of its own
    await writer.submit(NewCommand("t", "d", "u", "light_on", {}))
    assert commits[0] == 1
    async with database.engine.connect() as connection:
        query = text("SELECT status FROM command WHERE id = :id")
        assert (await connection.execute(query, {"id": first.id})).scalar_one() == "dispatched"


async def test_a_write_queued_for_later_alone_commits_after_the_delay(database: Database) -> None:
    writer = GroupCommit(database.engine, lazy_delay=0.05)
    command = NewCommand("t", "d", "u", "light_on", {})
    await writer.submit(command)
    writer.submit_later(StatusChange(command.id, "dispatched"))
    for _ in range(200):  # up to 10 s; nothing else is ever submitted
        await asyncio.sleep(0.05)
        async with database.engine.connect() as connection:
            query = text("SELECT status FROM command WHERE id = :id")
            if (await connection.execute(query, {"id": command.id})).scalar_one() == "dispatched":
                break
    else:
        pytest.fail("the queued write was never committed")


async def test_drain_commits_what_is_queued_for_later_at_once(database: Database) -> None:
    writer = GroupCommit(database.engine, lazy_delay=3600)
    command = NewCommand("t", "d", "u", "light_on", {})
    await writer.submit(command)
    writer.submit_later(StatusChange(command.id, "dispatched"))
    await asyncio.wait_for(writer.drain(), timeout=30)  # not the hour of the lazy delay
    async with database.engine.connect() as connection:
        query = text("SELECT status FROM command WHERE id = :id")
        assert (await connection.execute(query, {"id": command.id})).scalar_one() == "dispatched"
