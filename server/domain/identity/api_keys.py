"""API keys: `hxtp_` + 32 random bytes, shown once, stored as a SHA-256 hash.

A key acts for its creator inside the creator's tenant, limited to its scopes and to the lower of the
role it was created with and the creator's current role; a creator who left the tenant takes the key's
rights along (it stops authenticating). Revoked keys stay listed as inactive.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.domain import fields
from server.domain.identity import scopes as scope_rules
from server.domain.identity.principal import Credential, Principal, Role
from server.errors import Code, HxtpError
from server.storage.bounds import length_of
from server.storage.database import Database
from server.storage.identity_tables import ApiKey
from server.storage.models import Tenant, User
from server.storage.types import utc_now

KEY_PREFIX = "hxtp_"
_SECRET_BYTES = 32
_DISPLAY = 8  # characters of the secret shown as the key's prefix
# last_used is written at most this often per key, so a busy key is not a write per request.
_LAST_USED_RESOLUTION_S = 60.0


@dataclass(frozen=True)
class KeyView:
    """What a client may see of a key (never the secret or its hash)."""

    id: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: str
    active: bool
    last_used: str | None

    @classmethod
    def of(cls, record: ApiKey) -> KeyView:
        return cls(
            id=record.id,
            name=record.name,
            prefix=record.prefix,
            scopes=tuple(record.scopes.split()),
            created_at=iso(record.created_at) or "",
            active=record.revoked_at is None,
            last_used=iso(record.last_used),
        )


@dataclass(frozen=True)
class IssuedKey:
    key: str  # the secret, shown once
    view: KeyView


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


def _name(name: str) -> str:
    return fields.text("name", name, length_of(ApiKey, "name"))


def _scopes_for(creator: Principal, requested: list[str]) -> tuple[str, ...]:
    normalised = scope_rules.normalise_all(requested)
    if not normalised:
        raise HxtpError(Code.BAD_REQUEST, "scopes must list at least one resource:verb scope")
    if creator.scopes is not None:  # a key creating a key: never more than it holds
        excess = [s for s in normalised if not scope_rules.allows(creator.scopes, s)]
        if excess:
            raise HxtpError(Code.FORBIDDEN, f"a key cannot grant scopes it lacks: {', '.join(excess)}")
    return normalised


class ApiKeys:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(self, creator: Principal, name: str, scopes: list[str]) -> IssuedKey:
        tenant_id = _tenant(creator)
        record_scopes = _scopes_for(creator, scopes)
        async with self._db.session() as session:
            await _ensure_user_row(session, creator)
            key, record = _new_key(tenant_id, creator, _name(name), record_scopes)
            session.add(record)
            await session.commit()
        return IssuedKey(key, KeyView.of(record))

    async def list(self, caller: Principal) -> list[KeyView]:
        """Admins see every key of the tenant; others their own."""
        query = select(ApiKey).where(ApiKey.tenant_id == _tenant(caller))
        if caller.role < Role.ADMIN:
            query = query.where(ApiKey.user_id == caller.user_id)
        async with self._db.session() as session:
            rows = (await session.exec(query.order_by(col(ApiKey.created_at)))).all()
        return [KeyView.of(row) for row in rows]

    async def revoke(self, caller: Principal, key_id: str, prefix: str | None) -> KeyView:
        async with self._db.session() as session:
            record = await self._find(session, caller, key_id, prefix)
            if record.revoked_at is None:
                record.revoked_at = utc_now()
                session.add(record)
                await session.commit()
        return KeyView.of(record)

    async def rotate(self, caller: Principal, key_id: str, prefix: str | None) -> tuple[IssuedKey, str]:
        """A new key with the old one's name and scopes; the old one is revoked in the same commit."""
        async with self._db.session() as session:
            old = await self._find(session, caller, key_id, prefix)
            if old.revoked_at is not None:
                raise HxtpError(Code.CONFLICT, "key is revoked; create a new one")
            creator = Principal(old.user_id, old.tenant_id, Role.parse(old.role))
            key, record = _new_key(old.tenant_id, creator, old.name, tuple(old.scopes.split()))
            old.revoked_at = utc_now()
            session.add(old)
            session.add(record)
            await session.commit()
        return IssuedKey(key, KeyView.of(record)), old.id

    async def _find(
        self, session: AsyncSession, caller: Principal, key_id: str, prefix: str | None
    ) -> ApiKey:
        """The caller's key (any key of the tenant for admins); another tenant's key is not found."""
        query = select(ApiKey).where(ApiKey.tenant_id == _tenant(caller))
        if key_id:
            query = query.where(ApiKey.id == key_id)
        elif prefix:
            query = query.where(ApiKey.prefix == prefix.removeprefix(KEY_PREFIX))
        else:
            raise HxtpError(Code.BAD_REQUEST, "id (or key_id, or prefix) is required")
        if caller.role < Role.ADMIN:
            query = query.where(ApiKey.user_id == caller.user_id)
        record = (await session.exec(query)).first()
        if record is None:
            raise HxtpError(Code.NOT_FOUND, "API key not found")
        return record

    async def authenticate(self, key: str) -> Principal:
        """The principal a key acts as; 401 for unknown, revoked or orphaned keys."""
        async with self._db.session() as session:
            record = (await session.exec(select(ApiKey).where(ApiKey.key_hash == key_hash(key)))).first()
            if record is None or not secrets.compare_digest(record.key_hash, key_hash(key)):
                raise HxtpError(Code.UNAUTHORIZED, "Invalid API key")
            if record.revoked_at is not None:
                raise HxtpError(Code.UNAUTHORIZED, "API key revoked")
            user = await session.get(User, record.user_id)
            if user is None or user.tenant_id != record.tenant_id:
                raise HxtpError(Code.UNAUTHORIZED, "API key's creator no longer belongs to its tenant")
            tenant = await session.get(Tenant, record.tenant_id)
            now = utc_now()
            if record.last_used is None or (now - record.last_used).total_seconds() > _LAST_USED_RESOLUTION_S:
                record.last_used = now
                session.add(record)
                await session.commit()
        role = min(Role.parse(record.role), Role.parse(user.role))
        return Principal(
            user_id=record.user_id,
            tenant_id=record.tenant_id,
            role=role,
            email=user.email,
            scopes=scope_rules.granted(record.scopes.split()),
            credential=Credential.API_KEY,
            tier=tenant.tier if tenant is not None else "free",
            key_id=record.id,
        )

    async def is_active(self, key_id: str) -> bool:
        async with self._db.session() as session:
            record = await session.get(ApiKey, key_id)
        return record is not None and record.revoked_at is None


def _tenant(principal: Principal) -> str:
    if principal.tenant_id is None:
        raise HxtpError(Code.TENANT_REQUIRED)
    return principal.tenant_id


async def _ensure_user_row(session: AsyncSession, creator: Principal) -> None:
    """Keys reference their creator; a token-only principal gets its user row on first key."""
    if await session.get(User, creator.user_id) is None:
        if await session.get(Tenant, creator.tenant_id) is None:
            raise HxtpError(Code.TENANT_REQUIRED, "the tenant of this token does not exist")
        session.add(
            User(
                id=creator.user_id,
                email=creator.email or f"{creator.user_id}@users.invalid",
                tenant_id=creator.tenant_id,
                role=creator.role.label,
            )
        )
        await session.flush()


def _new_key(tenant_id: str, creator: Principal, name: str, scopes: tuple[str, ...]) -> tuple[str, ApiKey]:
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    key = KEY_PREFIX + secret
    record = ApiKey(
        tenant_id=tenant_id,
        user_id=creator.user_id,
        name=name,
        key_hash=key_hash(key),
        prefix=secret[:_DISPLAY],
        scopes=" ".join(scopes),
        role=creator.role.label,
    )
    return key, record


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")
