"""Per-call values the chain establishes for the servicer it wraps (context variables, so they
follow the call whether it arrived over gRPC or in-process from the gateway)."""

from __future__ import annotations

from contextvars import ContextVar

from server.domain.principal import Principal
from server.errors import Code, HxtpError

_principal: ContextVar[Principal | None] = ContextVar("hxtp_principal", default=None)
request_id: ContextVar[str] = ContextVar("hxtp_request_id", default="-")


def set_principal(principal: Principal | None) -> None:
    _principal.set(principal)


def principal() -> Principal:
    """The authenticated caller; only public methods run without one."""
    current = _principal.get()
    if current is None:
        raise HxtpError(Code.UNAUTHORIZED, "Missing credentials")
    return current


def optional_principal() -> Principal | None:
    return _principal.get()
