"""Ports every bounded context of the domain uses, implemented outside it.

`AuditTrail` is the hash-chained audit log (server/domain/audit/log.py): fleet, catalog, commands and
firmware record what they change there, and its entries commit through the group-commit writer
together with the rows they describe.
"""

from __future__ import annotations

from typing import Any, Protocol


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
