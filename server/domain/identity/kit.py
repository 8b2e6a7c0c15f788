"""The identity side assembled once (composition root helper): who calls, with which credential,
and how fast their tenant may go. Keeps server/app.py to one line per concern."""

from __future__ import annotations

from dataclasses import dataclass

from server.cache.base import Cache
from server.cache.gcra import RedisGcra
from server.domain.identity.api_keys import ApiKeys
from server.domain.identity.authentication import Authenticator
from server.domain.identity.cli_handshake import CliHandshakes
from server.domain.identity.idp import IdentityProvider, IdpConfig
from server.domain.identity.onboarding import Onboarding
from server.domain.identity.rate_limits import (
    DEFAULT_TIERS,
    InProcessRateLimiter,
    RateLimiter,
    SharedRateLimiter,
    Tiers,
)
from server.domain.identity.sessions import Sessions
from server.domain.identity.tokens import TokenService
from server.domain.identity.users import Identity
from server.domain.memo import MemoHub
from server.storage.database import Database


@dataclass(frozen=True)
class IdentitySettings:
    redis_url: str = ""
    idp_jwks_url: str = ""
    idp_issuer: str = ""
    idp_audience: str = ""
    cookie_secure: bool = False
    tiers: str = DEFAULT_TIERS
    idp_hs256_secret: str = ""
    signup_creates_tenant: bool = False
    signup_url: str = ""


class IdentityKit:
    def __init__(
        self,
        database: Database,
        cache: Cache,
        tokens: TokenService,
        settings: IdentitySettings,
        memos: MemoHub | None = None,
    ) -> None:
        self.tiers = Tiers.parse(settings.tiers)
        self.identity = Identity(database, self.tiers, memos)
        self.api_keys = ApiKeys(database)
        self.sessions = Sessions(cache, secure_cookies=settings.cookie_secure)
        self.handshakes = CliHandshakes(cache, tokens)
        self.onboarding = Onboarding(
            database, self.identity, settings.signup_creates_tenant, settings.signup_url
        )
        idp = None
        if settings.idp_jwks_url or settings.idp_hs256_secret:
            config = IdpConfig(
                settings.idp_jwks_url, settings.idp_issuer, settings.idp_audience, settings.idp_hs256_secret
            )
            idp = IdentityProvider(config, self.identity, self.onboarding)
        self.authenticator = Authenticator(tokens, self.identity, self.api_keys, self.sessions, idp)
        self._redis_limiter = SharedRateLimiter(RedisGcra(settings.redis_url)) if settings.redis_url else None
        self.limiter: RateLimiter = self._redis_limiter or InProcessRateLimiter()

    async def close(self) -> None:
        if self._redis_limiter is not None:
            await self._redis_limiter.close()
