"""Every RPC of the API, bound to its servicer method (or to an honest NOT_IMPLEMENTED) and
wrapped by the chain. The same endpoint table feeds the gRPC server and the in-process gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import message_factory

from contract.modules import api_services
from hxtp.cloud.v1 import options_pb2
from server.errors import Code, HxtpError
from server.rpc.chain import Chain, MethodSpec


@dataclass(frozen=True)
class Endpoint:
    full_name: str  # "/hxtp.cloud.v1.SystemService/GetStatus"
    service: str
    method: str
    handler: Any  # wrapped: (request, context) -> awaitable response | async iterator
    request_type: Any
    response_type: Any
    server_streaming: bool
    implemented: bool


# What a caller reads for a method without a servicer: never the internal RPC name, which means
# nothing to a person and tells an attacker how the server is put together.
NOT_BUILT_REASON = "This operation is not available on this server"


def _not_built(streaming: bool) -> Any:
    reason = NOT_BUILT_REASON
    if streaming:

        async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
            raise HxtpError(Code.NOT_IMPLEMENTED, reason)
            yield  # makes this an async generator

        return stream

    async def unary(request: Any, context: Any) -> Any:
        raise HxtpError(Code.NOT_IMPLEMENTED, reason)

    return unary


def build_endpoints(servicers: Mapping[str, object], chain: Chain) -> dict[str, Endpoint]:
    """`servicers` maps a service's full name to the object whose methods implement it."""
    known = {service.full_name for service in api_services()}
    unknown = set(servicers) - known
    if unknown:
        raise ValueError(f"servicers for services the protos do not define: {sorted(unknown)}")
    endpoints: dict[str, Endpoint] = {}
    for service in api_services():
        implementation = servicers.get(service.full_name)
        for method in service.methods:
            handler = getattr(implementation, method.name, None)
            implemented = handler is not None
            if handler is None:
                handler = _not_built(method.server_streaming)
            full_name = f"/{service.full_name}/{method.name}"
            spec = MethodSpec(
                full_name, method.GetOptions().Extensions[options_pb2.policy], method.server_streaming
            )
            endpoints[full_name] = Endpoint(
                full_name=full_name,
                service=service.full_name,
                method=method.name,
                handler=chain.wrap(spec, handler),
                request_type=message_factory.GetMessageClass(method.input_type),
                response_type=message_factory.GetMessageClass(method.output_type),
                server_streaming=method.server_streaming,
                implemented=implemented,
            )
    return endpoints


def generic_handlers(endpoints: Mapping[str, Endpoint]) -> list[grpc.GenericRpcHandler]:
    """grpc.aio handlers for the endpoint table, one per service."""
    by_service: dict[str, dict[str, grpc.RpcMethodHandler]] = {}
    for endpoint in endpoints.values():
        factory = (
            grpc.unary_stream_rpc_method_handler
            if endpoint.server_streaming
            else grpc.unary_unary_rpc_method_handler
        )
        by_service.setdefault(endpoint.service, {})[endpoint.method] = factory(
            endpoint.handler,
            request_deserializer=endpoint.request_type.FromString,
            response_serializer=endpoint.response_type.SerializeToString,
        )
    return [grpc.method_handlers_generic_handler(name, methods) for name, methods in by_service.items()]
