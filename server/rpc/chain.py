"""The one chain every RPC traverses, native gRPC and in-process gateway calls alike:

authenticate -> suspended tenant (403 TENANT_SUSPENDED) -> CSRF (cookie sessions, mutating methods) ->
device lookup (methods flagged
`device_lookup_first`: 404 before anything else) -> tenant -> role -> scope -> rate limit (for
command routes handed to the servicer, which passes it to the gates' own rate-limit step,
server/domain/identity/quota.py) ->
servicer -> error funnel (+ metrics, request id, X-RateLimit-* headers).

It is applied by wrapping each servicer method once at start-up with that method's policy (read
from the proto options), so no per-request work looks anything up by name.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

import grpc
from prometheus_client import Counter, Histogram

from contract.metadata import HTTP_HEADER_PREFIX, HTTP_METHOD, REQUEST_ID
from hxtp.cloud.v1 import options_pb2
from server.domain.identity.authentication import Authenticator
from server.domain.identity.principal import Credential, Principal, Role
from server.domain.identity.quota import Quota, TenantLimits
from server.domain.identity.rate_limits import STANDARD_TIERS, RateLimiter, Tiers
from server.domain.identity.sessions import MUTATING_METHODS, csrf_matches
from server.domain.outages import Outages
from server.domain.platform.suspensions import TenantSuspensions
from server.domain.resources import DeviceDirectory, NoDevices
from server.errors import Code, HxtpError
from server.rpc import call_context
from server.rpc.status import grpc_status_of, to_status
from server.rpc.text_guard import TextGuard

log = logging.getLogger("hxtp.rpc")

RPC_CALLS = Counter("hxtp_grpc_calls", "RPC calls by method and status code", ["method", "code"])
RPC_LATENCY = Histogram("hxtp_grpc_call_duration_seconds", "RPC latency", ["method"])


class Context(Protocol):
    """What the chain needs of a ServicerContext (grpc.aio's or the gateway's LocalContext)."""

    def invocation_metadata(self) -> Sequence[tuple[str, Any]] | None: ...

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()) -> Any: ...


Unary = Callable[[Any, Any], Awaitable[Any]]
Streaming = Callable[[Any, Any], AsyncIterator[Any]]


@dataclass(frozen=True)
class MethodSpec:
    full_name: str
    policy: Any  # options_pb2.MethodPolicy
    server_streaming: bool


def metadata_dict(context: Context) -> dict[str, str]:
    result: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        if isinstance(value, str):
            result[key] = value
    return result


Headers = list[tuple[str, str]]


class Chain:
    def __init__(
        self,
        authenticator: Authenticator,
        devices: DeviceDirectory | None = None,
        limiter: RateLimiter | None = None,
        tiers: Tiers = STANDARD_TIERS,
        outages: Outages | None = None,
        text_guard: TextGuard | None = None,
        suspensions: TenantSuspensions | None = None,
    ) -> None:
        self._authenticator = authenticator
        self._devices: DeviceDirectory = devices if devices is not None else NoDevices()
        self._outages = outages if outages is not None else Outages({}, {})
        self._limits = TenantLimits(limiter, tiers, self._outages) if limiter is not None else None
        self._text_guard = text_guard if text_guard is not None else TextGuard({})
        self._suspensions = suspensions

    async def _admit(
        self, policy: Any, metadata: dict[str, str], request: Any, quotas: list[Quota]
    ) -> Principal | None:
        """Everything decided before the servicer runs; raises HxtpError to refuse. The call's
        quota is appended to `quotas`, so its headers are known even when it refuses."""
        call_context.set_quota(None)
        if policy.auth != options_pb2.AUTH_MODE_UNSPECIFIED:
            principal = await self._authenticator.authenticate_optional(metadata)
            self._text_guard.check(request)
            if principal is not None:
                await self._limit(policy, principal, quotas).take()
            return principal
        principal = await self._authenticator.authenticate(metadata)
        self._text_guard.check(request)  # before any lookup or servicer sees the request's text
        if self._suspensions is not None and principal.tenant_id is not None:
            # Before anything reads or changes the tenant's data, commands included.
            await self._suspensions.refuse_if_suspended(principal.tenant_id)
        if principal.credential == Credential.SESSION and metadata.get(HTTP_METHOD, "") in MUTATING_METHODS:
            if not csrf_matches(principal, metadata.get("x-csrf-token", "")):
                raise HxtpError(Code.FORBIDDEN, "Missing or invalid X-CSRF-Token (GET /auth/csrf)")
        if policy.device_lookup_first:
            await self._lookup_device(principal, str(getattr(request, "device_id", "")))
        if policy.tenant_required and principal.tenant_id is None:
            raise HxtpError(Code.TENANT_REQUIRED)
        if policy.min_role > Role.NONE and principal.role < policy.min_role:
            raise HxtpError(Code.FORBIDDEN, f"Requires role {Role(policy.min_role).label} or higher")
        if not principal.has_scope(policy.scope):
            raise HxtpError(Code.FORBIDDEN, f"API key lacks scope {policy.scope}")
        if policy.device_lookup_first:
            # Command routes take the quota at their own rate-limit gate, after validation.
            call_context.set_quota(self._limit(policy, principal, quotas))
        else:
            await self._limit(policy, principal, quotas).take()
        return principal

    async def _lookup_device(self, principal: Principal, device_id: str) -> None:
        # A tenantless caller simply finds nothing; another tenant's device does not exist for us.
        if principal.tenant_id is None or not await self._devices.device_in_tenant(
            principal.tenant_id, device_id
        ):
            raise HxtpError(Code.NOT_FOUND, "Device not found")

    def _limit(self, policy: Any, principal: Principal, taken: list[Quota]) -> Quota:
        limits = None if policy.rate_limit_exempt else self._limits
        quota = Quota(limits, principal.tenant_id, principal.tier)
        taken.append(quota)
        return quota

    def wrap(self, spec: MethodSpec, handler: Any) -> Any:
        if spec.server_streaming:
            return self._wrap_streaming(spec, handler)
        return self._wrap_unary(spec, handler)

    def _wrap_unary(self, spec: MethodSpec, handler: Unary) -> Unary:
        policy, name = spec.policy, spec.full_name
        counters = _Counters(name)

        async def call(request: Any, context: Any) -> Any:
            started = time.perf_counter()
            metadata = metadata_dict(context)
            call_context.request_id.set(metadata.get(REQUEST_ID, "-"))
            quota: list[Quota] = []
            try:
                call_context.set_principal(await self._admit(policy, metadata, request, quota))
                response = await handler(request, context)
            except grpc.aio.AbortError:
                raise
            except Exception as error:
                await self._refuse(context, name, error, counters.done, started, _headers(quota))
            headers = _headers(quota)
            if headers:
                context.set_trailing_metadata((*tuple(context.trailing_metadata() or ()), *headers))
            counters.done(grpc.StatusCode.OK, started)
            return response

        return call

    def _wrap_streaming(self, spec: MethodSpec, handler: Streaming) -> Streaming:
        policy, name = spec.policy, spec.full_name
        counters = _Counters(name)

        async def call(request: Any, context: Any) -> AsyncIterator[Any]:
            started = time.perf_counter()
            metadata = metadata_dict(context)
            call_context.request_id.set(metadata.get(REQUEST_ID, "-"))
            quota: list[Quota] = []
            try:
                call_context.set_principal(await self._admit(policy, metadata, request, quota))
                # Tells the client it is admitted before the first item, which may be long in coming: a
                # WebSocket is accepted only then, so a refusal (429 above all) is answered at the handshake.
                await context.send_initial_metadata(())
                async for item in handler(request, context):
                    yield item
            except grpc.aio.AbortError:
                raise
            except Exception as error:
                await self._refuse(context, name, error, counters.done, started, _headers(quota))
            counters.done(grpc.StatusCode.OK, started)

        return call

    async def _refuse(
        self,
        context: Any,
        name: str,
        error: Exception,
        count: Callable[[grpc.StatusCode, float], None],
        started: float,
        headers: Headers,
    ) -> NoReturn:
        """Every failure of a call, unary or streaming, goes out through here as one status."""
        failure = error if isinstance(error, HxtpError) else self._translate(name, error)
        count(grpc_status_of(failure), started)
        await _abort(context, failure, headers)

    def _translate(self, name: str, error: Exception) -> HxtpError:
        """An unexpected exception as the client sees it: 503 for a dependency outage, else a logged 500."""
        unavailable = self._outages.unavailable(error)
        if unavailable is not None:
            return unavailable
        log.error("unhandled error in %s (request %s)", name, call_context.request_id.get(), exc_info=error)
        return HxtpError(Code.INTERNAL_ERROR)


def _headers(quota: list[Quota]) -> Headers:
    return [(HTTP_HEADER_PREFIX + name, value) for q in quota for name, value in q.headers().items()]


class _Counters:
    """Prometheus children bound once per method, so a call only increments."""

    def __init__(self, method: str) -> None:
        self._method = method
        self._by_code: dict[grpc.StatusCode, Any] = {}
        self._latency = RPC_LATENCY.labels(method)

    def done(self, code: grpc.StatusCode, started: float) -> None:
        counter = self._by_code.get(code)
        if counter is None:
            counter = self._by_code[code] = RPC_CALLS.labels(self._method, code.name)
        counter.inc()
        self._latency.observe(time.perf_counter() - started)


async def _abort(context: Any, error: HxtpError, headers: Headers) -> NoReturn:
    """context.abort raises grpc.aio.AbortError (the gateway's LocalContext raises a subclass)."""
    code, details, trailing = to_status(error)
    await context.abort(code, details, trailing_metadata=(*trailing, *headers))
    raise RuntimeError("ServicerContext.abort returned")
