"""The firmware rollouts' `OtaSender` port over the device link's outbound side: a signed, framed
`ota` message (type 0x06) on the device's `ota` topic. Like the command dispatcher, it is handed the
outbound link once the MQTT connection exists (Application.start)."""

from __future__ import annotations

from typing import Any

from server.devicelink.dispatch import send_over
from server.devicelink.outbound import OutboundLink


class LinkOtaSender:
    def __init__(self) -> None:
        self.outbound: OutboundLink | None = None

    async def send_ota(self, device_id: str, params: dict[str, Any]) -> str:
        return await send_over(self.outbound, device_id, "ota", params, {})
