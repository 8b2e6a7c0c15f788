"""The native gRPC face of the same server: reflection, standard health, the same chain."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from gateway.transport import error_detail
from hxtp.cloud.v1 import errors_pb2, home_pb2, system_pb2
from hxtp.cloud.v1 import health_pb2 as health_api
from server.app import Application
from server.rpc.registry import api_services
from tests.integration.harness import running


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Application]:
    async with running(tmp_path) as application:
        yield application


@pytest.fixture
async def channel(app: Application) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.ports.grpc}") as opened:
        yield opened


def _reflected_services(target: str) -> set[str]:
    # The reflection client is synchronous; it runs in a thread so the server keeps its loop.
    with grpc.insecure_channel(target) as sync_channel:
        return set(ProtoReflectionDescriptorDatabase(sync_channel).get_services())


async def test_reflection_lists_every_service(app: Application) -> None:
    services = await asyncio.to_thread(_reflected_services, f"127.0.0.1:{app.ports.grpc}")
    expected = {service.full_name for service in api_services()}
    assert len(expected) >= 15
    assert expected <= services
    assert {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= services


async def test_standard_health_reports_serving(channel: grpc.aio.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", "hxtp.cloud.v1.SystemService"):
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_native_call_goes_through_the_same_servicer(channel: grpc.aio.Channel) -> None:
    call = channel.unary_unary(
        "/hxtp.cloud.v1.SystemService/GetStatus",
        request_serializer=system_pb2.GetStatusRequest.SerializeToString,
        response_deserializer=system_pb2.GetStatusResponse.FromString,
    )
    reply = await call(system_pb2.GetStatusRequest())
    assert (reply.system, reply.version, reply.protocol) == ("HXTP Cloud", "1.0.0", "HxTP/3.0")


async def test_native_calls_meet_the_same_chain(app: Application, channel: grpc.aio.Channel) -> None:
    list_homes = channel.unary_unary(
        "/hxtp.cloud.v1.HomeService/ListHomes",
        request_serializer=home_pb2.ListHomesRequest.SerializeToString,
        response_deserializer=home_pb2.ListHomesResponse.FromString,
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await list_homes(home_pb2.ListHomesRequest())
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    detail = error_detail(refused.value.trailing_metadata() or ())
    assert detail is not None and detail.code == errors_pb2.UNAUTHORIZED


async def test_health_over_grpc_names_what_runs(channel: grpc.aio.Channel) -> None:
    call = channel.unary_unary(
        "/hxtp.cloud.v1.HealthService/GetHealth",
        request_serializer=health_api.GetHealthRequest.SerializeToString,
        response_deserializer=health_api.GetHealthResponse.FromString,
    )
    reply = await call(health_api.GetHealthRequest())
    assert (reply.backends.database, reply.backends.cache, reply.backends.mqtt) == (
        "sqlite",
        "in-process",
        "embedded",
    )
    assert reply.services["database"].backend == "sqlite"
