"""The one error funnel of the gateway.

A failure (from either transport, or from the gateway's own checks) becomes an HTTP status and the
body `{"error": str, "code": str, "reason": str, ...extra fields}`. When the failure carries an
ErrorDetail, its code decides (from the registry in errors.proto); otherwise the gRPC status does,
through the table below (the usual gRPC -> HTTP mapping). The registry is `contract.error_registry`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc

from contract.error_registry import BY_NAME, SPECS
from gateway.codec import struct_to_python
from gateway.transport import RpcFailure

_BY_NAME = {name: spec.number for name, spec in BY_NAME.items()}

# gRPC status without an ErrorDetail -> the registry code that describes it.
_GRPC_FALLBACK: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.INVALID_ARGUMENT: "BAD_REQUEST",
    grpc.StatusCode.OUT_OF_RANGE: "BAD_REQUEST",
    grpc.StatusCode.FAILED_PRECONDITION: "CONFLICT",
    grpc.StatusCode.UNAUTHENTICATED: "UNAUTHORIZED",
    grpc.StatusCode.PERMISSION_DENIED: "FORBIDDEN",
    grpc.StatusCode.NOT_FOUND: "NOT_FOUND",
    grpc.StatusCode.ALREADY_EXISTS: "CONFLICT",
    grpc.StatusCode.ABORTED: "CONFLICT",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "RATE_LIMIT_EXCEEDED",
    grpc.StatusCode.UNIMPLEMENTED: "NOT_IMPLEMENTED",
    grpc.StatusCode.UNAVAILABLE: "SERVICE_UNAVAILABLE",
    grpc.StatusCode.DEADLINE_EXCEEDED: "SERVICE_UNAVAILABLE",
}


_OPAQUE = frozenset({"INTERNAL_ERROR", "NOT_IMPLEMENTED"})


@dataclass(frozen=True)
class ErrorResponse:
    status: int
    body: dict[str, Any]


def error_response(code_name: str, reason: str = "", **fields: Any) -> ErrorResponse:
    """A failure the gateway itself detects (unknown route, bad JSON, ...)."""
    return _render(_BY_NAME[code_name], reason, fields)


def failure_response(failure: RpcFailure) -> ErrorResponse:
    if failure.detail is not None and failure.detail.code in SPECS:
        fields = struct_to_python(failure.detail.fields) if failure.detail.HasField("fields") else {}
        return _render(failure.detail.code, failure.detail.reason, fields)
    name = _GRPC_FALLBACK.get(failure.code, "INTERNAL_ERROR")
    # Never leak internals: a bare INTERNAL or UNIMPLEMENTED status (grpc's own "Method not found",
    # a remote server's method path) says nothing a client can act on, so the registry text stands.
    reason = "" if name in _OPAQUE else failure.message
    return _render(_BY_NAME[name], reason, {})


def _render(number: int, reason: str, fields: dict[str, Any]) -> ErrorResponse:
    spec = SPECS[number]
    detail = reason or spec.message
    body: dict[str, Any] = {
        "error": spec.name if spec.code_is_error else detail,
        "code": spec.name,
        "reason": detail,
    }
    body.update(fields)
    return ErrorResponse(spec.http_status, body)
