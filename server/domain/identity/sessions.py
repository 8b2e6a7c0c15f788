"""Browser sessions: an opaque cookie naming a record in the cache (shared by replicas), plus the
session's CSRF token.

A session starts when a browser that holds a credential (a pasted API key or token, or the dashboard's
identity-provider token) asks for a CSRF token with it: GET /auth/csrf with Bearer answers the token
and sets the cookie. Cookies ride along on every request a page makes, including ones another site
triggers, so mutating requests authenticated by the cookie must also carry the session's CSRF token in
X-CSRF-Token (another site cannot read it). Bearer requests need none: a browser never adds Bearer by
itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie

from server.cache.base import Cache
from server.domain.identity.principal import Credential, Principal, Role

COOKIE = "hxtp_session"
TTL_SECONDS = 7 * 24 * 3600
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def session_cookie(cookie_header: str) -> str | None:
    if not cookie_header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


def csrf_matches(principal: Principal, presented: str) -> bool:
    return bool(presented) and hmac.compare_digest(principal.csrf_token, presented)


@dataclass(frozen=True)
class Started:
    session_id: str
    csrf_token: str


class Sessions:
    def __init__(self, cache: Cache, secure_cookies: bool = False, ttl_seconds: int = TTL_SECONDS) -> None:
        self._cache = cache
        self._secure = secure_cookies
        self._ttl = ttl_seconds

    @staticmethod
    def _key(session_id: str) -> str:
        # Hashed: a cache dump does not hand out live cookies.
        return "session:" + hashlib.sha256(session_id.encode()).hexdigest()

    async def start(self, principal: Principal) -> Started:
        session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        record = {
            "user_id": principal.user_id,
            "tenant_id": principal.tenant_id,
            "role": principal.role.label,
            "email": principal.email,
            # A session started with an API key keeps that key's scopes.
            "scopes": None if principal.scopes is None else sorted(principal.scopes),
            "key_id": principal.key_id,
            "csrf": csrf,
        }
        await self._cache.set(self._key(session_id), json.dumps(record).encode(), ttl=self._ttl)
        return Started(session_id, csrf)

    async def principal(self, session_id: str) -> Principal | None:
        raw = await self._cache.get(self._key(session_id))
        if raw is None:
            return None
        record = json.loads(raw)
        return Principal(
            user_id=record["user_id"],
            tenant_id=record["tenant_id"],
            role=Role.parse(record["role"]),
            email=record["email"],
            scopes=None if record["scopes"] is None else frozenset(record["scopes"]),
            credential=Credential.SESSION,
            csrf_token=record["csrf"],
            key_id=record.get("key_id"),
        )

    async def end(self, cookie_header: str) -> None:
        session_id = session_cookie(cookie_header)
        if session_id is not None:
            await self._cache.delete(self._key(session_id))

    def set_cookie(self, session_id: str) -> str:
        return self._cookie(session_id, self._ttl)

    def clear_cookie(self) -> str:
        return self._cookie("", 0)

    def _cookie(self, value: str, max_age: int) -> str:
        secure = "; Secure" if self._secure else ""
        return f"{COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
