"""The persisted command history: create, mark the outcome, read newest first.

Writes are units of work for the group-commit writer (server.storage.group_commit): a new command row
(`pending`, with the message id it will be published under) commits together with its audit entry
before anything is published, so whatever reaches a device has a row, and status changes (dispatched,
acked, failed, expired) share transactions with everyone else's.

A command still `pending` or `dispatched` after the acknowledgement window is reported (and stored)
as `expired` the first time anyone reads it, and a restart expires the commands a stopped process
left `pending` (committed, never published), so history never shows a command in flight forever.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select

from server.domain.fleet.devices import Devices
from server.errors import Code, HxtpError
from server.storage.bulk import BulkStatement
from server.storage.command_tables import Command
from server.storage.database import Database
from server.storage.group_commit import GroupCommit
from server.storage.models import new_id
from server.storage.types import utc_now

_TABLE: Table = Command.__table__  # type: ignore[attr-defined]
_INSERT = BulkStatement(insert(_TABLE), [column.name for column in _TABLE.columns])
IN_FLIGHT = ("pending", "dispatched")

DEFAULT_HISTORY = 50
MAX_HISTORY = 500


@dataclass(frozen=True)
class CommandView:
    id: str
    device_id: str
    action: str
    params: dict[str, Any]
    status: str
    message_id: str | None
    error: str | None
    created_at: datetime


def _view(row: Command) -> CommandView:
    return CommandView(
        row.id,
        row.device_id,
        row.action,
        json.loads(row.params_json),
        row.status,
        row.message_id,
        row.error,
        row.created_at,
    )


@dataclass(slots=True)
class NewCommand:
    """A command row, `pending` until it is published (a unit of work; its result is None)."""

    order: ClassVar[int] = 10
    tenant_id: str
    device_id: str
    user_id: str
    action: str
    params: dict[str, Any]
    message_id: str = field(default_factory=new_id)
    id: str = field(default_factory=new_id)

    @classmethod
    async def apply_all(cls, connection: AsyncConnection, items: Sequence[NewCommand]) -> list[None]:
        now = utc_now()
        rows = [
            {
                "id": item.id,
                "tenant_id": item.tenant_id,
                "device_id": item.device_id,
                "user_id": item.user_id,
                "action": item.action,
                "params_json": json.dumps(item.params, separators=(",", ":"), sort_keys=True),
                "status": "pending",
                "message_id": item.message_id,
                "error": None,
                "created_at": now,
                "updated_at": now,
            }
            for item in items
        ]
        await _INSERT.run(connection, rows)
        return [None] * len(items)


_STATUS_CHANGE = BulkStatement(
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("b_id"), _TABLE.c.status == bindparam("b_from"))
    .values(status=bindparam("b_status"), error=bindparam("b_error"), updated_at=bindparam("b_at"))
)


@dataclass(slots=True)
class StatusChange:
    """`pending` -> dispatched | failed, only from `from_status` (pending unless said): a status set
    by an ack that overtook it is never overwritten (a unit of work; its result is None)."""

    order: ClassVar[int] = 30
    command_id: str
    status: str
    error: str | None = None
    from_status: str = "pending"

    @classmethod
    async def apply_all(cls, connection: AsyncConnection, items: Sequence[StatusChange]) -> list[None]:
        now = utc_now()
        rows = [
            {
                "b_id": item.command_id,
                "b_from": item.from_status,
                "b_status": item.status,
                "b_error": item.error[:500] if item.error is not None else None,
                "b_at": now,
            }
            for item in items
        ]
        await _STATUS_CHANGE.run(connection, rows)
        return [None] * len(items)


@dataclass(slots=True)
class AckChange:
    """A device's ack of `message_id` (a unit of work): (tenant_id, command_id) when it matched."""

    order: ClassVar[int] = 40
    device_id: str
    message_id: str
    ok: bool
    error: str | None

    @classmethod
    async def apply_all(
        cls, connection: AsyncConnection, items: Sequence[AckChange]
    ) -> list[tuple[str, str] | None]:
        results: list[tuple[str, str] | None] = []
        for item in items:
            statement = (
                update(_TABLE)
                .where(_TABLE.c.message_id == item.message_id, _TABLE.c.device_id == item.device_id)
                .values(
                    status="acked" if item.ok else "failed",
                    error=None if item.ok else (item.error or "device reported failure")[:500],
                    updated_at=utc_now(),
                )
                .returning(_TABLE.c.tenant_id, _TABLE.c.id)
            )
            row = (await connection.execute(statement)).first()
            results.append(None if row is None else (str(row[0]), str(row[1])))
        return results


class CommandLog:
    def __init__(
        self, database: Database, ack_window: timedelta, devices: Devices, writer: GroupCommit | None = None
    ) -> None:
        self._db = database
        self._ack_window = ack_window
        self._devices = devices  # history is the device's: another tenant's device answers 404
        self.writer = writer if writer is not None else GroupCommit(database.engine)

    async def create(
        self, tenant_id: str, device_id: str, user_id: str, action: str, params: dict[str, Any]
    ) -> NewCommand:
        """A command row of the server's own (an OTA offer), committed `pending` before it is sent."""
        command = NewCommand(tenant_id, device_id, user_id, action, params)
        await self.writer.submit(command)
        return command

    async def mark_sent(self, command_id: str, error: str | None = None) -> None:
        """`pending` -> dispatched, or failed with `error` when it could not be sent."""
        await self.writer.submit(StatusChange(command_id, "dispatched" if error is None else "failed", error))

    async def mark_outcome(self, command_id: str, ok: bool, error: str | None = None) -> None:
        """`dispatched` -> acked | failed, from an outcome the device reported outside a cmd_ack."""
        change = StatusChange(command_id, "acked" if ok else "failed", error, from_status="dispatched")
        await self.writer.submit(change)

    async def record_ack(
        self, device_id: str, message_id: str, ok: bool, error: str | None
    ) -> tuple[str, str] | None:
        """The device's acknowledgement of `message_id`: (tenant_id, command_id) when it matched one."""
        (matched,) = await self.writer.submit(AckChange(device_id, message_id, ok, error))
        return matched  # type: ignore[no-any-return]

    async def resolve_left_in_flight(self, created_before: datetime) -> int:
        """Expires the commands a stopped process left `pending`: committed, and either never
        published or published without the publish being recorded. Nothing will publish them now;
        a device's ack still moves one to acked or failed. Returns how many."""
        async with self._db.engine.begin() as connection:
            result = await connection.execute(
                update(_TABLE)
                .where(_TABLE.c.status == "pending", _TABLE.c.created_at < created_before)
                .values(
                    status="expired",
                    error="the server stopped before recording this command's publish",
                    updated_at=utc_now(),
                )
            )
        return int(result.rowcount)

    async def _expire_stale(self, rows: list[Command]) -> None:
        cutoff = utc_now() - self._ack_window
        stale = [r for r in rows if r.status in IN_FLIGHT and r.created_at < cutoff]
        if not stale:
            return
        async with self._db.engine.begin() as connection:
            # Only rows still in flight: an ack committed since the read is never overwritten.
            await connection.execute(
                update(_TABLE)
                .where(_TABLE.c.id.in_([r.id for r in stale]), _TABLE.c.status.in_(IN_FLIGHT))
                .values(status="expired", updated_at=utc_now())
            )
        for row in stale:
            row.status = "expired"

    async def history(self, tenant_id: str, device_id: str, limit: int, offset: int = 0) -> list[CommandView]:
        if limit < 0 or limit > MAX_HISTORY:
            raise HxtpError(Code.BAD_REQUEST, f"limit must be between 0 and {MAX_HISTORY}", field="limit")
        if offset < 0:
            raise HxtpError(Code.BAD_REQUEST, "offset must not be negative", field="offset")
        await self._devices.get(tenant_id, device_id)
        await self.writer.caught_up()
        async with self._db.session() as session:
            rows = list(
                await session.exec(
                    select(Command)
                    .where(Command.tenant_id == tenant_id, Command.device_id == device_id)
                    .order_by(col(Command.created_at).desc(), col(Command.id).desc())
                    .offset(offset)
                    .limit(limit or DEFAULT_HISTORY)
                )
            )
        await self._expire_stale(rows)
        return [_view(r) for r in rows]

    async def get(self, tenant_id: str, command_id: str) -> CommandView:
        await self.writer.caught_up()
        async with self._db.session() as session:
            row = await session.get(Command, command_id) if len(command_id) <= 36 else None
        if row is None or row.tenant_id != tenant_id:
            raise HxtpError(Code.NOT_FOUND, "Command not found", field="command_id")
        await self._expire_stale([row])
        return _view(row)
