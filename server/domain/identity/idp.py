"""Optional external identity provider: its JWTs (the dashboard's access token) are verified
against the provider's JWKS, or a shared HS256 secret (Supabase projects sign with one), plus the
issuer and audience, then mapped to a user by subject; a person without a tenant is onboarded
(server/domain/identity/onboarding.py) at that moment.

Off unless HXTP_IDP_JWKS_URL or HXTP_IDP_SHARED_SECRET is set. Keys are fetched by PyJWT's JWKS
client (cached, refetched when a token names an unknown key id); its fetch blocks, so it runs in a
worker thread.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import jwt

from server.domain.identity.onboarding import Onboarding
from server.domain.identity.principal import Credential, Principal
from server.domain.identity.users import Identity
from server.errors import Code, HxtpError

ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA"]


HS256 = "HS256"


@dataclass(frozen=True)
class IdpConfig:
    jwks_url: str
    issuer: str
    audience: str
    hs256_secret: str = ""


class IdentityProvider:
    def __init__(self, config: IdpConfig, identity: Identity, onboarding: Onboarding | None = None) -> None:
        self._config = config
        self._identity = identity
        self._onboarding = onboarding
        self._jwks = (
            jwt.PyJWKClient(config.jwks_url, cache_keys=True, lifespan=300, timeout=5)
            if config.jwks_url
            else None
        )

    @property
    def takes_hs256(self) -> bool:
        return bool(self._config.hs256_secret)

    async def _key(self, token: str) -> tuple[object, list[str]]:
        if jwt.get_unverified_header(token).get("alg") == HS256:
            if not self._config.hs256_secret:
                raise jwt.InvalidTokenError("HS256 identity-provider tokens are not configured")
            return self._config.hs256_secret, [HS256]
        if self._jwks is None:
            raise jwt.InvalidTokenError("no JWKS configured")
        return (await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)).key, ALGORITHMS

    async def verify(self, token: str) -> Principal:
        try:
            key, algorithms = await self._key(token)
            claims = jwt.decode(
                token,
                key,  # type: ignore[arg-type]
                algorithms=algorithms,
                issuer=self._config.issuer or None,
                audience=self._config.audience or None,
                options={"require": ["exp", "sub"], "verify_aud": bool(self._config.audience)},
            )
        except jwt.ExpiredSignatureError as error:
            raise HxtpError(Code.UNAUTHORIZED, "Token expired") from error
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as error:
            raise HxtpError(Code.UNAUTHORIZED, "Invalid token") from error
        principal = await self._identity.user_for_subject(str(claims["sub"]), str(claims.get("email", "")))
        if self._onboarding is not None:
            principal = await self._onboarding.at_sign_in(principal)
        return Principal(
            user_id=principal.user_id,
            tenant_id=principal.tenant_id,
            role=principal.role,
            email=principal.email,
            credential=Credential.IDP,
            tier=principal.tier,
        )
