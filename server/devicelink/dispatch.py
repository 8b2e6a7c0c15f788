"""The command gates' `Dispatcher` port over the device link's outbound side.

The outbound link exists only once the MQTT connection does (Application.start), so the dispatcher
is created first and handed the link then. A broker that is down or does not acknowledge becomes
GATEWAY_ERROR (503), which the gates record as a failed command.
"""

from __future__ import annotations

from typing import Any

from server.devicelink.outbound import OutboundLink
from server.errors import Code, HxtpError


class LinkDispatcher:
    def __init__(self) -> None:
        self.outbound: OutboundLink | None = None

    async def dispatch(
        self, tenant_id: str, device_id: str, command_id: str, action: str, params: dict[str, Any]
    ) -> str:
        return await send_over(self.outbound, device_id, "command", params, {"action": action})


async def send_over(
    outbound: OutboundLink | None,
    device_id: str,
    message_type: str,
    params: dict[str, Any],
    extra: dict[str, Any],
) -> str:
    """Publish one message to a device; its message id. No link yet, or a broker that is down or does
    not acknowledge, is GATEWAY_ERROR."""
    if outbound is None:
        raise HxtpError(Code.GATEWAY_ERROR, "The device link is not running")
    try:
        sent = await outbound.send(device_id, message_type, params, extra)
    except HxtpError as error:
        if error.code == Code.SERVICE_UNAVAILABLE:
            raise HxtpError(Code.GATEWAY_ERROR, error.reason or "The MQTT broker is not reachable") from None
        raise
    return sent.message_id
