"""Dry-run tokens: a confirmation ticket for exactly one approved command.

A token is bound to tenant, device, action, params and user, expires, and is single-use: it lives in
the cache (so any replica can confirm it) and confirming deletes it; only the caller whose delete
succeeded may dispatch, so two concurrent confirmations cannot both go through.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from server.cache.base import Cache
from server.domain.clock import iso
from server.errors import Code, HxtpError

_PREFIX = "dryrun:"


@dataclass(frozen=True)
class PendingCommand:
    tenant_id: str
    device_id: str
    user_id: str
    action: str
    params: dict[str, Any]


@dataclass(frozen=True)
class DryRunTicket:
    token: str
    expires_at: str
    ttl_seconds: int


class DryRunTokens:
    def __init__(self, cache: Cache) -> None:
        self._cache = cache

    async def issue(self, pending: PendingCommand, ttl_seconds: int) -> DryRunTicket:
        token = secrets.token_urlsafe(24)
        body = json.dumps(pending.__dict__, sort_keys=True, separators=(",", ":")).encode()
        await self._cache.set(_PREFIX + token, body, ttl=ttl_seconds)
        expires = datetime.now(UTC) + timedelta(seconds=ttl_seconds)
        return DryRunTicket(token, iso(expires), ttl_seconds)

    async def redeem(self, token: str, tenant_id: str, device_id: str, user_id: str) -> PendingCommand:
        """The approved command, consuming the token; DRY_RUN_TOKEN_INVALID for anything else."""
        key = _PREFIX + token
        body = await self._cache.get(key) if token else None
        if body is None:
            raise HxtpError(Code.DRY_RUN_TOKEN_INVALID, "Dry-run token is unknown, expired or already used")
        pending = PendingCommand(**json.loads(body))
        if (pending.tenant_id, pending.device_id, pending.user_id) != (tenant_id, device_id, user_id):
            # Not consumed: the rightful caller may still confirm it.
            raise HxtpError(Code.DRY_RUN_TOKEN_INVALID, "Dry-run token does not match this device or caller")
        if not await self._cache.delete(key):
            raise HxtpError(Code.DRY_RUN_TOKEN_INVALID, "Dry-run token is unknown, expired or already used")
        return pending
