"""A running server (embedded defaults) plus small REST and native gRPC clients for the fleet tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf.message import Message

from gateway.transport import error_detail
from hxtp.cloud.v1 import errors_pb2
from server.app import Application
from server.domain.identity.principal import Role
from tests.integration.harness import base_url, running, token

TENANT = "tenant-1"
OTHER_TENANT = "tenant-2"


@dataclass
class Client:
    """REST calls as one principal (admin of tenant-1 unless told otherwise)."""

    http: httpx.AsyncClient
    app: Application

    def headers(self, role: Role = Role.ADMIN, tenant: str | None = TENANT) -> dict[str, str]:
        return {"authorization": f"Bearer {token(self.app, role=role, tenant_id=tenant)}"}

    async def call(
        self, method: str, path: str, role: Role = Role.ADMIN, tenant: str | None = TENANT, **kwargs: Any
    ) -> httpx.Response:
        return await self.http.request(method, f"/api/v1{path}", headers=self.headers(role, tenant), **kwargs)

    async def home(self, name: str = "Home", tenant: str = TENANT) -> str:
        response = await self.call("POST", "/homes", tenant=tenant, json={"home_name": name})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def device(
        self, home_id: str, device_type: str = "esp32", tenant: str = TENANT, **extra: Any
    ) -> dict:
        body = {"device_type": device_type, "home_id": home_id, **extra}
        response = await self.call("POST", "/devices/register", tenant=tenant, json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())


@dataclass
class Rpc:
    """Native gRPC calls on the server's port."""

    channel: grpc.aio.Channel
    app: Application

    async def __call__(
        self,
        method: str,
        request: Message,
        reply: type[Message],
        role: Role = Role.ADMIN,
        tenant: str | None = TENANT,
    ) -> Any:
        call = self.channel.unary_unary(
            method, request_serializer=type(request).SerializeToString, response_deserializer=reply.FromString
        )
        metadata = (("authorization", f"Bearer {token(self.app, role=role, tenant_id=tenant)}"),)
        return await call(request, metadata=metadata)

    async def fails(
        self, method: str, request: Message, reply: type[Message], **kwargs: Any
    ) -> tuple[str, str]:
        """The error code name and reason of a call that must fail."""
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await self(method, request, reply, **kwargs)
        detail = error_detail(raised.value.trailing_metadata() or ())
        assert detail is not None
        return errors_pb2.ErrorCode.Name(detail.code), detail.reason


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Application]:
    async with running(tmp_path, wait_for_mqtt=False) as application:
        yield application


@pytest.fixture
async def client(app: Application) -> AsyncIterator[Client]:
    async with httpx.AsyncClient(base_url=base_url(app), timeout=10) as http:
        yield Client(http, app)


@pytest.fixture
async def rpc(app: Application) -> AsyncIterator[Rpc]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.ports.grpc}") as channel:
        yield Rpc(channel, app)
