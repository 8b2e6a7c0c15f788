"""Server-minted access tokens: HS256 JWTs carrying the user, tenant and role (and, for tokens minted
on behalf of an API key, that key's scopes, so a token never grants more than the key it came from).

A token that verified is remembered (by its exact text) with its expiry: a client sends the same
token on every request, and decoding plus the HMAC check is most of authentication's cost. The memo
changes nothing a token means: what it says is fixed by its signature, its expiry is checked on every
use, and what the user may do now is looked up afresh by the authenticator.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

import jwt

from contract.ids import random_uuid
from server.domain.identity.principal import Principal, Role
from server.errors import Code, HxtpError

ISSUER = "hxtp-cloud"
ALGORITHM = "HS256"
DEFAULT_TTL_SECONDS = 30 * 24 * 3600
_VERIFIED_MAX = 10_000  # distinct live tokens remembered; the oldest is forgotten first


class TokenService:
    def __init__(self, secret: str, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        self._secret = secret
        self._ttl = ttl_seconds
        self._verified: OrderedDict[str, tuple[float, Principal]] = OrderedDict()  # token -> (exp, who)

    def mint(self, principal: Principal, ttl_seconds: int | None = None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": principal.user_id,
            "email": principal.email,
            "tenant_id": principal.tenant_id,
            "role": principal.role.label,
            "iat": now,
            "exp": now + (self._ttl if ttl_seconds is None else ttl_seconds),
            "jti": random_uuid(),
        }
        if principal.scopes is not None:
            claims["scopes"] = sorted(principal.scopes)
        if principal.key_id is not None:
            claims["key_id"] = principal.key_id
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def remembered(self, token: str) -> Principal | None:
        """Who a token this service already verified (and that has not expired since) speaks for."""
        known = self._verified.get(token)
        if known is not None:
            if time.time() < known[0]:
                return known[1]
            del self._verified[token]
        return None

    def verify(self, token: str) -> Principal:
        principal = self.remembered(token)
        if principal is not None:
            return principal
        principal, expires = self._decode(token)
        self._verified[token] = (expires, principal)
        if len(self._verified) > _VERIFIED_MAX:
            self._verified.popitem(last=False)
        return principal

    def _decode(self, token: str) -> tuple[Principal, float]:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "sub"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise HxtpError(Code.UNAUTHORIZED, "Token expired") from error
        except jwt.InvalidTokenError as error:
            raise HxtpError(Code.UNAUTHORIZED, "Invalid token") from error
        scopes = claims.get("scopes")
        principal = Principal(
            user_id=str(claims["sub"]),
            tenant_id=claims.get("tenant_id") or None,
            role=Role.parse(str(claims.get("role", "none"))),
            email=str(claims.get("email", "")),
            scopes=frozenset(str(s) for s in scopes) if isinstance(scopes, list) else None,
            key_id=str(claims["key_id"]) if claims.get("key_id") else None,
        )
        return principal, float(claims["exp"])
