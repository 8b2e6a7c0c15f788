"""The firmware rollouts' `OtaSender` port over the device link's outbound side: a signed, framed
`ota` message (type 0x06) on the device's `ota` topic. A broker that is down or does not acknowledge
is GATEWAY_ERROR, translated once, by the bridge."""

from __future__ import annotations

from typing import Any

from server.devicelink.outbound import OutboundLink


class LinkOtaSender:
    def __init__(self, outbound: OutboundLink) -> None:
        self._outbound = outbound

    async def send_ota(self, device_id: str, params: dict[str, Any], message_id: str) -> None:
        await self._outbound.send(device_id, "ota", params, {}, message_id)
