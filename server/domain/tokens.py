"""Server-minted access tokens: HS256 JWTs carrying the user, tenant and role."""

from __future__ import annotations

import time
import uuid

import jwt

from server.domain.principal import Principal, Role
from server.errors import Code, HxtpError

ISSUER = "hxtp-cloud"
DEFAULT_TTL_SECONDS = 30 * 24 * 3600


class TokenService:
    def __init__(self, secret: str, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        self._secret = secret
        self._ttl = ttl_seconds

    def mint(self, principal: Principal, ttl_seconds: int | None = None) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": principal.user_id,
            "email": principal.email,
            "tenant_id": principal.tenant_id,
            "role": principal.role.label,
            "iat": now,
            "exp": now + (self._ttl if ttl_seconds is None else ttl_seconds),
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=["HS256"], issuer=ISSUER, options={"require": ["exp", "sub"]}
            )
        except jwt.ExpiredSignatureError as error:
            raise HxtpError(Code.UNAUTHORIZED, "Token expired") from error
        except jwt.InvalidTokenError as error:
            raise HxtpError(Code.UNAUTHORIZED, "Invalid token") from error
        return Principal(
            user_id=str(claims["sub"]),
            tenant_id=claims.get("tenant_id") or None,
            role=Role.parse(str(claims.get("role", "none"))),
            email=str(claims.get("email", "")),
        )
