"""Time as the API writes it; epoch milliseconds are the contract's clock (contract.clock)."""

from __future__ import annotations

from datetime import UTC, datetime

from contract.clock import epoch_ms

__all__ = ["epoch_ms", "iso", "utc_now_iso"]


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, as the reference writes timestamps (2026-01-01T00:00:00Z)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_now_iso() -> str:
    return iso(datetime.now(UTC))
