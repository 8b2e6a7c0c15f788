"""Run as a separate process by the tests: append N audit rows to a database (alternating tenants t
and u), starting at a given time.

    python -m tests.audit.appender <async database URL> <label> <count> <start at, epoch seconds>

The shared start time lines the processes up after their (uneven) import times, so they append at once.
"""

from __future__ import annotations

import asyncio
import sys
import time

from server.domain.audit.log import AuditLog
from server.storage.database import Database


async def _append(url: str, label: str, count: int, start_at: float) -> None:
    database = Database(url)
    try:
        audit = AuditLog(database)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        for n in range(count):
            tenant = ("t", "u")[n % 2]
            await audit.append("command_executed", tenant_id=tenant, details={"by": label, "n": n})
    finally:
        await database.dispose()


if __name__ == "__main__":
    url, label, count, start_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    asyncio.run(_append(url, label, count, start_at))
