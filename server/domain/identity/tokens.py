"""Server-minted access tokens: HS256 JWTs carrying the user, tenant and role (and, for tokens minted
on behalf of an API key, that key's scopes, so a token never grants more than the key it came from)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt

from server.domain.identity.principal import Principal, Role
from server.errors import Code, HxtpError

ISSUER = "hxtp-cloud"
ALGORITHM = "HS256"
DEFAULT_TTL_SECONDS = 30 * 24 * 3600


class TokenService:
    def __init__(self, secret: str, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        self._secret = secret
        self._ttl = ttl_seconds

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
            "jti": str(uuid.uuid4()),
        }
        if principal.scopes is not None:
            claims["scopes"] = sorted(principal.scopes)
        if principal.key_id is not None:
            claims["key_id"] = principal.key_id
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> Principal:
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
        return Principal(
            user_id=str(claims["sub"]),
            tenant_id=claims.get("tenant_id") or None,
            role=Role.parse(str(claims.get("role", "none"))),
            email=str(claims.get("email", "")),
            scopes=frozenset(str(s) for s in scopes) if isinstance(scopes, list) else None,
            key_id=str(claims["key_id"]) if claims.get("key_id") else None,
        )
