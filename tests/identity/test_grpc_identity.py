"""Native gRPC callers traverse the same identity chain: API keys in metadata, rate-limit headers in
trailing metadata, 429 as RESOURCE_EXHAUSTED with the ErrorDetail."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from gateway.transport import error_detail
from hxtp.cloud.v1 import auth_pb2, errors_pb2
from server.app import Application
from tests.identity.conftest import user_token
from tests.integration.harness import running


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Application]:
    async with running(tmp_path, wait_for_mqtt=False) as application:
        yield application


async def test_grpc_me_with_an_api_key_and_the_limit(app: Application) -> None:
    owner = await user_token(app, "owner")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.ports.grpc}") as channel:
        create = channel.unary_unary(
            "/hxtp.cloud.v1.AuthService/CreateApiKey",
            request_serializer=auth_pb2.CreateApiKeyRequest.SerializeToString,
            response_deserializer=auth_pb2.CreateApiKeyResponse.FromString,
        )
        created = await create(
            auth_pb2.CreateApiKeyRequest(name="grpc", scopes=["admin:read"]),
            metadata=(("authorization", f"Bearer {owner}"),),
        )
        me = channel.unary_unary(
            "/hxtp.cloud.v1.AuthService/GetMe",
            request_serializer=auth_pb2.GetMeRequest.SerializeToString,
            response_deserializer=auth_pb2.GetMeResponse.FromString,
        )
        call = me(auth_pb2.GetMeRequest(), metadata=(("x-api-key", created.key),))
        reply = await call
        assert reply.user.role == "owner" and reply.has_tenant
        trailing = dict(await call.trailing_metadata())
        assert trailing["hxtp-http-header-x-ratelimit-limit"] == "60"

        calls = [me(auth_pb2.GetMeRequest(), metadata=(("x-api-key", created.key),)) for _ in range(70)]
        started = time.monotonic()
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        refilled = int(time.monotonic() - started)  # GCRA refills one request per second meanwhile
        refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
        # 60 per minute; one was spent on create, one on the first GetMe
        assert 12 - refilled <= len(refused) <= 12
        assert refused[0].code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        detail = error_detail(tuple(refused[0].trailing_metadata() or ()))
        assert detail is not None and detail.code == errors_pb2.RATE_LIMIT_EXCEEDED
        assert detail.fields["retry_after_seconds"] >= 1
