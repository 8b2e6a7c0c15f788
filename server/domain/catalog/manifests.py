"""Device capability manifests: validated once, stored as immutable versions, compiled for commands.

POST stores version 1 (409 when the device already has one); PUT stores version n+1 (version 1 when
there is none yet). Earlier versions are never changed and stay readable through the history. A
manifest is checked before it is stored: known safety classes (`standard` is stored as `normal`),
unique actions and ids (ids are 1..65535, the firmware's uint16; an id left out or 0 gets the
registry id of its action, else the next free one), and a parameter schema in the subset the `ext`
validator compiles (that compiler is the one judge of schemas).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

import ext
from server.domain import fields
from server.domain.catalog import capabilities as capability_catalog
from server.domain.lookups import device_in_tenant
from server.domain.memo import MANIFEST, MemoHub, TtlMemo
from server.domain.ports import AuditTrail
from server.errors import Code, HxtpError
from server.storage.database import Database
from server.storage.fleet_tables import DeviceManifest

SAFETY_CLASSES = ("normal", "sensitive", "critical", "restricted")
_SAFETY_ALIASES = {"standard": "normal"}
_ACTION = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
MAX_CAPABILITIES = 256
MAX_CAPABILITY_ID = 65535


@dataclass(frozen=True)
class ManifestEntry:
    id: int
    action: str
    description: str = ""
    safety_class: str = "normal"
    param_schema: dict[str, Any] = field(default_factory=dict)
    supports_dry_run: bool = False


@dataclass(frozen=True)
class ManifestView:
    device_id: str
    tenant_id: str
    version: int
    capabilities: list[ManifestEntry]
    created_at: datetime


@dataclass(frozen=True)
class CompiledAction:
    entry: ManifestEntry
    validate: ext.ParamsValidator


def _safety_class(where: str, value: str) -> str:
    word = value.strip().lower() or "normal"
    word = _SAFETY_ALIASES.get(word, word)
    if word not in SAFETY_CLASSES:
        raise fields.bad(
            f"{where}.safetyClass", f"unknown safety class {value!r}; use one of {SAFETY_CLASSES}"
        )
    return word


def _checked_schema(where: str, schema: dict[str, Any]) -> dict[str, Any]:
    try:
        ext.compile_params_schema(schema)
    except ext.SchemaInvalid as error:
        raise fields.bad(f"{where}.paramSchema", str(error)) from None
    return schema


def validate_manifest(entries: Sequence[ManifestEntry]) -> list[ManifestEntry]:
    """The manifest as it will be stored, or a 400 naming the first offending field."""
    if not entries:
        raise fields.bad("capabilities", "at least one capability is required")
    if len(entries) > MAX_CAPABILITIES:
        raise fields.bad("capabilities", f"at most {MAX_CAPABILITIES} capabilities are allowed")
    actions: set[str] = set()
    ids: set[int] = set()
    checked: list[ManifestEntry] = []
    for index, entry in enumerate(entries):
        where = f"capabilities[{index}]"
        action = entry.action.strip()
        if not _ACTION.match(action):
            raise fields.bad(
                f"{where}.action", "must start with a letter and use letters, digits, '_', '.', '-'"
            )
        if action in actions:
            raise fields.bad(f"{where}.action", f"duplicate action {action!r}")
        actions.add(action)
        if not 0 <= entry.id <= MAX_CAPABILITY_ID:
            raise fields.bad(f"{where}.id", f"must be between 1 and {MAX_CAPABILITY_ID}")
        if entry.id in ids:
            raise fields.bad(f"{where}.id", f"duplicate capability id {entry.id}")
        if entry.id:
            ids.add(entry.id)
        known = capability_catalog.BY_ACTION.get(action)
        checked.append(
            ManifestEntry(
                id=entry.id,
                action=action,
                description=fields.text(f"{where}.description", entry.description, 500, required=False)
                or (known.description if known else ""),
                safety_class=_safety_class(where, entry.safety_class),
                param_schema=_checked_schema(where, entry.param_schema),
                supports_dry_run=entry.supports_dry_run,
            )
        )
    return _with_ids(checked, ids)


def _with_ids(entries: list[ManifestEntry], taken: set[int]) -> list[ManifestEntry]:
    result: list[ManifestEntry] = []
    for entry in entries:
        if entry.id:
            result.append(entry)
            continue
        known = capability_catalog.BY_ACTION.get(entry.action)
        new_id = known.id if known and known.id not in taken else max(taken | {0}) + 1
        if new_id > MAX_CAPABILITY_ID:
            raise fields.bad("capabilities", "no capability id left below 65536")
        taken.add(new_id)
        result.append(ManifestEntry(**{**asdict(entry), "id": new_id}))
    return result


def default_manifest(device_type: str) -> list[ManifestEntry]:
    return [
        ManifestEntry(c.id, c.action, c.description, c.safety_class, dict(c.param_schema), c.supports_dry_run)
        for c in capability_catalog.default_capabilities(device_type)
    ]


def _dump(entries: list[ManifestEntry]) -> str:
    return json.dumps([asdict(entry) for entry in entries], separators=(",", ":"), sort_keys=True)


def _view(row: DeviceManifest) -> ManifestView:
    entries = [ManifestEntry(**item) for item in json.loads(row.capabilities)]
    return ManifestView(row.device_id, row.tenant_id, row.version, entries, row.created_at)


async def _latest(session: AsyncSession, device_id: str) -> DeviceManifest | None:
    rows = await session.exec(
        select(DeviceManifest)
        .where(DeviceManifest.device_id == device_id)
        .order_by(col(DeviceManifest.version).desc())
        .limit(1)
    )
    return rows.first()


def add_version(
    session: AsyncSession, tenant_id: str, device_id: str, version: int, entries: list[ManifestEntry]
) -> DeviceManifest:
    """Stage a manifest version in the caller's transaction (registration uses this for v1)."""
    row = DeviceManifest(
        tenant_id=tenant_id, device_id=device_id, version=version, capabilities=_dump(entries)
    )
    session.add(row)
    return row


class Manifests:
    def __init__(self, database: Database, audit: AuditTrail, memos: MemoHub | None = None) -> None:
        self._db = database
        self._audit = audit
        # Which version is current (commands ask on each call); a new version forgets it everywhere.
        self._memos = memos if memos is not None else MemoHub()
        self._current: TtlMemo[tuple[str, str], dict[str, CompiledAction]] = self._memos.memo(MANIFEST)
        # device id -> (manifest version, compiled actions): one entry per device, replaced on a new version.
        self._compiled: dict[str, tuple[int, dict[str, CompiledAction]]] = {}

    async def get(self, tenant_id: str, device_id: str) -> ManifestView:
        async with self._db.session() as session:
            await device_in_tenant(session, tenant_id, device_id)
            row = await _latest(session, device_id)
        if row is None:
            raise HxtpError(Code.MANIFEST_NOT_FOUND, "No capability manifest for device")
        return _view(row)

    async def history(self, tenant_id: str, device_id: str) -> list[ManifestView]:
        async with self._db.session() as session:
            await device_in_tenant(session, tenant_id, device_id)
            rows = await session.exec(
                select(DeviceManifest)
                .where(DeviceManifest.device_id == device_id)
                .order_by(col(DeviceManifest.version).desc())
            )
            return [_view(row) for row in rows]

    async def create(self, tenant_id: str, device_id: str, entries: Sequence[ManifestEntry]) -> ManifestView:
        return await self._store(tenant_id, device_id, entries, first_only=True)

    async def update(self, tenant_id: str, device_id: str, entries: Sequence[ManifestEntry]) -> ManifestView:
        return await self._store(tenant_id, device_id, entries, first_only=False)

    async def _store(
        self, tenant_id: str, device_id: str, entries: Sequence[ManifestEntry], first_only: bool
    ) -> ManifestView:
        checked = validate_manifest(entries)
        async with self._db.session() as session:
            await device_in_tenant(session, tenant_id, device_id)
            latest = await _latest(session, device_id)
            if latest is not None and first_only:
                raise HxtpError(
                    Code.CONFLICT, f"Device already has manifest version {latest.version}; use PUT"
                )
            row = add_version(session, tenant_id, device_id, (latest.version if latest else 0) + 1, checked)
            try:
                await session.commit()
            except IntegrityError:
                raise HxtpError(Code.CONFLICT, "The manifest changed concurrently; retry") from None
        await self._memos.forget((MANIFEST, (tenant_id, device_id)))
        await self._audit.append(
            "MANIFEST_UPDATE",
            tenant_id=tenant_id,
            device_id=device_id,
            details={"version": row.version, "actions": [entry.action for entry in checked]},
        )
        return _view(row)

    async def compiled(self, tenant_id: str, device_id: str) -> dict[str, CompiledAction]:
        """The current manifest as action -> entry + params validator, compiled once per version."""
        return await self._current.get((tenant_id, device_id), lambda: self._compile(tenant_id, device_id))

    async def _compile(self, tenant_id: str, device_id: str) -> dict[str, CompiledAction]:
        manifest = await self.get(tenant_id, device_id)
        cached = self._compiled.get(device_id)
        if cached is not None and cached[0] == manifest.version:
            return cached[1]
        actions = {
            entry.action: CompiledAction(entry, ext.compile_params_schema(entry.param_schema))
            for entry in manifest.capabilities
        }
        self._compiled[device_id] = (manifest.version, actions)
        return actions
