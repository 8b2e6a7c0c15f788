"""Default `CommandOutcomes` (see devicelink_ports): acks kept in the cache until the command engine
(issue 6) records them on its commands instead.

Each ack is stored under `hxtp:cmd_ack:<device_id>:<ref_message_id>` as JSON
`{"status": "acked"|"failed", "error": <text or null>, "at": <epoch ms>}` for `ttl` seconds, so the
outcome of a command sent a moment ago can be read back by whoever sent it (and by tests).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from server.cache.base import Cache

DEFAULT_TTL_S = 86400.0


@dataclass(frozen=True)
class AckRecord:
    status: str  # acked | failed, the command statuses of the REST contract
    error: str | None
    at_ms: int


class CachedOutcomes:
    def __init__(self, cache: Cache, ttl: float = DEFAULT_TTL_S) -> None:
        self._cache = cache
        self._ttl = ttl

    @staticmethod
    def _key(device_id: str, ref_message_id: str) -> str:
        return f"hxtp:cmd_ack:{device_id}:{ref_message_id}"

    async def record_ack(self, device_id: str, ref_message_id: str, ok: bool, error: str | None) -> None:
        record = {"status": "acked" if ok else "failed", "error": error, "at": time.time_ns() // 1_000_000}
        await self._cache.set(self._key(device_id, ref_message_id), json.dumps(record).encode(), self._ttl)

    async def get(self, device_id: str, ref_message_id: str) -> AckRecord | None:
        raw = await self._cache.get(self._key(device_id, ref_message_id))
        if raw is None:
            return None
        record = json.loads(raw)
        return AckRecord(record["status"], record["error"], record["at"])
