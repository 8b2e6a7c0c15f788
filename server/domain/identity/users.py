"""Users and tenants: who belongs where, with which role, and which plan tier a tenant is on.

A user belongs to at most one tenant. Server-minted JWTs carry a snapshot of the user's tenant and
role; when the user exists in the database its current row wins (a demotion or a new tenant applies
at once), otherwise the signed claims stand (tokens minted for service principals).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.domain import fields
from server.domain.identity.principal import Principal, Role
from server.domain.identity.rate_limits import DEFAULT_TIER, STANDARD_TIERS, Tiers
from server.domain.memo import USER, MemoHub, TtlMemo
from server.errors import Code, HxtpError
from server.storage.bounds import length_of
from server.storage.database import Database
from server.storage.models import Tenant, User

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
OWNER_ROLES = ("owner", "admin", "user", "viewer")


@dataclass(frozen=True)
class _UserFacts:
    """What the database says of a credential's user: found, current tenant and role, tier."""

    found: bool
    tenant_id: str | None
    role: Role | None
    email: str | None
    tier: str = DEFAULT_TIER


@dataclass(frozen=True)
class Me:
    user_id: str
    email: str
    role: Role
    tenant_id: str | None
    tenant_slug: str | None
    external_subject: str | None


def normalise_email(email: str) -> str:
    text = email.strip().lower()
    if not _EMAIL.match(text) or len(text) > 320:
        raise HxtpError(Code.BAD_REQUEST, "email is not a valid address")
    return text


def tenant_slug(name: str) -> str:
    return fields.slugify(name, 80) or "tenant"


def tenant_name(name: str) -> str:
    return fields.text("tenant_name", name, length_of(Tenant, "name"))


class Identity:
    def __init__(
        self, database: Database, tiers: Tiers = STANDARD_TIERS, memos: MemoHub | None = None
    ) -> None:
        self._db = database
        self._tiers = tiers
        # Every authenticated call reads the user and tenant; a memo spares the database. Writes
        # below (roles, tenants, tiers: rare) forget the whole memo on every replica.
        self._memos = memos if memos is not None else MemoHub()
        self._memo: TtlMemo[tuple[str, str | None], _UserFacts] = self._memos.memo(USER)

    async def forget_cached(self) -> None:
        """After another module changed a user's tenant or role (onboarding): every replica reads afresh."""
        await self._memos.forget((USER, None))

    # ---------------------------------------------------------------- per request

    async def _facts(self, user_id: str, tenant_id: str | None) -> _UserFacts:
        async with self._db.session() as session:
            user = await session.get(User, user_id)
            facts = _UserFacts(
                found=user is not None,
                tenant_id=user.tenant_id if user is not None else tenant_id,
                role=(Role.parse(user.role) if user.tenant_id else Role.NONE) if user is not None else None,
                email=user.email if user is not None else None,
            )
            tenant = await session.get(Tenant, facts.tenant_id) if facts.tenant_id else None
        return replace(facts, tier=tenant.tier if tenant is not None else DEFAULT_TIER)

    async def refresh(self, principal: Principal) -> Principal:
        """The principal with the user's current tenant and role, and the tenant's tier."""
        key = (principal.user_id, principal.tenant_id)
        facts = await self._memo.get(key, lambda: self._facts(principal.user_id, principal.tenant_id))
        if facts.found and facts.role is not None:
            # Same tenant: never more than the credential was issued with (a token minted for
            # an API key keeps that key's role). A new tenant (registered since): its role.
            same_tenant = facts.tenant_id == principal.tenant_id
            return replace(
                principal,
                tenant_id=facts.tenant_id,
                role=min(facts.role, principal.role) if same_tenant else facts.role,
                email=facts.email or principal.email,
                tier=facts.tier,
            )
        return replace(principal, tier=facts.tier)

    async def me(self, principal: Principal) -> Me:
        async with self._db.session() as session:
            user = await session.get(User, principal.user_id)
            tenant = await session.get(Tenant, principal.tenant_id) if principal.tenant_id else None
        return Me(
            user_id=principal.user_id,
            email=principal.email,
            role=principal.role if principal.tenant_id else Role.NONE,
            tenant_id=principal.tenant_id,
            tenant_slug=tenant.slug if tenant is not None else None,
            external_subject=user.external_subject if user is not None else None,
        )

    # ---------------------------------------------------------------- tenants

    async def register_tenant(self, principal: Principal, name: str) -> tuple[str, str]:
        """Makes the tenantless caller the owner of a new tenant; 409 when it already has one."""
        name = tenant_name(name)
        if principal.tenant_id is not None:
            raise HxtpError(Code.CONFLICT, "You already belong to a tenant")
        async with self._db.session() as session:
            user = await session.get(User, principal.user_id)
            if user is None:  # a token for a user this database has not seen: record the user now
                email = principal.email or f"{principal.user_id}@users.invalid"
                user = User(id=principal.user_id, email=normalise_email(email))
            elif user.tenant_id is not None:
                raise HxtpError(Code.CONFLICT, "You already belong to a tenant")
            tenant = Tenant(name=name, slug=await self._free_slug(session, tenant_slug(name)))
            session.add(tenant)
            await session.flush()
            user.tenant_id, user.role = tenant.id, Role.OWNER.label
            session.add(user)
            await session.commit()
            await self._memos.forget((USER, None))
            return tenant.id, user.id

    @staticmethod
    async def _free_slug(session: AsyncSession, base: str) -> str:
        slug = base
        while (await session.exec(select(Tenant).where(Tenant.slug == slug))).first() is not None:
            slug = f"{base}-{secrets.token_hex(3)}"
        return slug

    async def set_tier(self, tenant: str, tier: str) -> Tenant:
        if tier not in self._tiers.limits:
            raise HxtpError(
                Code.BAD_REQUEST, f"unknown tier {tier!r}: the configured tiers are {self._tiers.describe()}"
            )
        async with self._db.session() as session:
            found = await session.get(Tenant, tenant)
            if found is None:
                found = (await session.exec(select(Tenant).where(Tenant.slug == tenant))).first()
            if found is None:
                raise HxtpError(Code.NOT_FOUND, f"no tenant with id or slug {tenant!r}")
            found.tier = tier
            session.add(found)
            await session.commit()
            await self._memos.forget((USER, None))
            return found

    # ---------------------------------------------------------------- users (CLI, IdP)

    async def ensure_user(self, email: str, role: str, tenant: str | None) -> Principal:
        """Creates what is missing: the tenant (by slug or name) and the user; sets role and tenant."""
        email = normalise_email(email)
        wanted = Role.parse(role)
        if tenant is not None and wanted <= Role.NONE:
            raise HxtpError(Code.BAD_REQUEST, f"role must be one of {', '.join(OWNER_ROLES)}")
        async with self._db.session() as session:
            tenant_row = None
            if tenant is not None:
                name = tenant_name(tenant)
                slug = tenant_slug(name)
                tenant_row = (await session.exec(select(Tenant).where(Tenant.slug == slug))).first()
                if tenant_row is None:
                    tenant_row = Tenant(name=name, slug=slug)
                    session.add(tenant_row)
                    await session.flush()
            user = (await session.exec(select(User).where(User.email == email))).first()
            if user is None:
                user = User(email=email)
            if tenant_row is not None:
                user.tenant_id, user.role = tenant_row.id, wanted.label
            session.add(user)
            await session.commit()
            await self._memos.forget((USER, None))
            return self._principal(user, tenant_row.tier if tenant_row is not None else DEFAULT_TIER)

    async def principal_for_email(self, email: str) -> Principal:
        email = normalise_email(email)
        async with self._db.session() as session:
            user = (await session.exec(select(User).where(User.email == email))).first()
            if user is None:
                raise HxtpError(Code.NOT_FOUND, f"no user with email {email}")
            tenant = await session.get(Tenant, user.tenant_id) if user.tenant_id else None
        return self._principal(user, tenant.tier if tenant is not None else DEFAULT_TIER)

    async def user_for_subject(self, subject: str, email: str) -> Principal:
        """The user an identity provider's subject maps to: by subject, else by email (linked on
        first sign-in), else a new tenantless user who can then register a tenant."""
        async with self._db.session() as session:
            user = (await session.exec(select(User).where(User.external_subject == subject))).first()
            if user is None and email:
                user = (
                    await session.exec(
                        select(User).where(User.email == email.lower(), col(User.external_subject).is_(None))
                    )
                ).first()
                if user is not None:
                    user.external_subject = subject
                    session.add(user)
                    await session.commit()
                    await self._memos.forget((USER, None))
            if user is None:
                user = User(email=normalise_email(email) if email else f"{subject}@idp.invalid")
                user.external_subject = subject
                session.add(user)
                await session.commit()
                await self._memos.forget((USER, None))
            tenant = await session.get(Tenant, user.tenant_id) if user.tenant_id else None
        return self._principal(user, tenant.tier if tenant is not None else DEFAULT_TIER)

    @staticmethod
    def _principal(user: User, tier: str) -> Principal:
        role = Role.parse(user.role) if user.tenant_id else Role.NONE
        return Principal(user_id=user.id, tenant_id=user.tenant_id, role=role, email=user.email, tier=tier)
