"""The error funnel and the headers every response carries."""

from __future__ import annotations

import uuid

import grpc
import httpx
import pytest
from google.protobuf import struct_pb2

from contract.error_registry import SPECS as REGISTRY
from gateway.errors import failure_response
from gateway.transport import RpcFailure, UnaryResult
from hxtp.cloud.v1 import errors_pb2, system_pb2
from tests.gateway.scripted import ScriptedTransport


def _detail(code: int, reason: str = "", **fields: object) -> errors_pb2.ErrorDetail:
    detail = errors_pb2.ErrorDetail(code=code, reason=reason)  # type: ignore[arg-type]
    if fields:
        extra = struct_pb2.Struct()
        extra.update(fields)
        detail.fields.CopyFrom(extra)
    return detail


def test_gateway_rejections_put_the_code_in_error() -> None:
    failure = RpcFailure(
        grpc.StatusCode.PERMISSION_DENIED,
        "x",
        _detail(errors_pb2.ACTION_NOT_IN_MANIFEST, "dance is not allowed"),
    )
    response = failure_response(failure)
    assert response.status == 403
    assert response.body == {
        "error": "ACTION_NOT_IN_MANIFEST",
        "code": "ACTION_NOT_IN_MANIFEST",
        "reason": "dance is not allowed",
    }


def test_dry_run_conflict_keeps_the_reference_fields() -> None:
    detail = _detail(
        errors_pb2.DRY_RUN_REQUIRED,
        "Critical action requires confirmation",
        status="dry_run_required",
        dry_run_token="tok-1",
        error="DRY_RUN_REQUIRED: confirm with token tok-1",
    )
    response = failure_response(RpcFailure(grpc.StatusCode.FAILED_PRECONDITION, "", detail))
    assert response.status == 409
    assert response.body["status"] == "dry_run_required"
    assert response.body["dry_run_token"] == "tok-1"
    assert response.body["code"] == "DRY_RUN_REQUIRED"
    assert "tok-1" in response.body["error"]


def test_other_codes_put_prose_in_error() -> None:
    response = failure_response(
        RpcFailure(grpc.StatusCode.NOT_FOUND, "", _detail(errors_pb2.NOT_FOUND, "Device not found"))
    )
    assert response.status == 404
    assert response.body == {"error": "Device not found", "code": "NOT_FOUND", "reason": "Device not found"}


@pytest.mark.parametrize(
    ("code", "status", "name"),
    [
        (grpc.StatusCode.UNAUTHENTICATED, 401, "UNAUTHORIZED"),
        (grpc.StatusCode.PERMISSION_DENIED, 403, "FORBIDDEN"),
        (grpc.StatusCode.NOT_FOUND, 404, "NOT_FOUND"),
        (grpc.StatusCode.INVALID_ARGUMENT, 400, "BAD_REQUEST"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 429, "RATE_LIMIT_EXCEEDED"),
        (grpc.StatusCode.UNIMPLEMENTED, 501, "NOT_IMPLEMENTED"),
        (grpc.StatusCode.UNAVAILABLE, 503, "SERVICE_UNAVAILABLE"),
        (grpc.StatusCode.INTERNAL, 500, "INTERNAL_ERROR"),
        (grpc.StatusCode.UNKNOWN, 500, "INTERNAL_ERROR"),
    ],
)
def test_plain_grpc_status_maps_through_the_table(code: grpc.StatusCode, status: int, name: str) -> None:
    response = failure_response(RpcFailure(code, "secret internals" if status == 500 else "why"))
    assert (response.status, response.body["code"]) == (status, name)
    assert isinstance(response.body["error"], str)
    assert "secret internals" not in str(response.body)


def test_every_registry_entry_has_a_real_http_status() -> None:
    assert REGISTRY, "the registry is read from errors.proto"
    for spec in REGISTRY.values():
        assert 400 <= spec.http_status <= 599, spec


async def test_transport_failure_is_rendered(client: httpx.AsyncClient, transport: ScriptedTransport) -> None:
    def refuse(request: object, metadata: object) -> None:
        raise RpcFailure(grpc.StatusCode.NOT_FOUND, "", _detail(errors_pb2.NOT_FOUND, "Device not found"))

    transport.answer("GetDevice", refuse)
    response = await client.get("/api/v1/devices/ghost")
    assert response.status_code == 404
    assert response.json()["error"] == "Device not found"


async def test_unexpected_exception_is_a_500_without_details(
    client: httpx.AsyncClient, transport: ScriptedTransport, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(request: object, metadata: object) -> None:
        raise RuntimeError("database password is hunter2")

    transport.answer("GetStatus", explode)
    response = await client.get("/api/v1/status")
    assert response.status_code == 500
    assert response.json()["code"] == "INTERNAL_ERROR"
    assert "hunter2" not in response.text
    assert "hunter2" in caplog.text  # logged for the operator
    caplog.clear()  # the error log was the point of this test


async def test_status_and_headers_from_trailing_metadata(
    client: httpx.AsyncClient, transport: ScriptedTransport
) -> None:
    transport.answer(
        "GetStatus",
        lambda r, m: UnaryResult(
            system_pb2.GetStatusResponse(status="x"),
            (("hxtp-http-status", "503"), ("hxtp-http-header-retry-after", "7")),
        ),
    )
    response = await client.get("/api/v1/status")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"


async def test_success_status_comes_from_the_proto(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/v1/homes", json={"home_name": "a"})).status_code == 201
    assert (await client.post("/api/v1/device/d/command", json={"action": "a"})).status_code == 202
    assert (await client.get("/api/v1/homes")).status_code == 200


async def test_protocol_headers_on_every_response(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/api/v1/status"), await client.get("/nowhere")):
        assert response.headers["x-api-version"] == "1"
        assert response.headers["x-protocol-version"] == "HxTP/3.0"
        uuid.UUID(response.headers["x-request-id"])


async def test_request_id_is_echoed_and_forwarded(
    client: httpx.AsyncClient, transport: ScriptedTransport
) -> None:
    response = await client.get("/api/v1/status", headers={"x-request-id": "req-42"})
    assert response.headers["x-request-id"] == "req-42"
    assert transport.last.metadata["x-request-id"] == "req-42"


async def test_generated_request_id_reaches_the_servicer(
    client: httpx.AsyncClient, transport: ScriptedTransport
) -> None:
    response = await client.get("/api/v1/status")
    assert transport.last.metadata["x-request-id"] == response.headers["x-request-id"]


async def test_credentials_are_forwarded_but_not_other_headers(
    client: httpx.AsyncClient, transport: ScriptedTransport
) -> None:
    await client.get(
        "/api/v1/status",
        headers={"authorization": "Bearer t", "x-hxtp-nonce": "n", "x-secret-proxy": "no", "cookie": "s=1"},
    )
    metadata = transport.last.metadata
    assert metadata["authorization"] == "Bearer t" and metadata["x-hxtp-nonce"] == "n"
    assert metadata["cookie"] == "s=1" and "x-secret-proxy" not in metadata
    assert metadata["hxtp-http-method"] == "GET"


async def test_retry_after_header_from_the_body(
    client: httpx.AsyncClient, transport: ScriptedTransport
) -> None:
    def limited(request: object, metadata: object) -> None:
        detail = _detail(errors_pb2.RATE_LIMIT_EXCEEDED, "Commands to this device: at most 60 per 60 s")
        detail.fields.update({"retry_after_seconds": 12})
        raise RpcFailure(grpc.StatusCode.RESOURCE_EXHAUSTED, "", detail)

    transport.answer("GetStatus", limited)
    response = await client.get("/api/v1/status")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "12"
    assert response.json()["error"] == "RATE_LIMIT_EXCEEDED" and response.json()["retry_after_seconds"] == 12
