"""What the command gates need from elsewhere, as small ports.

`Dispatcher` is the device link's outbound side (sign, frame, publish); `AuditTrail` the hash-chained
audit log (its entries commit with the command rows through the group-commit writer); `EventBus`
the per-tenant live event stream. The composition root wires the real ones.
"""

from __future__ import annotations

from typing import Any, Protocol

from server.domain.events import EventBus

__all__ = ["AuditTrail", "Dispatcher", "EventBus"]  # EventBus: the one class, named here for the gates


class Dispatcher(Protocol):
    def ready(self) -> bool:
        """False while the broker is not connected: a command then fails fast, nothing is written."""
        ...

    async def dispatch(self, device_id: str, message_id: str, action: str, params: dict[str, Any]) -> None:
        """Send the command to the device under `message_id` (already committed with its row).

        Raises HxtpError(Code.GATEWAY_ERROR) when the broker cannot take it, and
        HxtpError(Code.PARAMS_INVALID) when the message would not fit the device's receive buffer.
        """
        ...


class AuditTrail(Protocol):
    def entry(
        self,
        event_type: str,
        *,
        tenant_id: str,
        user_id: str | None = None,
        device_id: str | None = None,
        action: str | None = None,
        result: str = "SUCCESS",
        details: dict[str, Any] | None = None,
    ) -> Any:
        """One audit row as a unit of work, to commit together with other rows."""
        ...

    async def append(self, event_type: str, **fields: Any) -> Any:
        """Appends one row (the arguments of `entry`) and returns once it is committed."""
        ...
