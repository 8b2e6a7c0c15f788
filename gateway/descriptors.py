"""What the gateway knows about the API, read once from the generated descriptors.

Every RPC becomes a `MethodInfo`: its full gRPC name, message classes, policy options and HTTP
bindings. Nothing here is hand-written per endpoint; a new RPC with an http annotation is served
as soon as its module is generated.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor, message_factory
from google.protobuf.message import Message

from contract.modules import api_services
from hxtp.cloud.v1 import options_pb2

API_PREFIX = "/api/v1"
HTTP_BODY = "google.api.HttpBody"


@dataclass(frozen=True)
class Binding:
    http_method: str  # GET, POST, PUT, PATCH, DELETE
    path: str  # as mounted, e.g. /api/v1/devices/{device_id}
    body: str  # "" (none), "*" (whole request) or a field name


@dataclass(frozen=True)
class MethodInfo:
    full_name: str  # "/hxtp.cloud.v1.DeviceService/RegisterDevice": the gRPC path
    service: str
    name: str
    input_type: type[Message]
    output_type: type[Message]
    server_streaming: bool
    policy: Any  # options_pb2.MethodPolicy
    bindings: tuple[Binding, ...] = field(default=())

    @property
    def success_status(self) -> int:
        return int(self.policy.success_status) or 200

    @property
    def raw_response(self) -> bool:
        return bool(self.output_type.DESCRIPTOR.full_name == HTTP_BODY)


def _mount_paths(path: str, mount: int) -> list[str]:
    if mount == options_pb2.MOUNT_ROOT:
        return [path]
    if mount == options_pb2.MOUNT_ROOT_AND_API:
        return [path, API_PREFIX + path]
    return [API_PREFIX + path]


def _rule_bindings(rule: Any, mount: int) -> Iterator[Binding]:
    pattern = rule.WhichOneof("pattern")
    if pattern == "custom":
        verb, path = rule.custom.kind.upper(), rule.custom.path
    elif pattern is not None:
        verb, path = pattern.upper(), getattr(rule, pattern)
    else:
        return
    for mounted in _mount_paths(path, mount):
        yield Binding(verb, mounted, rule.body)
    for extra in rule.additional_bindings:
        yield from _rule_bindings(extra, mount)


def _method_info(service: descriptor.ServiceDescriptor, method: descriptor.MethodDescriptor) -> MethodInfo:
    options = method.GetOptions()
    policy = options.Extensions[options_pb2.policy]
    bindings: tuple[Binding, ...] = ()
    if options.HasExtension(annotations_pb2.http):
        rule: http_pb2.HttpRule = options.Extensions[annotations_pb2.http]
        bindings = tuple(_rule_bindings(rule, policy.mount))
    return MethodInfo(
        full_name=f"/{service.full_name}/{method.name}",
        service=service.full_name,
        name=method.name,
        input_type=message_factory.GetMessageClass(method.input_type),
        output_type=message_factory.GetMessageClass(method.output_type),
        server_streaming=method.server_streaming,
        policy=policy,
        bindings=bindings,
    )


def load_methods() -> list[MethodInfo]:
    methods: list[MethodInfo] = []
    for service in api_services():
        methods.extend(_method_info(service, m) for m in service.methods)
    return methods
