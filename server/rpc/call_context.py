"""Per-call values the chain establishes for the servicer it wraps (context variables, so they
follow the call whether it arrived over gRPC or in-process from the gateway)."""

from __future__ import annotations

from contextvars import ContextVar

from server.domain.identity.principal import Principal, act_as, acting
from server.domain.identity.quota import NO_QUOTA, Quota
from server.errors import Code, HxtpError

request_id: ContextVar[str] = ContextVar("hxtp_request_id", default="-")
_quota: ContextVar[Quota | None] = ContextVar("hxtp_untaken_quota", default=None)


def set_principal(principal: Principal | None) -> None:
    act_as(principal)  # the domain's view of the same caller (e.g. who the audit trail names)


def principal() -> Principal:
    """The authenticated caller; only public methods run without one."""
    current = acting()
    if current is None:
        raise HxtpError(Code.UNAUTHORIZED, "Missing credentials")
    return current


def optional_principal() -> Principal | None:
    return acting()


def set_quota(quota: Quota | None) -> None:
    _quota.set(quota)


def quota() -> Quota:
    """The call's tenant quota when the chain left it to the servicer (command routes), which hands
    it to the domain; NO_QUOTA otherwise (the chain already took it)."""
    return _quota.get() or NO_QUOTA
