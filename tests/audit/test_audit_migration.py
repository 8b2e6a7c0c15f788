"""Rows written as one chain across tenants (before per-tenant chains) still verify after the upgrade."""

from __future__ import annotations

import asyncio
import hashlib
import json

from sqlalchemy import text

from server.domain.audit.chain import GENESIS_HASH
from server.domain.audit.log import AuditLog
from server.storage.database import Database
from server.storage.migrate import downgrade_migrations, run_migrations


def _old_rows(count: int) -> list[dict[str, object]]:
    rows, prev = [], GENESIS_HASH
    for n in range(1, count + 1):
        fields = {
            "row_id": n,
            "event_type": "command_executed",
            "tenant_id": f"t{n % 2}",  # two tenants interleaved in the one old chain
            "user_id": None,
            "device_id": None,
            "action": None,
            "result": "SUCCESS",
            "timestamp": "2026-01-01T00:00:00.000000Z",
            "details": "{}",
        }
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256((prev + canonical).encode()).hexdigest()
        rows.append({**fields, "prev_hash": prev, "row_hash": digest})
        prev = digest
    return rows


async def _write_old_chain(url: str, rows: list[dict[str, object]]) -> None:
    database = Database(url)
    try:
        async with database.session() as session:
            for row in rows:
                await session.exec(
                    text(
                        "INSERT INTO audit_log (row_id, prev_hash, row_hash, event_type, tenant_id, user_id,"
                        " device_id, action, result, timestamp, details) VALUES (:row_id, :prev_hash,"
                        " :row_hash, :event_type, :tenant_id, :user_id, :device_id, :action, :result,"
                        " :timestamp, :details)"
                    ).bindparams(**row)
                )
            last = rows[-1]
            await session.exec(
                text("UPDATE audit_chain_head SET last_row_id = :n, last_hash = :h").bindparams(
                    n=last["row_id"], h=last["row_hash"]
                )
            )
            await session.commit()
    finally:
        await database.dispose()


async def _verify(url: str) -> tuple[list[tuple[str, int, bool]], int]:
    database = Database(url)
    try:
        audit = AuditLog(database)
        await audit.append("command_executed", tenant_id="t1")
        report = await audit.verify()
        return [(chain, r.count, r.intact) for chain, r in report.chains], report.count
    finally:
        await database.dispose()


def test_the_old_single_chain_becomes_chain_star_and_new_rows_go_per_tenant(database_url: str) -> None:
    downgrade_migrations(database_url, "0004_audit")
    rows = _old_rows(5)
    asyncio.run(_write_old_chain(database_url, rows))
    run_migrations(database_url)
    chains, count = asyncio.run(_verify(database_url))
    assert chains == [("*", 5, True), ("t1", 1, True)]
    assert count == 6
