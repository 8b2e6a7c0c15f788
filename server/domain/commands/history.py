"""The persisted command history: create, mark the outcome, read newest first.

A command still `dispatched` after the acknowledgement window is reported (and stored) as `expired`
the first time anyone reads it, so history never shows a command as in flight forever.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from server.domain.fleet.devices import Devices
from server.errors import Code, HxtpError
from server.storage.command_tables import Command
from server.storage.database import Database
from server.storage.types import utc_now

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


class CommandLog:
    def __init__(self, database: Database, ack_window: timedelta, devices: Devices) -> None:
        self._db = database
        self._ack_window = ack_window
        self._devices = devices  # history is the device's: another tenant's device answers 404

    async def create(
        self, tenant_id: str, device_id: str, user_id: str, action: str, params: dict[str, Any]
    ) -> str:
        row = Command(
            tenant_id=tenant_id,
            device_id=device_id,
            user_id=user_id,
            action=action,
            params_json=json.dumps(params, separators=(",", ":"), sort_keys=True),
        )
        async with self._db.session() as session:
            session.add(row)
            await session.commit()
        return row.id

    async def mark(
        self, command_id: str, status: str, message_id: str | None = None, error: str | None = None
    ) -> None:
        async with self._db.session() as session:
            row = await session.get(Command, command_id)
            if row is None:
                return
            row.status, row.updated_at = status, utc_now()
            if message_id is not None:
                row.message_id = message_id
            if error is not None:
                row.error = error[:500]
            session.add(row)
            await session.commit()

    async def record_ack(
        self, device_id: str, message_id: str, ok: bool, error: str | None
    ) -> tuple[str, str] | None:
        """The device's acknowledgement of `message_id`: (tenant_id, command_id) when it matched one."""
        async with self._db.session() as session:
            rows = await session.exec(
                select(Command).where(Command.message_id == message_id, Command.device_id == device_id)
            )
            row = rows.first()
            if row is None:
                return None
            row.status = "acked" if ok else "failed"
            row.error = None if ok else (error or "device reported failure")[:500]
            row.updated_at = utc_now()
            session.add(row)
            await session.commit()
            return row.tenant_id, row.id

    async def _expire_stale(self, rows: list[Command]) -> None:
        cutoff = utc_now() - self._ack_window
        stale = [r for r in rows if r.status == "dispatched" and r.created_at < cutoff]
        if not stale:
            return
        async with self._db.session() as session:
            for row in stale:
                row.status, row.updated_at = "expired", utc_now()
                session.add(row)
            await session.commit()

    async def history(self, tenant_id: str, device_id: str, limit: int, offset: int = 0) -> list[CommandView]:
        if limit < 0 or limit > MAX_HISTORY:
            raise HxtpError(Code.BAD_REQUEST, f"limit must be between 0 and {MAX_HISTORY}", field="limit")
        if offset < 0:
            raise HxtpError(Code.BAD_REQUEST, "offset must not be negative", field="offset")
        await self._devices.get(tenant_id, device_id)
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
        async with self._db.session() as session:
            row = await session.get(Command, command_id) if len(command_id) <= 36 else None
        if row is None or row.tenant_id != tenant_id:
            raise HxtpError(Code.NOT_FOUND, "Command not found", field="command_id")
        await self._expire_stale([row])
        return _view(row)
