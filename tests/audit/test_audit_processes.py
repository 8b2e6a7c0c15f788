"""Server processes on one database keep one chain per tenant; `hxtp-cloud audit verify` reports on
every chain."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from server.domain.audit.log import AuditLog
from server.storage.database import Database

# Each test runs child processes (appenders, the CLI).
pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PER_PROCESS = 60
TENANTS = ("t", "u")  # every writer appends to both chains, alternating


async def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def _verify_cli(database_url: str, tmp_path: Path) -> tuple[int, str, str]:
    return await _run(
        "-m",
        "server",
        "audit",
        "verify",
        env={"HXTP_DATABASE_URL": database_url, "HXTP_DATA_DIR": str(tmp_path), "HXTP_LOG_LEVEL": "warning"},
    )


async def test_two_processes_and_this_one_append_into_each_tenants_chain(
    database_url: str, audit: AuditLog, tmp_path: Path
) -> None:
    start_at = f"{time.time() + 2.0:.3f}"
    appenders = [
        _run("-m", "tests.audit.appender", database_url, label, str(PER_PROCESS), start_at)
        for label in ("p1", "p2")
    ]

    async def append_here() -> None:
        await asyncio.sleep(max(0.0, float(start_at) - time.time()))
        for n in range(PER_PROCESS):
            await audit.append("command_executed", tenant_id=TENANTS[n % 2], details={"by": "p0", "n": n})

    results = await asyncio.gather(*appenders, append_here())
    for result in results[:2]:
        assert result is not None and result[0] == 0, result
    report = await audit.verify()
    assert report.intact and report.count == 3 * PER_PROCESS, report
    assert [chain for chain, _ in report.chains] == list(TENANTS)
    by_writer: dict[str, list[int]] = {}
    switches = 0
    for tenant in TENANTS:
        entries = await audit.entries(tenant, limit=10 * PER_PROCESS)
        for entry in entries:
            details = json.loads(entry.details)
            by_writer.setdefault(details["by"], []).append(details["n"])
        switches += sum(1 for a, b in itertools.pairwise(entries) if a.details[:12] != b.details[:12])
    # Each writer's rows appear in its own order within each chain, and nobody's row was lost.
    assert {label: sorted(ns) for label, ns in by_writer.items()} == {
        label: list(range(PER_PROCESS)) for label in ("p0", "p1", "p2")
    }
    # The writers really overlapped: the chains interleave them rather than holding runs.
    assert switches > 2

    code, out, err = await _verify_cli(database_url, tmp_path)
    assert code == 0, err
    assert f"audit chains intact: {3 * PER_PROCESS} row(s) in 2 chain(s) verified" in out


async def test_verify_command_names_the_modified_row(
    database_url: str, database: Database, audit: AuditLog, tmp_path: Path
) -> None:
    for n in range(5):
        for tenant in TENANTS:
            await audit.append("command_executed", tenant_id=tenant, device_id=f"d{n}", action="light_on")
    async with database.session() as session:
        await session.exec(text("UPDATE audit_log SET action = 'unlock' WHERE row_id = 3 AND chain_id = 'u'"))
        await session.commit()
    code, _, err = await _verify_cli(database_url, tmp_path)
    assert code == 1
    assert "audit chain of tenant u BROKEN at row 3: row_hash does not match the row's contents" in err
    assert "rows 1..2 verify" in err
    assert "tenant t" not in err
