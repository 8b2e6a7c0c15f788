"""The one error registry, on the server side.

Codes, their gRPC and HTTP statuses and default messages are declared once, as options on the
`hxtp.cloud.v1.ErrorCode` enum (protos/hxtp/cloud/v1/errors.proto). Business code raises
`HxtpError(Code.X, reason)`; the RPC chain turns it into a gRPC status whose details carry an
`ErrorDetail`, which the gateway renders as the REST body. Nothing else invents error shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import status_pb2

from hxtp.cloud.v1 import errors_pb2

_ENUM = errors_pb2.DESCRIPTOR.enum_types_by_name["ErrorCode"]

# The generated enum itself: callers write Code.NOT_FOUND, and its stub lets type checkers see the names.
Code = errors_pb2.ErrorCode


@dataclass(frozen=True)
class ErrorSpec:
    name: str
    http_status: int
    grpc_status: grpc.StatusCode
    message: str
    code_is_error: bool


def _grpc_status_by_number() -> dict[int, grpc.StatusCode]:
    return {status.value[0]: status for status in grpc.StatusCode}


def _load_specs() -> dict[int, ErrorSpec]:
    by_number = _grpc_status_by_number()
    specs = {}
    for value in _ENUM.values:
        option = value.GetOptions().Extensions[errors_pb2.error]
        specs[value.number] = ErrorSpec(
            name=value.name,
            http_status=option.http_status,
            grpc_status=by_number[option.grpc_code],
            message=option.message,
            code_is_error=option.code_is_error,
        )
    return specs


SPECS: dict[int, ErrorSpec] = _load_specs()
STATUS_DETAILS_KEY = "grpc-status-details-bin"


class HxtpError(Exception):
    """A failure a client should see, with the code that decides its status and body."""

    def __init__(self, code: int, reason: str = "", **fields: Any) -> None:
        self.code = int(code)
        self.spec = SPECS[self.code]
        self.reason = reason
        self.fields = fields
        super().__init__(f"{self.spec.name}: {reason or self.spec.message}")

    def to_status(self) -> tuple[grpc.StatusCode, str, tuple[tuple[str, bytes], ...]]:
        """gRPC status code, details text and trailing metadata carrying the ErrorDetail."""
        detail = errors_pb2.ErrorDetail(code=errors_pb2.ErrorCode.Name(self.code), reason=self.reason)
        if self.fields:
            detail.fields.update(self.fields)
        packed = any_pb2.Any()
        packed.Pack(detail)
        message = self.reason or self.spec.message
        status = status_pb2.Status(code=self.spec.grpc_status.value[0], message=message, details=[packed])
        return self.spec.grpc_status, message, ((STATUS_DETAILS_KEY, status.SerializeToString()),)
