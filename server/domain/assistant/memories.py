"""An AI agent's memories, per tenant: what it stored (memory_type, optional subject, content) and
filtered reads, newest first. Another tenant's agent with the same id sees none of them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from server.domain import fields
from server.storage.database import Database
from server.storage.platform_tables import AgentMemory

MAX_LISTED = 500
MAX_CONTENT_BYTES = 64 * 1024


@dataclass(frozen=True)
class MemoryView:
    id: str
    agent_id: str
    memory_type: str
    subject: str | None
    content: dict[str, Any]
    created_at: datetime


class AgentMemories:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def store(
        self, tenant_id: str, agent_id: str, memory_type: str, content: dict[str, Any], subject: str | None
    ) -> str:
        encoded = json.dumps(content, separators=(",", ":"), sort_keys=True)
        if len(encoded.encode()) > MAX_CONTENT_BYTES:
            raise fields.bad("content", f"must be at most {MAX_CONTENT_BYTES} bytes of JSON")
        row = AgentMemory(
            tenant_id=tenant_id,
            agent_id=fields.text("agent_id", agent_id, 200),
            memory_type=fields.identifier("memory_type", memory_type),
            subject=fields.text("subject", subject, 200, required=False) or None,
            content_json=encoded,
        )
        async with self._db.session() as session:
            session.add(row)
            await session.commit()
        return row.id

    async def recall(
        self, tenant_id: str, agent_id: str, memory_type: str | None, subject: str | None
    ) -> list[MemoryView]:
        query = select(AgentMemory).where(
            AgentMemory.tenant_id == tenant_id, AgentMemory.agent_id == agent_id
        )
        if memory_type:
            query = query.where(AgentMemory.memory_type == memory_type)
        if subject:
            query = query.where(AgentMemory.subject == subject)
        async with self._db.session() as session:
            rows = await session.exec(
                query.order_by(col(AgentMemory.created_at).desc(), col(AgentMemory.id).desc()).limit(
                    MAX_LISTED
                )
            )
            return [
                MemoryView(
                    r.id, r.agent_id, r.memory_type, r.subject, json.loads(r.content_json), r.created_at
                )
                for r in rows
            ]
