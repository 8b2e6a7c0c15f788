"""Time as the API writes it."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, as the reference writes timestamps (2026-01-01T00:00:00Z)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_now_iso() -> str:
    return iso(datetime.now(UTC))


def epoch_ms() -> int:
    return time.time_ns() // 1_000_000
