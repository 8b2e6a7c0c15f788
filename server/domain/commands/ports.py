"""What the command gates need from elsewhere, as small ports.

`Dispatcher` is the device link's outbound side (sign, frame, publish); `AuditTrail` the hash-chained
audit log (server/domain/ports.py: every context records there); `EventBus` the per-tenant live event
stream. The composition root wires the real ones.
"""

from __future__ import annotations

from typing import Any, Protocol

from server.domain.events import EventBus
from server.domain.ports import AuditTrail

__all__ = ["AuditTrail", "Dispatcher", "EventBus"]  # the one class and the shared port, named for the gates


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
