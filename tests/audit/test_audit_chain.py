"""The audit chains (one per tenant): the documented encoding, appends under concurrency, and tamper
detection per chain."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from server.domain.audit.chain import GENESIS_HASH
from server.domain.audit.log import AuditLog
from server.storage.database import Database


async def test_a_row_hash_is_the_documented_encoding(audit: AuditLog) -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    first = await audit.append(
        "command_executed",
        tenant_id="tenant-1",
        user_id="user-1",
        device_id="dev-1",
        action="light_on",
        details={"params": {"b": 1, "a": "é"}, "command_id": "c1"},
        at=at,
    )
    # Written out by hand, independently of the code under test.
    canonical = (
        '{"action":"light_on","details":"{\\"command_id\\":\\"c1\\",\\"params\\":{\\"a\\":\\"é\\",\\"b\\":1}}",'
        '"device_id":"dev-1","event_type":"command_executed","result":"SUCCESS","row_id":1,'
        '"tenant_id":"tenant-1","timestamp":"2026-01-02T03:04:05.678901Z","user_id":"user-1"}'
    )
    assert first.row_id == 1 and first.prev_hash == GENESIS_HASH == "0" * 64
    assert first.row_hash == hashlib.sha256((GENESIS_HASH + canonical).encode()).hexdigest()
    second = await audit.append("command_rejected", tenant_id="tenant-1", result="RESTRICTED_ACTION")
    assert second.row_id == 2 and second.prev_hash == first.row_hash
    # Another chain (no tenant) starts at its own genesis.
    other = await audit.append("command_rejected", tenant_id=None, result="RESTRICTED_ACTION")
    assert other.row_id == 1 and other.prev_hash == GENESIS_HASH and other.chain_id == ""
    assert json.loads(other.details) == {} and other.user_id is None
    report = await audit.verify()
    assert report.intact and report.count == 3
    assert [chain for chain, _ in report.chains] == ["", "tenant-1"]
    assert [e.row_id for e in await audit.entries("tenant-1")] == [1, 2]


async def test_an_empty_chain_verifies(audit: AuditLog) -> None:
    report = await audit.verify()
    assert report.intact and report.count == 0


async def test_bad_arguments_are_refused_before_anything_is_written(audit: AuditLog) -> None:
    with pytest.raises(ValueError, match="event_type"):
        await audit.append("", tenant_id="t")
    with pytest.raises(ValueError, match="action"):
        await audit.append("command_executed", tenant_id="t", action="x" * 129)
    with pytest.raises(ValueError, match=r"NaN|JSON"):
        await audit.append("command_executed", tenant_id="t", details={"v": float("nan")})
    assert (await audit.verify()).count == 0


async def test_concurrent_appends_form_one_chain_per_tenant(audit: AuditLog) -> None:
    await asyncio.gather(*(audit.append("command_executed", tenant_id=f"t{n % 3}") for n in range(60)))
    report = await audit.verify()
    assert report.intact and report.count == 60
    assert [(chain, r.count) for chain, r in report.chains] == [("t0", 20), ("t1", 20), ("t2", 20)]


async def test_two_engines_appending_at_once_form_one_chain(database_url: str) -> None:
    # Two engines = two connection pools, as two server processes would have; on PostgreSQL only the
    # database's locking keeps them from forking the chain.
    first, second = Database(database_url), Database(database_url)
    try:
        logs = [AuditLog(first), AuditLog(second)]
        await asyncio.gather(
            *(logs[n % 2].append("command_executed", tenant_id="t", details={"n": n}) for n in range(80))
        )
        report = await logs[0].verify()
        assert report.intact and report.count == 80
        numbers = sorted(json.loads(e.details)["n"] for e in await logs[1].entries("t", limit=100))
        assert numbers == list(range(80))
    finally:
        await first.dispose()
        await second.dispose()


@pytest.mark.parametrize(
    ("statement", "bad_row"),
    [
        ("UPDATE audit_log SET result = 'SUCCESS' WHERE row_id = 4", 4),
        ("UPDATE audit_log SET details = '{\"n\": 1}' WHERE row_id = 2", 2),
        ("UPDATE audit_log SET timestamp = '2020-01-01T00:00:00.000000Z' WHERE row_id = 6", 6),
        ("DELETE FROM audit_log WHERE row_id = 3", 3),
        ("DELETE FROM audit_log WHERE row_id = 6", 6),
        ("UPDATE audit_log SET prev_hash = row_hash WHERE row_id = 5", 5),
    ],
)
async def test_verify_names_the_tampered_row(
    audit: AuditLog, database: Database, statement: str, bad_row: int
) -> None:
    for n in range(6):
        for tenant in ("t", "u"):
            await audit.append(
                "command_rejected", tenant_id=tenant, result="PARAMS_INVALID", details={"n": n}
            )
    assert (await audit.verify()).intact
    async with database.session() as session:
        await session.exec(text(f"{statement} AND chain_id = 't'"))
        await session.commit()
    report = await audit.verify()
    assert not report.intact
    [(chain, broken)] = report.broken()  # the other tenant's chain still verifies on its own
    assert chain == "t" and broken.first_bad_row == bad_row, broken.problem
    assert report.chain("u").intact and report.chain("u").count == 6


async def test_a_row_moved_into_another_tenants_chain_is_detected(
    audit: AuditLog, database: Database
) -> None:
    for tenant in ("t", "u"):
        await audit.append("command_executed", tenant_id=tenant)
    async with database.session() as session:
        # Row 1 of u re-labelled as row 2 of t, hash and all: its hashed tenant_id gives it away.
        await session.exec(text("UPDATE audit_log SET chain_id = 't', row_id = 2 WHERE chain_id = 'u'"))
        await session.exec(text("UPDATE audit_chain SET last_row_id = 2 WHERE chain_id = 't'"))
        await session.commit()
    broken = dict(report for report in (await audit.verify()).broken())
    assert broken["t"].first_bad_row == 2
