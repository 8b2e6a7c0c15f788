"""The one error registry, on the server side.

Codes, their gRPC and HTTP statuses and default messages are declared once, as options on the
`hxtp.cloud.v1.ErrorCode` enum (protos/hxtp/cloud/v1/errors.proto), read by `contract.error_registry`.
Business code raises `HxtpError(Code.X, reason)`; the RPC chain turns it into a gRPC status whose
details carry an `ErrorDetail` (server/rpc/status.py), which the gateway renders as the REST body.
Nothing else invents error shapes. Free of grpc, so the domain can raise without a transport.
"""

from __future__ import annotations

from typing import Any

from contract.error_registry import SPECS, ErrorSpec
from hxtp.cloud.v1 import errors_pb2

# The generated enum itself: callers write Code.NOT_FOUND, and its stub lets type checkers see the names.
Code = errors_pb2.ErrorCode

__all__ = ["SPECS", "Code", "ErrorSpec", "HxtpError"]


class HxtpError(Exception):
    """A failure a client should see, with the code that decides its status and body."""

    def __init__(self, code: int, reason: str = "", **fields: Any) -> None:
        self.code = int(code)
        self.spec = SPECS[self.code]
        self.reason = reason
        self.fields = fields
        super().__init__(f"{self.spec.name}: {reason or self.spec.message}")
