"""An `HxtpError` as a gRPC status: code, details text, and the ErrorDetail in trailing metadata."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import status_pb2

from hxtp.cloud.v1 import errors_pb2
from server.errors import HxtpError

STATUS_DETAILS_KEY = "grpc-status-details-bin"
_GRPC_STATUS = {status.value[0]: status for status in grpc.StatusCode}


def grpc_status_of(error: HxtpError) -> grpc.StatusCode:
    return _GRPC_STATUS[error.spec.grpc_code]


def to_status(error: HxtpError) -> tuple[grpc.StatusCode, str, tuple[tuple[str, bytes], ...]]:
    detail = errors_pb2.ErrorDetail(code=errors_pb2.ErrorCode.Name(error.code), reason=error.reason)
    if error.fields:
        detail.fields.update(error.fields)
    packed = any_pb2.Any()
    packed.Pack(detail)
    message = error.reason or error.spec.message
    status = status_pb2.Status(code=error.spec.grpc_code, message=message, details=[packed])
    return grpc_status_of(error), message, ((STATUS_DETAILS_KEY, status.SerializeToString()),)
