"""Device groups of a tenant, addressed by slug or id.

Create accepts the union of SEED's `{name, description, device_ids}` and the SDKs'
`{name, slug, group_type}`; the slug is the given one (validated) or the slugified name, unique per
tenant (409 otherwise). Devices must belong to the caller's tenant (404 naming the first that does
not). Joining records the calling user as a member of the group, idempotently. Membership grants no
rights: what a user may do to the group's devices is decided by their tenant role alone; members are
the group's audience (listed as `member_count`), e.g. for notifications.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.domain import fields
from server.domain.lookups import count, device_in_tenant
from server.errors import Code, HxtpError
from server.storage.database import Database
from server.storage.fleet_tables import DeviceGroup, GroupDevice, GroupMember

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_SLUG = 100
MAX_DEVICES_PER_CALL = 1000


@dataclass(frozen=True)
class GroupView:
    id: str
    slug: str
    name: str
    description: str
    group_type: str
    device_ids: list[str]
    member_count: int
    created_at: datetime


def _slug(given: str | None, name: str) -> str:
    if given is not None and given.strip():
        slug = given.strip()
        if len(slug) > MAX_SLUG or not _SLUG.match(slug):
            raise fields.bad("slug", "use lowercase letters and digits separated by single '-'")
        return slug
    slug = fields.slugify(name, MAX_SLUG)
    if not slug:
        raise fields.bad("name", "needs at least one letter or digit to derive a slug")
    return slug


async def _group(session: AsyncSession, tenant_id: str, slug_or_id: str) -> DeviceGroup:
    if not slug_or_id or len(slug_or_id) > MAX_SLUG or "\x00" in slug_or_id:
        raise HxtpError(Code.NOT_FOUND, "Group not found")
    row = (
        await session.exec(
            select(DeviceGroup).where(
                DeviceGroup.tenant_id == tenant_id,
                or_(col(DeviceGroup.slug) == slug_or_id, col(DeviceGroup.id) == slug_or_id),
            )
        )
    ).first()
    if row is None:
        raise HxtpError(Code.NOT_FOUND, "Group not found")
    return row


def _device_ids(values: Sequence[str]) -> list[str]:
    if len(values) > MAX_DEVICES_PER_CALL:
        raise fields.bad("device_ids", f"at most {MAX_DEVICES_PER_CALL} devices per call")
    return list(dict.fromkeys(v.strip() for v in values))  # de-duplicated, order kept


async def _check_devices(session: AsyncSession, tenant_id: str, device_ids: list[str]) -> None:
    for device_id in device_ids:
        await device_in_tenant(session, tenant_id, device_id)


class Groups:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def _view(self, session: AsyncSession, group: DeviceGroup) -> GroupView:
        devices = await session.exec(
            select(GroupDevice.device_id)
            .where(GroupDevice.group_id == group.id)
            .order_by(col(GroupDevice.added_at), col(GroupDevice.device_id))
        )
        members = await count(session, select(func.count()).where(GroupMember.group_id == group.id))
        return GroupView(
            group.id,
            group.slug,
            group.name,
            group.description,
            group.group_type,
            list(devices),
            members,
            group.created_at,
        )

    async def create(
        self,
        tenant_id: str,
        name: str,
        description: str | None,
        device_ids: Sequence[str],
        slug: str | None,
        group_type: str | None,
    ) -> GroupView:
        clean_name = fields.text("name", name, 200)
        group = DeviceGroup(
            tenant_id=tenant_id,
            slug=_slug(slug, clean_name),
            name=clean_name,
            description=fields.text("description", description, 1000, required=False),
            group_type=fields.text("group_type", group_type, 64, required=False),
        )
        members = _device_ids(device_ids)
        async with self._db.session() as session:
            await _check_devices(session, tenant_id, members)
            session.add(group)
            try:
                await session.flush()
            except IntegrityError:
                raise HxtpError(Code.CONFLICT, f"A group with slug {group.slug!r} already exists") from None
            for device_id in members:
                session.add(GroupDevice(group_id=group.id, device_id=device_id))
            await session.commit()
            return await self._view(session, group)

    async def all(self, tenant_id: str) -> list[GroupView]:
        async with self._db.session() as session:
            rows = await session.exec(
                select(DeviceGroup)
                .where(DeviceGroup.tenant_id == tenant_id)
                .order_by(col(DeviceGroup.created_at), col(DeviceGroup.slug))
            )
            return [await self._view(session, group) for group in rows.all()]

    async def get(self, tenant_id: str, slug_or_id: str) -> GroupView:
        """One group of the tenant by slug or id (404 otherwise), e.g. for group commands."""
        async with self._db.session() as session:
            return await self._view(session, await _group(session, tenant_id, slug_or_id))

    async def join(self, tenant_id: str, slug_or_id: str, user_id: str) -> GroupView:
        async with self._db.session() as session:
            group = await _group(session, tenant_id, slug_or_id)
            if await session.get(GroupMember, (group.id, user_id)) is None:
                session.add(GroupMember(group_id=group.id, user_id=user_id))
                try:
                    await session.commit()
                except IntegrityError:
                    # A concurrent join of the same user: already a member. The rollback expired the
                    # loaded row, so read it again.
                    await session.rollback()
                    group = await _group(session, tenant_id, slug_or_id)
            return await self._view(session, group)

    async def add_devices(self, tenant_id: str, slug_or_id: str, device_ids: Sequence[str]) -> GroupView:
        wanted = _device_ids(device_ids)
        if not wanted:
            raise fields.bad("device_ids", "is required")
        async with self._db.session() as session:
            group = await _group(session, tenant_id, slug_or_id)
            await _check_devices(session, tenant_id, wanted)
            present = set(
                (
                    await session.exec(select(GroupDevice.device_id).where(GroupDevice.group_id == group.id))
                ).all()
            )
            for device_id in wanted:
                if device_id not in present:
                    session.add(GroupDevice(group_id=group.id, device_id=device_id))
            try:
                await session.commit()
            except IntegrityError:
                raise HxtpError(Code.CONFLICT, "The group changed concurrently; retry") from None
            return await self._view(session, group)
