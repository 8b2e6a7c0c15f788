"""A method without a servicer answers an honest 501 on both faces, and no body or status detail
names the internal RPC (the dashboard shows the reason to people as a toast)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import pytest

from gateway.app import Gateway
from gateway.errors import failure_response
from gateway.transport import InProcessTransport, RpcFailure, error_detail
from hxtp.cloud.v1 import errors_pb2, system_pb2
from server.cache.memory import MemoryCache
from server.domain.identity.api_keys import ApiKeys
from server.domain.identity.authentication import Authenticator
from server.domain.identity.sessions import Sessions
from server.domain.identity.tokens import TokenService
from server.domain.identity.users import Identity
from server.rpc.chain import Chain
from server.rpc.registry import Endpoint, build_endpoints, generic_handlers
from server.storage.database import Database
from server.storage.migrate import run_migrations_async

INTERNAL_NAMES = ("SystemService", "GetStatus", "hxtp.cloud", "not built")


@pytest.fixture
async def endpoints(tmp_path: Path) -> AsyncIterator[dict[str, Endpoint]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    await run_migrations_async(url)
    database = Database(url)
    authenticator = Authenticator(
        TokenService("k" * 32), Identity(database), ApiKeys(database), Sessions(MemoryCache())
    )
    yield build_endpoints({}, Chain(authenticator))
    await database.dispose()


async def test_rest_body_of_an_unbuilt_method_names_no_rpc(endpoints: dict[str, Endpoint]) -> None:
    gateway = Gateway(InProcessTransport({name: e.handler for name, e in endpoints.items()}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://t") as http:
        response = await http.get("/api/v1/status")
    assert response.status_code == 501
    body = response.json()
    assert body["code"] == "NOT_IMPLEMENTED" and body["reason"]
    for name in INTERNAL_NAMES:
        assert name not in response.text


async def test_grpc_status_of_an_unbuilt_method_names_no_rpc(endpoints: dict[str, Endpoint]) -> None:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(generic_handlers(endpoints))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            get_status = channel.unary_unary(
                "/hxtp.cloud.v1.SystemService/GetStatus",
                request_serializer=system_pb2.GetStatusRequest.SerializeToString,
                response_deserializer=system_pb2.GetStatusResponse.FromString,
            )
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await get_status(system_pb2.GetStatusRequest())
    finally:
        await server.stop(None)
    assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
    detail = error_detail(refused.value.trailing_metadata() or ())
    assert detail is not None and detail.code == errors_pb2.NOT_IMPLEMENTED
    for name in INTERNAL_NAMES:
        assert name not in (refused.value.details() or "") and name not in detail.reason


def test_a_remote_servers_bare_unimplemented_status_is_not_echoed() -> None:
    # What grpc itself answers for a method a remote server lacks.
    failure = RpcFailure(
        grpc.StatusCode.UNIMPLEMENTED, "Method not found: /hxtp.cloud.v1.SystemService/GetStatus"
    )
    response = failure_response(failure)
    assert response.status == 501 and response.body["code"] == "NOT_IMPLEMENTED"
    for name in INTERNAL_NAMES:
        assert name not in str(response.body)
