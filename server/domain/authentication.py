"""Turns the credentials a request carries into a Principal.

Accepted: `Authorization: Bearer <server-minted JWT>`. API keys, browser sessions and identity
provider tokens plug in here as further credential kinds.
"""

from __future__ import annotations

from collections.abc import Mapping

from server.domain.principal import Principal
from server.domain.tokens import TokenService
from server.errors import Code, HxtpError


def bearer_token(metadata: Mapping[str, str]) -> str | None:
    header = metadata.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class Authenticator:
    def __init__(self, tokens: TokenService) -> None:
        self._tokens = tokens

    async def authenticate(self, metadata: Mapping[str, str]) -> Principal:
        """The caller, or UNAUTHORIZED when no valid credential is present."""
        token = bearer_token(metadata)
        if token is None:
            raise HxtpError(Code.UNAUTHORIZED, "Missing credentials")
        return self._tokens.verify(token)

    async def authenticate_optional(self, metadata: Mapping[str, str]) -> Principal | None:
        """Public routes still learn who is calling when a valid credential is present."""
        if bearer_token(metadata) is None:
            return None
        try:
            return await self.authenticate(metadata)
        except HxtpError:
            return None
