"""The error registry: every `hxtp.cloud.v1.ErrorCode` with the options errors.proto gives it.

Codes, their HTTP statuses, gRPC status numbers and default messages are declared once, as options
on the enum; this module reads them once for the server (which raises them) and the gateway (which
renders them).
"""

from __future__ import annotations

from dataclasses import dataclass

from hxtp.cloud.v1 import errors_pb2


@dataclass(frozen=True)
class ErrorSpec:
    number: int
    name: str
    http_status: int
    grpc_code: int  # the number of a grpc.StatusCode (grpc itself is not imported here)
    message: str
    code_is_error: bool  # the REST body's "error" is the code name rather than the message


def _load() -> dict[int, ErrorSpec]:
    enum = errors_pb2.DESCRIPTOR.enum_types_by_name["ErrorCode"]
    specs = {}
    for value in enum.values:
        option = value.GetOptions().Extensions[errors_pb2.error]
        specs[value.number] = ErrorSpec(
            number=value.number,
            name=value.name,
            http_status=option.http_status,
            grpc_code=option.grpc_code,
            message=option.message,
            code_is_error=option.code_is_error,
        )
    return specs


SPECS: dict[int, ErrorSpec] = _load()
BY_NAME: dict[str, ErrorSpec] = {spec.name: spec for spec in SPECS.values()}
