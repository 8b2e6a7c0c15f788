"""The firmware rollouts' `OtaSender` port over the device link's outbound side: a signed, framed
`ota` message (type 0x06) on the device's `ota` topic. Like the command dispatcher, it is handed the
outbound link once the MQTT connection exists (Application.start)."""

from __future__ import annotations

from typing import Any

from server.devicelink.outbound import OutboundLink
from server.errors import Code, HxtpError


class LinkOtaSender:
    def __init__(self) -> None:
        self.outbound: OutboundLink | None = None

    async def send_ota(self, device_id: str, params: dict[str, Any]) -> str:
        if self.outbound is None:
            raise HxtpError(Code.GATEWAY_ERROR, "The device link is not running")
        try:
            sent = await self.outbound.send(device_id, "ota", params, {})
        except HxtpError as error:
            if error.code == Code.SERVICE_UNAVAILABLE:
                raise HxtpError(
                    Code.GATEWAY_ERROR, error.reason or "The MQTT broker is not reachable"
                ) from None
            raise
        return sent.message_id
