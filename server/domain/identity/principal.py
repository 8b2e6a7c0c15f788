"""Who is calling: the identity every tenant-scoped rule is checked against."""

from __future__ import annotations

import enum
from contextvars import ContextVar
from dataclasses import dataclass

from server.domain.identity.scopes import allows


class Role(enum.IntEnum):
    """Strict hierarchy; values equal the proto's hxtp.cloud.v1.Role numbers."""

    UNSPECIFIED = 0
    NONE = 1
    VIEWER = 2
    USER = 3
    ADMIN = 4
    OWNER = 5

    @classmethod
    def parse(cls, text: str) -> Role:
        """Role names as stored and as IdPs send them (`operator` is the dashboard's `user`)."""
        name = {"operator": "user"}.get(text.lower(), text.lower())
        try:
            return cls[name.upper()]
        except KeyError:
            return cls.NONE

    @property
    def label(self) -> str:
        return "none" if self <= Role.NONE else self.name.lower()


class Credential(enum.StrEnum):
    JWT = "jwt"  # server-minted HS256 token
    IDP = "idp"  # an external identity provider's JWT, mapped to a user by subject
    API_KEY = "api_key"
    SESSION = "session"  # browser cookie; mutations need a matching X-CSRF-Token


@dataclass(frozen=True)
class Principal:
    user_id: str
    tenant_id: str | None
    role: Role
    email: str = ""
    # None: a user's own credential (all scopes of its role); a set: an API key's granted scopes.
    scopes: frozenset[str] | None = None
    credential: str = Credential.JWT
    # Plan tier of the tenant ("free" | "pro"), which sets the rate limit.
    tier: str = "free"
    # The browser session's CSRF token (session credentials only).
    csrf_token: str = ""
    # The API key this credential derives from (the key itself, or a session or CLI token started
    # with it): revoking the key ends them all.
    key_id: str | None = None

    def has_scope(self, scope: str) -> bool:
        return allows(self.scopes, scope)


# Who the current call acts for. The RPC chain sets it once per call; domain code reads it where a
# record must name its author (the audit trail) without every function carrying a user argument.
_acting: ContextVar[Principal | None] = ContextVar("hxtp_acting_principal", default=None)


def act_as(principal: Principal | None) -> None:
    _acting.set(principal)


def acting() -> Principal | None:
    return _acting.get()
