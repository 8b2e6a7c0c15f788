"""The append-only, hash-chained audit log (contract §8.1).

``await audit.append("command_executed", tenant_id=..., user_id=..., device_id=..., action=...,
result="SUCCESS", details={...})`` adds one row; ``await audit.verify()`` walks the chain. The
encoding that ``row_hash`` covers is documented in ``server.domain.audit.chain``.

Concurrency: every append runs in one transaction whose first statement is
``UPDATE audit_chain_head SET last_row_id = last_row_id + 1 ... RETURNING``. On PostgreSQL that takes
the head row's lock, so a concurrent append (another task, engine or server process) waits until this
one commits and then reads the new head; on SQLite a first statement that writes takes the database's
single write lock (waiting out ``busy_timeout``), with no stale read snapshot to upgrade. Either way the
previous hash read and the new row inserted form one step, so the chain never forks. Within one process
on SQLite an asyncio lock queues appends first, so they do not spin on the file lock. The primary key
on ``row_id`` backs this up: a fork would be a duplicate key, never a silent second chain.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, Update, update
from sqlmodel import col, select

from server.domain.audit.chain import (
    AuditEntry,
    ChainReport,
    ChainWalker,
    canonical_json,
    iso_timestamp,
    row_hash,
)
from server.domain.identity.principal import acting
from server.storage.audit_tables import CHAIN_HEAD_ID, AuditChainHead, AuditEntryRow
from server.storage.database import Database

SUCCESS = "SUCCESS"
_VERIFY_BATCH = 1000
_TEXT_LIMITS = {
    "event_type": 64,
    "result": 64,
    "action": 128,
    "device_id": 64,
    "user_id": 255,
    "tenant_id": 36,
}

_HEAD: Table = AuditChainHead.__table__  # type: ignore[attr-defined]  # SQLModel sets it at class creation
# Core statements (not ORM bulk updates): nothing to synchronise in the session, just the SQL.
_CLAIM_NEXT_ROW = (
    update(_HEAD)
    .where(_HEAD.c.id == CHAIN_HEAD_ID)
    .values(last_row_id=_HEAD.c.last_row_id + 1)
    .returning(_HEAD.c.last_row_id, _HEAD.c.last_hash)
)


def _move_head(new_hash: str) -> Update:
    return update(_HEAD).where(_HEAD.c.id == CHAIN_HEAD_ID).values(last_hash=new_hash)


def _acting_user() -> str | None:
    principal = acting()
    return principal.user_id if principal is not None else None


def _checked(name: str, value: str | None, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise ValueError(f"audit {name} must not be empty")
        return None
    if len(value) > _TEXT_LIMITS[name]:
        raise ValueError(f"audit {name} is longer than {_TEXT_LIMITS[name]} characters")
    return value


def _entry(row: AuditEntryRow) -> AuditEntry:
    return AuditEntry(
        row_id=row.row_id,
        prev_hash=row.prev_hash,
        row_hash=row.row_hash,
        event_type=row.event_type,
        tenant_id=row.tenant_id,
        user_id=row.user_id,
        device_id=row.device_id,
        action=row.action,
        result=row.result,
        timestamp=row.timestamp,
        details=row.details,
    )


class AuditLog:
    def __init__(self, database: Database) -> None:
        self._database = database
        # SQLite has one writer; queue this process's appends instead of contending for the file lock.
        self._local_lock = asyncio.Lock() if database.engine.dialect.name == "sqlite" else None

    async def append(
        self,
        event_type: str,
        *,
        tenant_id: str | None,
        user_id: str | None = None,
        device_id: str | None = None,
        action: str | None = None,
        result: str = SUCCESS,
        details: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> AuditEntry:
        """Appends one row at the end of the chain and returns it (with its row_id and hashes)."""
        fields: dict[str, Any] = {
            "event_type": _checked("event_type", event_type, required=True),
            "tenant_id": _checked("tenant_id", tenant_id),
            "user_id": _checked("user_id", user_id if user_id is not None else _acting_user()),
            "device_id": _checked("device_id", device_id),
            "action": _checked("action", action),
            "result": _checked("result", result, required=True),
            "timestamp": iso_timestamp(at or datetime.now(UTC)),
            "details": canonical_json(dict(details or {})),
        }
        if self._local_lock is None:
            return await self._append(fields)
        async with self._local_lock:
            return await self._append(fields)

    async def _append(self, fields: dict[str, Any]) -> AuditEntry:
        async with self._database.session() as session:
            claimed = (await session.exec(_CLAIM_NEXT_ROW)).one()
            row_id, prev_hash = int(claimed[0]), str(claimed[1])
            hashed = {**fields, "row_id": row_id}
            row = AuditEntryRow(prev_hash=prev_hash, row_hash=row_hash(prev_hash, hashed), **hashed)
            session.add(row)
            await session.flush()
            await session.exec(_move_head(row.row_hash))
            await session.commit()
            return _entry(row)

    async def verify(self) -> ChainReport:
        """Walks the whole chain from row 1; names the first row that does not check out."""
        walker = ChainWalker()
        after = 0
        async with self._database.session() as session:
            while True:
                batch = (
                    await session.exec(
                        select(AuditEntryRow)
                        .where(col(AuditEntryRow.row_id) > after)
                        .order_by(col(AuditEntryRow.row_id))
                        .limit(_VERIFY_BATCH)
                    )
                ).all()
                if not batch or not walker.feed(_entry(row) for row in batch):
                    break
                after = batch[-1].row_id
            head = await session.get(AuditChainHead, CHAIN_HEAD_ID)
        if head is None:
            return ChainReport(walker.count, None, "the chain head row is missing")
        return walker.finish(head.last_row_id, head.last_hash)

    async def entries(self, after_row_id: int = 0, limit: int = 100) -> list[AuditEntry]:
        """Rows in chain order after ``after_row_id`` (for tools and tests; no tenant filter)."""
        async with self._database.session() as session:
            rows = (
                await session.exec(
                    select(AuditEntryRow)
                    .where(col(AuditEntryRow.row_id) > after_row_id)
                    .order_by(col(AuditEntryRow.row_id))
                    .limit(limit)
                )
            ).all()
        return [_entry(row) for row in rows]
