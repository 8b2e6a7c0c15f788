"""The append-only, hash-chained audit log (contract §8.1), one chain per tenant.

``await audit.append("command_executed", tenant_id=..., user_id=..., device_id=..., action=...,
result="SUCCESS", details={...})`` adds one row to the tenant's chain; ``await audit.verify()`` walks
every chain. The encoding that ``row_hash`` covers is documented in ``server.domain.audit.chain``.

Appends go through the group-commit writer (server.storage.group_commit): ``audit.entry(...)`` is a
unit of work that a caller can commit together with its own rows (a command and its audit entry are
one transaction), and concurrent appends share a transaction. ``AuditAppend.apply_all`` appends a
batch chain by chain: its first statement for a chain is ``UPDATE audit_chain SET last_row_id =
last_row_id + <n> ... RETURNING``, which on PostgreSQL takes that head row's lock, so a concurrent
append to the same chain (another engine or server process) waits until this one commits and then
reads the new head, while other tenants' chains are not held up; on SQLite it takes the database's
single write lock. Chains are taken in sorted order, so two writers never wait on each other in a
cycle. The primary key (chain_id, row_id) backs this up: a fork would be a duplicate key, never a
silent second chain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from server.domain.audit.chain import (
    GENESIS_HASH,
    AuditEntry,
    AuditReport,
    ChainReport,
    ChainWalker,
    canonical_json,
    iso_timestamp,
    row_hash,
)
from server.domain.identity.principal import acting
from server.storage.audit_tables import LEGACY_CHAIN, AuditChainHead, AuditEntryRow
from server.storage.bulk import BulkStatement
from server.storage.database import Database
from server.storage.group_commit import GroupCommit

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
_LOG: Table = AuditEntryRow.__table__  # type: ignore[attr-defined]
# Built once: every group commit runs them, and building a statement costs more than running it.
_CLAIM = (
    update(_HEAD)
    .where(_HEAD.c.chain_id == bindparam("b_chain"))
    .values(last_row_id=_HEAD.c.last_row_id + bindparam("b_count"))
    .returning(_HEAD.c.last_row_id, _HEAD.c.last_hash)
)
_SET_LAST_HASH = BulkStatement(
    update(_HEAD).where(_HEAD.c.chain_id == bindparam("b_chain")).values(last_hash=bindparam("b_hash"))
)
_COLUMNS = (
    "row_id",
    "prev_hash",
    "row_hash",
    "event_type",
    "tenant_id",
    "user_id",
    "device_id",
    "action",
    "result",
    "timestamp",
    "details",
    "chain_id",
)
_APPEND = BulkStatement(insert(_LOG), _COLUMNS)


def chain_of(tenant_id: str | None) -> str:
    return tenant_id or ""


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


async def _claim(connection: AsyncConnection, chain_id: str, count: int) -> tuple[int, str]:
    """Advances the chain's head by `count` rows: (the last row_id before them, its hash)."""
    claim = {"b_chain": chain_id, "b_count": count}
    row = (await connection.execute(_CLAIM, claim)).first()
    if row is None:  # the chain's first rows: create its head (a concurrent creator wins harmlessly)
        dialect_insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
        await connection.execute(
            dialect_insert(_HEAD)
            .values(chain_id=chain_id, last_row_id=0, last_hash=GENESIS_HASH)
            .on_conflict_do_nothing()
        )
        row = (await connection.execute(_CLAIM, claim)).one()
    return int(row[0]) - count, str(row[1])


@dataclass(slots=True)
class AuditAppend:
    """One audit row to append (a unit of work for the group-commit writer); its result is the
    stored AuditEntry."""

    order: ClassVar[int] = 20
    fields: dict[str, Any]

    @property
    def chain_id(self) -> str:
        return chain_of(self.fields["tenant_id"])

    @classmethod
    async def apply_all(cls, connection: AsyncConnection, items: Sequence[AuditAppend]) -> list[AuditEntry]:
        by_chain: dict[str, list[int]] = {}
        for index, item in enumerate(items):
            by_chain.setdefault(item.chain_id, []).append(index)
        results: list[AuditEntry | None] = [None] * len(items)
        for chain_id in sorted(by_chain):  # one lock order for every writer
            indexes = by_chain[chain_id]
            last_row_id, prev_hash = await _claim(connection, chain_id, len(indexes))
            rows = []
            for offset, index in enumerate(indexes):
                hashed = {**items[index].fields, "row_id": last_row_id + offset + 1}
                digest = row_hash(prev_hash, hashed)
                entry = AuditEntry(prev_hash=prev_hash, row_hash=digest, chain_id=chain_id, **hashed)
                rows.append({name: getattr(entry, name) for name in _COLUMNS})
                results[index], prev_hash = entry, digest
            await _APPEND.run(connection, rows)
            await _SET_LAST_HASH.run(connection, [{"b_chain": chain_id, "b_hash": prev_hash}])
        return [entry for entry in results if entry is not None]


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(**{name: getattr(row, name) for name in _COLUMNS})


class AuditLog:
    def __init__(self, database: Database, writer: GroupCommit | None = None) -> None:
        self._database = database
        self._writer = writer if writer is not None else GroupCommit(database.engine)

    def entry(
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
    ) -> AuditAppend:
        """One row to append, checked (ValueError) before anything is written."""
        return AuditAppend(
            {
                "event_type": _checked("event_type", event_type, required=True),
                "tenant_id": _checked("tenant_id", tenant_id),
                "user_id": _checked("user_id", user_id if user_id is not None else _acting_user()),
                "device_id": _checked("device_id", device_id),
                "action": _checked("action", action),
                "result": _checked("result", result, required=True),
                "timestamp": iso_timestamp(at or datetime.now(UTC)),
                "details": canonical_json(dict(details or {})),
            }
        )

    async def append(self, event_type: str, **fields: Any) -> AuditEntry:
        """Appends one row (the arguments of `entry`) at the end of its tenant's chain and returns
        it, once committed."""
        (entry,) = await self._writer.submit(self.entry(event_type, **fields))
        return entry  # type: ignore[no-any-return]

    async def chain_ids(self) -> list[str]:
        async with self._database.engine.connect() as connection:
            heads = (await connection.execute(select(_HEAD.c.chain_id))).scalars().all()
            logged = (await connection.execute(select(_LOG.c.chain_id).distinct())).scalars().all()
        return sorted({*heads, *logged})

    async def verify(self) -> AuditReport:
        """Walks every chain from its row 1; names each chain's first row that does not check out."""
        return AuditReport(
            tuple([(chain, await self.verify_chain(chain)) for chain in await self.chain_ids()])
        )

    async def verify_chain(self, chain_id: str) -> ChainReport:
        legacy = chain_id == LEGACY_CHAIN
        walker = ChainWalker(tenant_id=chain_id or None, any_tenant=legacy)
        after = 0
        async with self._database.engine.connect() as connection:
            while True:
                batch = (
                    await connection.execute(
                        select(_LOG)
                        .where(_LOG.c.chain_id == chain_id, _LOG.c.row_id > after)
                        .order_by(_LOG.c.row_id)
                        .limit(_VERIFY_BATCH)
                    )
                ).all()
                if not batch or not walker.feed(_entry(row) for row in batch):
                    break
                after = batch[-1].row_id
            head = (await connection.execute(select(_HEAD).where(_HEAD.c.chain_id == chain_id))).first()
        if head is None:
            return ChainReport(walker.count, None, "the chain head row is missing")
        return walker.finish(head.last_row_id, head.last_hash)

    async def entries(
        self, tenant_id: str | None = None, after_row_id: int = 0, limit: int = 100
    ) -> list[AuditEntry]:
        """A tenant's chain in order after ``after_row_id`` (for tools and tests)."""
        async with self._database.engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(_LOG)
                    .where(_LOG.c.chain_id == chain_of(tenant_id), _LOG.c.row_id > after_row_id)
                    .order_by(_LOG.c.row_id)
                    .limit(limit)
                )
            ).all()
        return [_entry(row) for row in rows]
