"""Turns the credentials a request carries into a Principal.

Credential kinds, tried in this order:
- `X-API-Key: hxtp_...`, or `Authorization: Bearer hxtp_...`: an API key (server/domain/identity/api_keys.py);
- `Authorization: Bearer <JWT>`: HS256 issued by this server -> a server-minted token; any other
  (an RS/ES/EdDSA token, or HS256 from another issuer when HXTP_IDP_SHARED_SECRET is set) -> the
  external identity provider's token when one is configured (server/domain/identity/idp.py);
- the `hxtp_session` cookie: a browser session (server/domain/identity/sessions.py).
A credential that is present but expired, malformed, wrongly signed or revoked is a 401; it never
falls through to the next kind.
"""

from __future__ import annotations

from collections.abc import Mapping

import jwt

from server.domain.identity.api_keys import ApiKeys, looks_like_key
from server.domain.identity.idp import IdentityProvider
from server.domain.identity.principal import Principal
from server.domain.identity.sessions import Sessions, session_cookie
from server.domain.identity.tokens import ALGORITHM, ISSUER, TokenService
from server.domain.identity.users import Identity
from server.errors import Code, HxtpError


def bearer_token(metadata: Mapping[str, str]) -> str | None:
    header = metadata.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def has_credential(metadata: Mapping[str, str]) -> bool:
    return bool(
        bearer_token(metadata) or metadata.get("x-api-key") or session_cookie(metadata.get("cookie", ""))
    )


class Authenticator:
    def __init__(
        self,
        tokens: TokenService,
        identity: Identity,
        api_keys: ApiKeys,
        sessions: Sessions,
        idp: IdentityProvider | None = None,
    ) -> None:
        self._tokens = tokens
        self._identity = identity
        self._api_keys = api_keys
        self._sessions = sessions
        self._idp = idp

    async def authenticate(self, metadata: Mapping[str, str]) -> Principal:
        """The caller, or UNAUTHORIZED when no valid credential is present."""
        api_key = metadata.get("x-api-key", "").strip()
        if api_key:
            return await self._api_keys.authenticate(api_key)
        token = bearer_token(metadata)
        if token is not None:
            return await self.verify_bearer(token)
        session_id = session_cookie(metadata.get("cookie", ""))
        if session_id is not None:
            principal = await self._sessions.principal(session_id)
            if principal is None:
                raise HxtpError(Code.UNAUTHORIZED, "Session expired; sign in again")
            await self._check_key(principal)
            return await self._identity.refresh(principal)
        raise HxtpError(Code.UNAUTHORIZED, "Missing credentials")

    async def verify_bearer(self, token: str) -> Principal:
        if looks_like_key(token):
            return await self._api_keys.authenticate(token)
        principal = self._tokens.remembered(token)  # one of ours, seen before: no header to parse again
        if principal is not None:
            await self._check_key(principal)
            return await self._identity.refresh(principal)
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.InvalidTokenError as error:
            raise HxtpError(Code.UNAUTHORIZED, "Invalid token") from error
        if algorithm == ALGORITHM and not self._identity_provider_hs256(token):
            principal = self._tokens.verify(token)
            await self._check_key(principal)
            return await self._identity.refresh(principal)
        if self._idp is not None:
            return await self._idp.verify(token)
        raise HxtpError(Code.UNAUTHORIZED, "Invalid token")

    def _identity_provider_hs256(self, token: str) -> bool:
        """An HS256 token not issued by this server goes to an identity provider that shares a secret."""
        if self._idp is None or not self._idp.takes_hs256:
            return False
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.InvalidTokenError:
            return False
        return issuer != ISSUER

    async def _check_key(self, principal: Principal) -> None:
        """A session or token started with an API key ends when that key is revoked."""
        if principal.key_id is not None and not await self._api_keys.is_active(principal.key_id):
            raise HxtpError(Code.UNAUTHORIZED, "API key revoked")

    async def authenticate_optional(self, metadata: Mapping[str, str]) -> Principal | None:
        """Public routes still learn who is calling when a valid credential is present."""
        if not has_credential(metadata):
            return None
        try:
            return await self.authenticate(metadata)
        except HxtpError:
            return None
