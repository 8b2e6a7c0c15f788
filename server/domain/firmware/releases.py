"""Firmware images and OTA releases of a tenant, and the "is there an update?" answer.

Uploaded images are stored under the firmware directory as `<id>.bin`, with a server-computed
SHA-256, and are published at once unless the upload asks to hold them (then `release` publishes).
`create_release` records an externally hosted image (by URL and checksum) and publishes it at once.
Every release carries the server's Ed25519 signature over its digest (firmware_signing). Versions
compare as semantic versions; device type `_all` (the dashboard's probe) matches releases of every
type.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from server.domain import fields
from server.domain.firmware import semver
from server.domain.firmware.signing import ReleaseSigner
from server.domain.lookups import device_in_tenant, plausible_id
from server.errors import Code, HxtpError
from server.storage.database import Database
from server.storage.fleet_tables import FirmwareRelease
from server.storage.types import utc_now

ANY_TYPE = "_all"
_CHECKSUM = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class FirmwareView:
    id: str
    device_type: str
    version: str
    checksum: str
    size: int
    ed25519_signature: str
    download_url: str
    status: str  # uploaded | released
    released_at: datetime | None
    created_at: datetime
    signing_public_key: str


@dataclass(frozen=True)
class UpdateCheck:
    update_available: bool
    latest: FirmwareView | None
    signing_public_key: str


def _url(field: str, value: str) -> str:
    url = fields.text(field, value, 2000)
    if not url.startswith(("https://", "http://")):
        raise fields.bad(field, "must be an http(s) URL")
    return url


class FirmwareReleases:
    def __init__(
        self, database: Database, signer: ReleaseSigner, directory: Path, max_bytes: int, api_base_url: str
    ) -> None:
        self._db = database
        self._signer = signer
        self._dir = directory
        self._max_bytes = max_bytes
        self._api_base_url = api_base_url.rstrip("/")

    def _view(self, row: FirmwareRelease) -> FirmwareView:
        url = row.url or f"{self._api_base_url}/firmware/{row.id}/download"
        return FirmwareView(
            row.id,
            row.device_type,
            row.version,
            row.checksum,
            row.size,
            row.ed25519_signature,
            url,
            row.status,
            row.released_at,
            row.created_at,
            self._signer.public_key_hex,
        )

    def _path(self, firmware_id: str) -> Path:
        return self._dir / f"{firmware_id}.bin"

    async def _insert(self, row: FirmwareRelease, image: bytes | None) -> FirmwareView:
        async with self._db.session() as session:
            duplicate = (
                await session.exec(
                    select(FirmwareRelease.id).where(
                        FirmwareRelease.tenant_id == row.tenant_id,
                        FirmwareRelease.device_type == row.device_type,
                        FirmwareRelease.version == row.version,
                    )
                )
            ).first()
            if duplicate is not None:
                raise HxtpError(Code.CONFLICT, f"{row.device_type} firmware {row.version} already exists")
            if image is not None:
                await asyncio.to_thread(_write_atomically, self._path(row.id), image)
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:
                if image is not None:
                    self._path(row.id).unlink(missing_ok=True)
                raise HxtpError(
                    Code.CONFLICT, f"{row.device_type} firmware {row.version} already exists"
                ) from None
        return self._view(row)

    async def upload(
        self,
        tenant_id: str,
        image: bytes,
        version: str,
        device_type: str,
        signature: str | None,
        release: bool = True,
    ) -> FirmwareView:
        kind = fields.identifier("device_type", device_type)
        semver.parse("version", version)
        if not image:
            raise fields.bad("firmware", "the image file is required")
        if len(image) > self._max_bytes:
            raise HxtpError(
                Code.PAYLOAD_TOO_LARGE,
                f"firmware: images are limited to {self._max_bytes} bytes",
                field="firmware",
            )
        checksum = hashlib.sha256(image).hexdigest()
        row = FirmwareRelease(
            tenant_id=tenant_id,
            device_type=kind,
            version=version.strip(),
            checksum=checksum,
            size=len(image),
            ed25519_signature=self._signer.checked_signature(signature, checksum),
        )
        if release:
            row.status, row.released_at = "released", utc_now()
        return await self._insert(row, image)

    async def create_release(
        self,
        tenant_id: str,
        device_type: str,
        version: str,
        url: str,
        checksum: str,
        signature: str | None,
        size: int | None,
    ) -> FirmwareView:
        kind = fields.identifier("device_type", device_type)
        semver.parse("version", version)
        location = _url("url", url)
        if not _CHECKSUM.match(checksum.strip()):
            raise fields.bad("checksum", "must be the image's SHA-256 in hex (64 characters)")
        if size is not None and size < 0:
            raise fields.bad("size", "must not be negative")
        digest = checksum.strip().lower()
        row = FirmwareRelease(
            tenant_id=tenant_id,
            device_type=kind,
            version=version.strip(),
            checksum=digest,
            size=size or 0,
            ed25519_signature=self._signer.checked_signature(signature, digest),
            url=location,
            status="released",
            released_at=utc_now(),
        )
        return await self._insert(row, None)

    async def _row(self, tenant_id: str, firmware_id: str) -> FirmwareRelease:
        async with self._db.session() as session:
            row = await session.get(FirmwareRelease, firmware_id) if plausible_id(firmware_id) else None
        if row is None or row.tenant_id != tenant_id:
            raise HxtpError(Code.NOT_FOUND, "Firmware not found", field="firmware_id")
        return row

    async def get(self, tenant_id: str, firmware_id: str) -> FirmwareView:
        return self._view(await self._row(tenant_id, firmware_id))

    async def release(self, tenant_id: str, firmware_id: str) -> FirmwareView:
        """Publish an image so update checks offer it (publishing twice changes nothing)."""
        row = await self._row(tenant_id, firmware_id)
        if row.status != "released":
            row.status, row.released_at = "released", utc_now()
            async with self._db.session() as session:
                session.add(row)
                await session.commit()
        return self._view(row)

    async def image(self, tenant_id: str, firmware_id: str) -> bytes:
        row = await self._row(tenant_id, firmware_id)
        if row.url:
            raise HxtpError(Code.NOT_FOUND, f"This release is hosted at {row.url}")
        try:
            return await asyncio.to_thread(self._path(row.id).read_bytes)
        except FileNotFoundError:
            raise HxtpError(Code.NOT_FOUND, "The firmware image file is missing on this server") from None

    async def check(
        self, tenant_id: str, device_type: str, current_version: str, device_id: str | None
    ) -> UpdateCheck:
        kind = device_type.strip()
        async with self._db.session() as session:
            if device_id:
                device = await device_in_tenant(session, tenant_id, device_id)
                kind = kind or device.device_type
            if kind != ANY_TYPE:
                kind = fields.identifier("device_type", kind)
            current = semver.parse("current_version", current_version or "")
            query = select(FirmwareRelease).where(
                FirmwareRelease.tenant_id == tenant_id, FirmwareRelease.status == "released"
            )
            if kind != ANY_TYPE:
                query = query.where(FirmwareRelease.device_type == kind)
            rows = list(await session.exec(query))
        releases = [(semver.parse("version", row.version), row) for row in rows]
        if not releases:
            return UpdateCheck(False, None, self._signer.public_key_hex)
        newest, row = max(releases, key=lambda pair: pair[0].key())
        return UpdateCheck(current < newest, self._view(row), self._signer.public_key_hex)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(path)
