"""Dry-run tokens: a confirmation ticket for exactly one approved command.

A token is bound to tenant, device, action, params and user, expires, and is single-use: it lives in
the cache (so any replica can confirm it) and confirming deletes it; only the caller whose delete
succeeded may dispatch, so two concurrent confirmations cannot both go through. A confirmation the
device's limits refuse hands its token back (`restore`) for the rest of its life: the person did
nothing wrong and may try again before it expires.
"""

from __future__ import annotations

import json
import secrets
import time
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
        fields = {**pending.__dict__, "expires": time.time() + ttl_seconds}
        body = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
        await self._cache.set(_PREFIX + token, body, ttl=ttl_seconds)
        expires = datetime.now(UTC) + timedelta(seconds=ttl_seconds)
        return DryRunTicket(token, iso(expires), ttl_seconds)

    async def restore(self, token: str, pending: PendingCommand, expires: float) -> None:
        """Makes a redeemed token usable again until its original expiry (never longer)."""
        remaining = expires - time.time()
        if remaining > 0:
            fields = {**pending.__dict__, "expires": expires}
            body = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
            await self._cache.set_if_absent(_PREFIX + token, body, ttl=remaining)

    async def redeem(self, token: str, tenant_id: str, device_id: str, user_id: str) -> PendingCommand:
        """The approved command, consuming the token; DRY_RUN_TOKEN_INVALID for anything else."""
        pending, _ = await self.redeem_until(token, tenant_id, device_id, user_id)
        return pending

    async def redeem_until(
        self, token: str, tenant_id: str, device_id: str, user_id: str
    ) -> tuple[PendingCommand, float]:
        """`redeem`, and when the token would have expired (epoch seconds), for `restore`."""
        key = _PREFIX + token
        body = await self._cache.get(key) if token else None
        if body is None:
            raise HxtpError(Code.DRY_RUN_TOKEN_INVALID, "Dry-run token is unknown, expired or already used")
        fields = json.loads(body)
        expires = float(fields.pop("expires", 0.0))
        pending = PendingCommand(**fields)
        if (pending.tenant_id, pending.device_id, pending.user_id) != (tenant_id, device_id, user_id):
            # Not consumed: the rightful caller may still confirm it.
            raise HxtpError(Code.DRY_RUN_TOKEN_INVALID, "Dry-run token does not match this device or caller")
        if not await self._cache.delete(key):
            raise HxtpError(Code.DRY_RUN_TOKEN_INVALID, "Dry-run token is unknown, expired or already used")
        return pending, expires
