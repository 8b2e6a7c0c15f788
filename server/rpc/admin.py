"""AdminService: the platform operator's routes (rules in server/domain/platform and onboarding)."""

from __future__ import annotations

from typing import Any

from hxtp.cloud.v1 import admin_pb2
from server.domain.identity.onboarding import Onboarding
from server.domain.platform.flags import FeatureFlags
from server.domain.platform.operator import HEADER, OperatorKey
from server.domain.platform.suspensions import TenantSuspensions
from server.domain.platform.tenants import Platform
from server.rpc import call_context
from server.rpc.chain import metadata_dict
from server.rpc.convert import when


class AdminServicer:
    def __init__(
        self,
        key: OperatorKey,
        onboarding: Onboarding,
        platform: Platform,
        suspensions: TenantSuspensions,
        flags: FeatureFlags,
    ) -> None:
        self._key = key
        self._onboarding = onboarding
        self._platform = platform
        self._suspensions = suspensions
        self._flags = flags

    def _operator(self, context: Any) -> None:
        self._key.check(metadata_dict(context).get(HEADER, ""))

    async def CreateInvite(
        self, request: admin_pb2.CreateInviteRequest, context: Any
    ) -> admin_pb2.CreateInviteResponse:
        self._operator(context)
        issued = await self._onboarding.invite(request.email, call_context.optional_principal())
        return admin_pb2.CreateInviteResponse(
            token=issued.token,
            link=issued.link,
            email=issued.email,
            expires_at=issued.expires_at,
            tenant_id=issued.tenant_id,
        )

    async def ListTenants(
        self, request: admin_pb2.ListTenantsRequest, context: Any
    ) -> admin_pb2.ListTenantsResponse:
        self._operator(context)
        tenants = [
            admin_pb2.TenantSummary(
                id=t.id,
                name=t.name,
                slug=t.slug,
                tier=t.tier,
                suspended=t.suspended,
                device_count=t.device_count,
                created_at=when(t.created_at),
            )
            for t in await self._platform.tenants()
        ]
        return admin_pb2.ListTenantsResponse(tenants=tenants, count=len(tenants))

    async def GetPlatformStats(
        self, request: admin_pb2.GetPlatformStatsRequest, context: Any
    ) -> admin_pb2.GetPlatformStatsResponse:
        self._operator(context)
        stats = await self._platform.stats()
        return admin_pb2.GetPlatformStatsResponse(
            tenants_count=stats.tenants_count,
            total_devices=stats.total_devices,
            active_devices=stats.active_devices,
            status=stats.status,
        )

    async def SuspendTenant(
        self, request: admin_pb2.SuspendTenantRequest, context: Any
    ) -> admin_pb2.SuspendTenantResponse:
        self._operator(context)
        reason = request.reason if request.HasField("reason") else ""
        await self._suspensions.suspend(request.tenant_id, reason)
        return admin_pb2.SuspendTenantResponse(status="suspended", tenant_id=request.tenant_id)

    async def ResumeTenant(
        self, request: admin_pb2.ResumeTenantRequest, context: Any
    ) -> admin_pb2.ResumeTenantResponse:
        self._operator(context)
        await self._suspensions.resume(request.tenant_id)
        return admin_pb2.ResumeTenantResponse(status="active", tenant_id=request.tenant_id)

    async def SetFeatureFlag(
        self, request: admin_pb2.SetFeatureFlagRequest, context: Any
    ) -> admin_pb2.SetFeatureFlagResponse:
        self._operator(context)
        flag, state = await self._flags.set(request.flag, request.state)
        return admin_pb2.SetFeatureFlagResponse(flag=flag, state=state)
