"""Who is calling: the identity every tenant-scoped rule is checked against."""

from __future__ import annotations

import enum
from dataclasses import dataclass


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


@dataclass(frozen=True)
class Principal:
    user_id: str
    tenant_id: str | None
    role: Role
    email: str = ""
    # None: a user's own credential (all scopes of its role); a set: an API key's scopes.
    scopes: frozenset[str] | None = None
    credential: str = "jwt"  # jwt | api_key | session

    def has_scope(self, scope: str) -> bool:
        return self.scopes is None or not scope or scope in self.scopes
