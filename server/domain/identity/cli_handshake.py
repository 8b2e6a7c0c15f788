"""The CLI's browser login (contract §2): the CLI draws a code `HXT-<64 hex>`, opens
/auth/cli?code=... in the browser and polls /auth/handshake/{code}; a signed-in user approves (or
denies) the code in the browser; the next poll receives a fresh CLI token, exactly once.

State lives in the cache so any replica can serve any step. A code lives 5 minutes from the moment
the browser first shows it (or from its approval, when a dashboard approves it directly). The code's
256 bits of entropy are the secret: polling needs no credential.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

from server.cache.base import Cache
from server.domain.identity.principal import Principal
from server.domain.identity.tokens import TokenService
from server.errors import Code, HxtpError

CODE_PATTERN = re.compile(r"^HXT-[0-9a-f]{64}$")
TTL_SECONDS = 300.0
PENDING, APPROVED, DENIED, USED = "pending", "approved", "denied", "used"


def check_code(code: str) -> str:
    if not CODE_PATTERN.match(code):
        raise HxtpError(Code.BAD_REQUEST, "code must be HXT- followed by 64 lowercase hex characters")
    return code


@dataclass(frozen=True)
class PollResult:
    status: str  # pending | approved
    token: str | None = None


class CliHandshakes:
    def __init__(self, cache: Cache, tokens: TokenService, ttl_seconds: float = TTL_SECONDS) -> None:
        self._cache = cache
        self._tokens = tokens
        self._ttl = ttl_seconds

    @staticmethod
    def _key(code: str) -> str:
        return "cli-handshake:" + code

    async def open(self, code: str) -> str:
        """The browser shows the code: it becomes pending (if new) and its status is returned."""
        code = check_code(code)
        if await self._cache.get(self._key(code) + ":decided") is not None and await self._read(code) is None:
            # Decided and its token collected: reopening the link must not offer it for approval again.
            return USED
        record = {"status": PENDING, "expires_at": time.time() + self._ttl}
        await self._cache.set_if_absent(self._key(code), json.dumps(record).encode(), ttl=self._ttl)
        current = await self._read(code)
        return PENDING if current is None else str(current["status"])

    async def decide(self, code: str, approver: Principal, approve: bool) -> str:
        """Approve (mint the CLI token) or deny; a code is decided once, by whoever comes first."""
        code = check_code(code)
        current = await self._read(code)
        expires_at = time.time() + self._ttl if current is None else float(current["expires_at"])
        remaining = expires_at - time.time()
        if remaining <= 0:
            raise HxtpError(Code.GONE, "this login code has expired; run the login again")
        if current is not None and current["status"] != PENDING:
            raise HxtpError(Code.CONFLICT, f"this login code is already {current['status']}")
        if not await self._cache.set_if_absent(self._key(code) + ":decided", b"1", ttl=remaining):
            raise HxtpError(Code.CONFLICT, "this login code has already been decided or used")
        record: dict[str, object] = {"status": APPROVED if approve else DENIED, "expires_at": expires_at}
        if approve:
            record["token"] = self._tokens.mint(approver)
        await self._cache.set(self._key(code), json.dumps(record).encode(), ttl=remaining)
        return str(record["status"])

    async def poll(self, code: str) -> PollResult:
        code = check_code(code)
        current = await self._read(code)
        if current is None:
            raise HxtpError(Code.NOT_FOUND, "unknown or expired login code")
        if current["status"] == DENIED:
            raise HxtpError(Code.GONE, "this login was denied")
        if current["status"] == PENDING:
            return PollResult(PENDING)
        # Exactly once, across replicas: only the poll whose delete removed the record gets the token.
        if not await self._cache.delete(self._key(code)):
            raise HxtpError(Code.NOT_FOUND, "unknown or expired login code")
        return PollResult(APPROVED, str(current["token"]))

    async def _read(self, code: str) -> dict[str, Any] | None:
        raw = await self._cache.get(self._key(code))
        return None if raw is None else dict(json.loads(raw))
