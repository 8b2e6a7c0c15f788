"""TenantService: thin mapping onto server/domain/identity/users.py."""

from __future__ import annotations

from typing import Any

from hxtp.cloud.v1 import tenant_pb2
from server.domain.identity.onboarding import Onboarding
from server.domain.identity.users import Identity
from server.rpc import call_context


class TenantServicer:
    def __init__(self, identity: Identity, onboarding: Onboarding) -> None:
        self._identity = identity
        self._onboarding = onboarding

    async def RegisterTenant(
        self, request: tenant_pb2.RegisterTenantRequest, context: Any
    ) -> tenant_pb2.RegisterTenantResponse:
        principal = call_context.principal()
        if request.HasField("invite_token") and request.invite_token:
            tenant_id, user_id = await self._onboarding.redeem(
                principal, request.invite_token, request.tenant_name
            )
        else:
            tenant_id, user_id = await self._identity.register_tenant(principal, request.tenant_name)
        return tenant_pb2.RegisterTenantResponse(tenant_id=tenant_id, user_id=user_id)
