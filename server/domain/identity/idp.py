"""Optional external identity provider: its JWTs (the dashboard's access token) are verified
against the provider's JWKS, issuer and audience, then mapped to a user by subject.

Off unless HXTP_IDP_JWKS_URL is set. Keys are fetched by PyJWT's JWKS client (cached, refetched
when a token names an unknown key id); its fetch blocks, so it runs in a worker thread.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import jwt

from server.domain.identity.principal import Credential, Principal
from server.domain.identity.users import Identity
from server.errors import Code, HxtpError

ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA"]


@dataclass(frozen=True)
class IdpConfig:
    jwks_url: str
    issuer: str
    audience: str


class IdentityProvider:
    def __init__(self, config: IdpConfig, identity: Identity) -> None:
        self._config = config
        self._identity = identity
        self._jwks = jwt.PyJWKClient(config.jwks_url, cache_keys=True, lifespan=300, timeout=5)

    async def verify(self, token: str) -> Principal:
        try:
            key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,
                issuer=self._config.issuer or None,
                audience=self._config.audience or None,
                options={"require": ["exp", "sub"], "verify_aud": bool(self._config.audience)},
            )
        except jwt.ExpiredSignatureError as error:
            raise HxtpError(Code.UNAUTHORIZED, "Token expired") from error
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as error:
            raise HxtpError(Code.UNAUTHORIZED, "Invalid token") from error
        principal = await self._identity.user_for_subject(str(claims["sub"]), str(claims.get("email", "")))
        return Principal(
            user_id=principal.user_id,
            tenant_id=principal.tenant_id,
            role=principal.role,
            email=principal.email,
            credential=Credential.IDP,
            tier=principal.tier,
        )
