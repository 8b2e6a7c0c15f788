"""The one epoch-millisecond clock: the wire protocol's unit of time, read by the server and by the
gateway (which answers an SDK's WebSocket hello itself)."""

from __future__ import annotations

import time


def epoch_ms() -> int:
    return time.time_ns() // 1_000_000
