"""TenantService: thin mapping onto server/domain/identity/users.py."""

from __future__ import annotations

from typing import Any

from hxtp.cloud.v1 import tenant_pb2
from server.domain.identity.users import Identity
from server.rpc import call_context


class TenantServicer:
    def __init__(self, identity: Identity) -> None:
        self._identity = identity

    async def RegisterTenant(self, request: Any, context: Any) -> tenant_pb2.RegisterTenantResponse:
        tenant_id, user_id = await self._identity.register_tenant(
            call_context.principal(), request.tenant_name
        )
        return tenant_pb2.RegisterTenantResponse(tenant_id=tenant_id, user_id=user_id)
