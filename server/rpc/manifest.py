"""ManifestService: global registry, categories, device manifests (rules: domain.catalog)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf import struct_pb2

from hxtp.cloud.v1 import manifest_pb2
from server.domain.catalog import capabilities as capability_catalog
from server.domain.catalog.manifests import ManifestEntry, Manifests, ManifestView
from server.rpc.convert import dict_to_struct, struct_to_dict, tenant, when


def _entries(capabilities: Iterable[Any]) -> list[ManifestEntry]:
    return [
        ManifestEntry(
            id=c.id,
            action=c.action,
            description=c.description,
            safety_class=c.safety_class,
            param_schema=struct_to_dict(c.param_schema),
            supports_dry_run=c.supports_dry_run,
        )
        for c in capabilities
    ]


def _capabilities(manifest: ManifestView) -> list[manifest_pb2.ManifestCapability]:
    return [
        manifest_pb2.ManifestCapability(
            id=e.id,
            action=e.action,
            description=e.description,
            safety_class=e.safety_class,
            param_schema=dict_to_struct(e.param_schema),
            supports_dry_run=e.supports_dry_run,
        )
        for e in manifest.capabilities
    ]


def _registry() -> manifest_pb2.ListCapabilitiesResponse:
    return manifest_pb2.ListCapabilitiesResponse(
        capabilities=[
            manifest_pb2.RegistryCapability(
                id=c.id,
                action=c.action,
                description=c.description,
                category=c.category,
                safety_class=c.safety_class,
                param_schema=dict_to_struct(c.param_schema),
                supports_dry_run=c.supports_dry_run,
            )
            for c in capability_catalog.CATALOG
        ]
    )


def _categories() -> manifest_pb2.ListDeviceTypesResponse:
    categories = struct_pb2.Struct()
    for name, actions in capability_catalog.CATEGORIES.items():
        categories[name] = list(actions)
    return manifest_pb2.ListDeviceTypesResponse(categories=categories)


def _stored(m: ManifestView) -> dict[str, Any]:
    """The fields every answer about one stored manifest version carries."""
    return {
        "device_id": m.device_id,
        "tenant_id": m.tenant_id,
        "version": m.version,
        "capabilities": _capabilities(m),
    }


class ManifestServicer:
    def __init__(self, manifests: Manifests) -> None:
        self._manifests = manifests
        # The registry is fixed at build time: both answers are built once.
        self._registry = _registry()
        self._categories = _categories()

    async def ListCapabilities(
        self, request: manifest_pb2.ListCapabilitiesRequest, context: Any
    ) -> manifest_pb2.ListCapabilitiesResponse:
        return self._registry

    async def ListDeviceTypes(
        self, request: manifest_pb2.ListDeviceTypesRequest, context: Any
    ) -> manifest_pb2.ListDeviceTypesResponse:
        return self._categories

    async def GetDeviceManifest(
        self, request: manifest_pb2.GetDeviceManifestRequest, context: Any
    ) -> manifest_pb2.GetDeviceManifestResponse:
        m = await self._manifests.get(tenant(), request.device_id)
        return manifest_pb2.GetDeviceManifestResponse(**_stored(m))

    async def CreateDeviceManifest(
        self, request: manifest_pb2.CreateDeviceManifestRequest, context: Any
    ) -> manifest_pb2.CreateDeviceManifestResponse:
        m = await self._manifests.create(tenant(), request.device_id, _entries(request.capabilities))
        return manifest_pb2.CreateDeviceManifestResponse(status="created", **_stored(m))

    async def UpdateDeviceManifest(
        self, request: manifest_pb2.UpdateDeviceManifestRequest, context: Any
    ) -> manifest_pb2.UpdateDeviceManifestResponse:
        m = await self._manifests.update(tenant(), request.device_id, _entries(request.capabilities))
        return manifest_pb2.UpdateDeviceManifestResponse(status="updated", **_stored(m))

    async def ListDeviceManifestHistory(
        self, request: manifest_pb2.ListDeviceManifestHistoryRequest, context: Any
    ) -> manifest_pb2.ListDeviceManifestHistoryResponse:
        versions = await self._manifests.history(tenant(), request.device_id)
        return manifest_pb2.ListDeviceManifestHistoryResponse(
            device_id=request.device_id,
            versions=[
                manifest_pb2.ManifestVersion(
                    version=m.version, capabilities=_capabilities(m), created_at=when(m.created_at)
                )
                for m in versions
            ],
        )

    async def ListDeviceCapabilities(
        self, request: manifest_pb2.ListDeviceCapabilitiesRequest, context: Any
    ) -> manifest_pb2.ListDeviceCapabilitiesResponse:
        m = await self._manifests.get(tenant(), request.device_id)
        return manifest_pb2.ListDeviceCapabilitiesResponse(
            device_id=m.device_id, version=m.version, capabilities=_capabilities(m)
        )
