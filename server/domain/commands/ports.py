"""What the command gates need from elsewhere, as small ports.

`Dispatcher` is the device link's outbound side (sign, frame, publish); `AuditTrail` the hash-chained
audit log; `EventBus` the per-tenant live event stream. The composition root wires the real ones.
"""

from __future__ import annotations

from typing import Any, Protocol

from server.domain.events import EventBus

__all__ = ["AuditTrail", "Dispatcher", "EventBus"]  # EventBus: the one class, named here for the gates


class Dispatcher(Protocol):
    async def dispatch(
        self, tenant_id: str, device_id: str, command_id: str, action: str, params: dict[str, Any]
    ) -> str:
        """Send the command to the device; returns the envelope's message_id.

        Raises HxtpError(Code.GATEWAY_ERROR) when the broker cannot take it, and
        HxtpError(Code.PARAMS_INVALID) when the message would not fit the device's receive buffer.
        """
        ...


class AuditTrail(Protocol):
    async def append(
        self,
        event_type: str,
        *,
        tenant_id: str,
        user_id: str | None = None,
        device_id: str | None = None,
        action: str | None = None,
        result: str = "SUCCESS",
        details: dict[str, Any] | None = None,
    ) -> Any: ...
