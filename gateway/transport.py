"""How the gateway reaches the servicers: in-process (default) or a remote gRPC server.

Both transports take the same message, the same metadata and hand back the same `RpcFailure`
on error, so the gateway above them cannot tell which one it is using. The in-process one calls
the server's wrapped handlers directly (the same authentication/role/error chain a native gRPC
call traverses) with a small ServicerContext stand-in, so there is no loopback hop.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
from google.protobuf.message import Message
from google.rpc import status_pb2

from gateway.descriptors import MethodInfo
from hxtp.cloud.v1 import errors_pb2

Metadata = tuple[tuple[str, str | bytes], ...]
# Called once the server's chain has let a streaming call in (see Transport.stream).
Admitted = Callable[[], None] | None
STATUS_DETAILS_KEY = "grpc-status-details-bin"  # the standard gRPC rich-status trailer


@dataclass
class RpcFailure(Exception):
    """A failed call, as either transport reports it."""

    code: grpc.StatusCode
    message: str
    detail: errors_pb2.ErrorDetail | None = None
    trailing: Metadata = ()

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"


@dataclass(frozen=True)
class UnaryResult:
    response: Message
    trailing: Metadata


class Transport(Protocol):
    async def unary(self, method: MethodInfo, request: Message, metadata: Metadata) -> UnaryResult: ...

    def stream(
        self, method: MethodInfo, request: Message, metadata: Metadata, on_admitted: Admitted = None
    ) -> AsyncIterator[Message]:
        """The streamed messages; `on_admitted` is called once the server's chain has let the call in
        (its initial metadata), before any message, so a refusal can be told from a quiet stream."""
        ...

    async def close(self) -> None: ...


def error_detail(trailing: Sequence[tuple[str, Any]]) -> errors_pb2.ErrorDetail | None:
    """The ErrorDetail packed in google.rpc.Status trailing metadata, if any."""
    for key, value in trailing:
        if key != STATUS_DETAILS_KEY:
            continue
        status = status_pb2.Status.FromString(value)
        for packed in status.details:
            detail = errors_pb2.ErrorDetail()
            if packed.Unpack(detail):
                return detail
    return None


# ---------------------------------------------------------------- in-process


class LocalAbort(grpc.aio.AbortError):
    """Raised by LocalContext.abort; an AbortError like grpc.aio's, so the server chain treats both alike."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing: Metadata) -> None:
        super().__init__(details)
        self.code = code
        self.details = details
        self.trailing = trailing


class LocalContext:
    """The part of grpc.aio.ServicerContext that our handlers use, for in-process calls."""

    def __init__(self, metadata: Metadata, peer: str = "gateway", on_admitted: Admitted = None) -> None:
        self._metadata = metadata
        self._on_admitted = on_admitted
        self._peer = peer
        self._trailing: Metadata = ()
        self._code: grpc.StatusCode | None = None
        self._details = ""
        self._deadline = time.monotonic() + 3600.0

    def invocation_metadata(self) -> Metadata:
        return self._metadata

    def peer(self) -> str:
        return self._peer

    async def send_initial_metadata(self, initial: Metadata) -> None:
        if self._on_admitted is not None:
            self._on_admitted()
            self._on_admitted = None

    def set_trailing_metadata(self, trailing: Metadata) -> None:
        self._trailing = tuple(trailing)

    def trailing_metadata(self) -> Metadata:
        return self._trailing

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def set_details(self, details: str) -> None:
        self._details = details

    def details(self) -> str:
        return self._details

    def time_remaining(self) -> float:
        return max(0.0, self._deadline - time.monotonic())

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Metadata = ()) -> None:
        raise LocalAbort(code, details, tuple(trailing_metadata) or self._trailing)


LocalHandler = Callable[[Message, LocalContext], Awaitable[Message] | AsyncIterator[Message]]


def _failure_from_abort(abort: LocalAbort) -> RpcFailure:
    return RpcFailure(abort.code, abort.details, error_detail(abort.trailing), abort.trailing)


def _unset_status_failure(context: LocalContext) -> RpcFailure | None:
    code = context.code()
    if code is None or code == grpc.StatusCode.OK:
        return None
    return RpcFailure(
        code, context.details(), error_detail(context.trailing_metadata()), context.trailing_metadata()
    )


class InProcessTransport:
    def __init__(self, handlers: Mapping[str, LocalHandler]) -> None:
        self._handlers = handlers

    def _handler(self, method: MethodInfo) -> LocalHandler:
        handler = self._handlers.get(method.full_name)
        if handler is None:
            raise RpcFailure(grpc.StatusCode.UNIMPLEMENTED, f"{method.full_name} is not served here")
        return handler

    async def unary(self, method: MethodInfo, request: Message, metadata: Metadata) -> UnaryResult:
        context = LocalContext(metadata)
        try:
            response = await self._handler(method)(request, context)  # type: ignore[misc]
        except LocalAbort as abort:
            raise _failure_from_abort(abort) from None
        failure = _unset_status_failure(context)
        if failure is not None:
            raise failure
        return UnaryResult(response, context.trailing_metadata())

    async def stream(
        self, method: MethodInfo, request: Message, metadata: Metadata, on_admitted: Admitted = None
    ) -> AsyncIterator[Message]:
        context = LocalContext(metadata, on_admitted=on_admitted)
        try:
            async for message in self._handler(method)(request, context):  # type: ignore[union-attr]
                yield message
        except LocalAbort as abort:
            raise _failure_from_abort(abort) from None

    async def close(self) -> None:
        return None


# ---------------------------------------------------------------- remote gRPC


class RemoteTransport:
    """Calls a gRPC server over a channel; used when the gateway runs as its own process."""

    def __init__(self, target: str) -> None:
        self._channel = grpc.aio.insecure_channel(target)
        self._unary: dict[str, Any] = {}
        self._streams: dict[str, Any] = {}

    def _callable(self, method: MethodInfo, table: dict[str, Any], factory: Any) -> Any:
        stub = table.get(method.full_name)
        if stub is None:
            stub = factory(
                method.full_name,
                request_serializer=method.input_type.SerializeToString,
                response_deserializer=method.output_type.FromString,
            )
            table[method.full_name] = stub
        return stub

    @staticmethod
    def _failure(error: grpc.aio.AioRpcError) -> RpcFailure:
        trailing = tuple(error.trailing_metadata() or ())
        return RpcFailure(error.code(), error.details() or "", error_detail(trailing), trailing)

    async def unary(self, method: MethodInfo, request: Message, metadata: Metadata) -> UnaryResult:
        stub = self._callable(method, self._unary, self._channel.unary_unary)
        call = stub(request, metadata=metadata)
        try:
            response = await call
            trailing = await call.trailing_metadata()
        except grpc.aio.AioRpcError as error:
            raise self._failure(error) from None
        return UnaryResult(response, tuple(trailing or ()))

    async def stream(
        self, method: MethodInfo, request: Message, metadata: Metadata, on_admitted: Admitted = None
    ) -> AsyncIterator[Message]:
        stub = self._callable(method, self._streams, self._channel.unary_stream)
        call = stub(request, metadata=metadata)
        try:
            await call.initial_metadata()  # the server sends it once its chain has admitted the call
            if on_admitted is not None:
                on_admitted()
            async for message in call:
                yield message
        except grpc.aio.AioRpcError as error:
            raise self._failure(error) from None
        finally:
            call.cancel()

    async def close(self) -> None:
        await self._channel.close()
