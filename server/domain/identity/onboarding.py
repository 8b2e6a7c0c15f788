"""How a person without a tenant gets one: an operator's invite, or (opt-in) a tenant of their own.

- `POST /admin/invite {email}` records a single-use invite (7 days) for that address: into the
  inviter's tenant as a `user` when the operator's call also carries a signed-in person of a tenant
  (the dashboard sends its session), otherwise into a new tenant the invitee will own.
- At sign-in through the identity provider, a person with no tenant takes their pending invite; when
  there is none and HXTP_SIGNUP_CREATES_TENANT is on, they become the owner of a new tenant named after
  their address. Without either they stay tenantless and may POST /tenant/register.
- `POST /tenant/register {invite_token}` redeems the link's token directly, for the same address only.

`path_for` tells /auth/me which of these applies to the caller.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy import update
from sqlmodel import col, select

from server.domain.clock import iso
from server.domain.identity.principal import Principal, Role
from server.domain.identity.users import Identity, normalise_email
from server.errors import Code, HxtpError
from server.storage.database import Database
from server.storage.models import Tenant, User
from server.storage.platform_tables import Invite
from server.storage.types import utc_now

INVITE_TTL = timedelta(days=7)
MEMBER, INVITE, OWN_TENANT, REGISTER = "member", "invite", "own_tenant", "register"


@dataclass(frozen=True)
class IssuedInvite:
    token: str
    link: str
    email: str
    expires_at: str
    tenant_id: str | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Onboarding:
    def __init__(self, database: Database, identity: Identity, own_tenant: bool, signup_url: str) -> None:
        self._db = database
        self._identity = identity
        self._own_tenant = own_tenant
        self._signup_url = signup_url

    async def invite(self, email: str, inviter: Principal | None) -> IssuedInvite:
        address = normalise_email(email)
        tenant_id = inviter.tenant_id if inviter is not None else None
        token = "hxtp_inv_" + secrets.token_urlsafe(24)
        expires = utc_now() + INVITE_TTL
        async with self._db.session() as session:
            session.add(
                Invite(
                    token_hash=_hash(token),
                    email=address,
                    tenant_id=tenant_id,
                    role=Role.USER.label,
                    expires_at=expires,
                )
            )
            await session.commit()
        link = f"{self._signup_url}?{urlencode({'invite': token, 'email': address})}"
        return IssuedInvite(token, link, address, iso(expires), tenant_id)

    async def at_sign_in(self, principal: Principal) -> Principal:
        """The identity provider's principal, given a tenant when an invite or the setting says so."""
        if principal.tenant_id is not None:
            return principal
        invite = await self._pending(principal.email)
        if invite is not None and await self._take(invite, principal.user_id):
            return await self._join(principal, invite)
        if self._own_tenant and principal.email:
            try:
                await self._identity.register_tenant(principal, _own_name(principal.email))
            except HxtpError as error:
                if error.code != Code.CONFLICT:
                    raise
                # A concurrent first request of the same person created it a moment ago.
            return await self._identity.principal_for_email(principal.email)
        return principal

    async def redeem(self, principal: Principal, token: str, tenant_name: str) -> tuple[str, str]:
        """POST /tenant/register with an invite token: (tenant_id, user_id)."""
        if principal.tenant_id is not None:
            raise HxtpError(Code.CONFLICT, "You already belong to a tenant")
        async with self._db.session() as session:
            invite = (await session.exec(select(Invite).where(Invite.token_hash == _hash(token)))).first()
        if invite is None or invite.used_at is not None or invite.expires_at <= utc_now():
            raise HxtpError(Code.FORBIDDEN, "This invite is unknown, expired or already used")
        if invite.email != principal.email.strip().lower():
            raise HxtpError(Code.FORBIDDEN, f"This invite is for {invite.email}; sign in with that address")
        if not await self._take(invite, principal.user_id):
            raise HxtpError(Code.FORBIDDEN, "This invite is unknown, expired or already used")
        if invite.tenant_id is None:
            return await self._identity.register_tenant(principal, tenant_name or _own_name(invite.email))
        joined = await self._join(principal, invite)
        return str(joined.tenant_id), joined.user_id

    async def path_for(self, principal: Principal) -> str:
        if principal.tenant_id is not None:
            return MEMBER
        if await self._pending(principal.email) is not None:
            return INVITE
        return OWN_TENANT if self._own_tenant else REGISTER

    async def _pending(self, email: str) -> Invite | None:
        if not email:
            return None
        async with self._db.session() as session:
            rows = await session.exec(
                select(Invite)
                .where(
                    Invite.email == email.strip().lower(),
                    col(Invite.used_at).is_(None),
                    Invite.expires_at > utc_now(),
                )
                .order_by(col(Invite.created_at))
            )
            return rows.first()

    async def _take(self, invite: Invite, user_id: str) -> bool:
        """Marks the invite used; of concurrent sign-ins exactly one succeeds (single use)."""
        async with self._db.session() as session:
            result = await session.exec(
                update(Invite)
                .where(col(Invite.id) == invite.id, col(Invite.used_at).is_(None))
                .values(used_at=utc_now(), used_by=user_id)
            )
            await session.commit()
            return bool(result.rowcount == 1)

    async def _join(self, principal: Principal, invite: Invite) -> Principal:
        if invite.tenant_id is None:
            await self._identity.register_tenant(principal, _own_name(invite.email))
            return await self._identity.principal_for_email(invite.email)
        async with self._db.session() as session:
            if await session.get(Tenant, invite.tenant_id) is None:
                raise HxtpError(Code.NOT_FOUND, "The tenant of this invite no longer exists")
            user = await session.get(User, principal.user_id)
            if user is None:
                user = User(id=principal.user_id, email=normalise_email(principal.email))
            user.tenant_id, user.role = invite.tenant_id, invite.role
            session.add(user)
            await session.commit()
        await self._identity.forget_cached()
        return await self._identity.principal_for_email(principal.email)


def _own_name(email: str) -> str:
    return f"{email.split('@', 1)[0]}'s home"
