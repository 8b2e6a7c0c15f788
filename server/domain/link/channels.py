"""The topic channels of the device link (wire protocol §2.2): the one definition.

A device publishes on DEVICE_CHANNELS and subscribes to SERVER_CHANNELS, under
`hxtp/{tenant}/device/{device}/{channel}`. The receive pipeline serves only device channels (the
server's own publications come back through its wildcard subscription) and the broker access rules
allow a device exactly these. A new message type with a channel of its own is added here once.
"""

from __future__ import annotations

DEVICE_CHANNELS = frozenset({"hello", "state", "telemetry", "cmd_ack", "heartbeat", "ota_status"})
SERVER_CHANNELS = frozenset({"cmd", "ota"})
