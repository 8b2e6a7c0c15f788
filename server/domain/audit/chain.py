"""The audit chain's canonical encoding and its verification walk (pure: no database).

Canonical encoding of one entry (what ``row_hash`` covers)
-----------------------------------------------------------
``row_hash = sha256(prev_hash + canonical).hexdigest()`` (lowercase hex), where ``prev_hash`` is the
previous row's ``row_hash`` as 64 ASCII hex characters (the genesis ``prev_hash`` is 64 zeros) and
``canonical`` is the UTF-8 bytes of this JSON object::

    {"action": ..., "details": ..., "device_id": ..., "event_type": ..., "result": ...,
     "row_id": ..., "tenant_id": ..., "timestamp": ..., "user_id": ...}

- keys sorted, no whitespace (separators ``,`` and ``:``), non-ASCII characters written as themselves
  (not ``\\u`` escapes), absent optional fields as ``null``, ``row_id`` as a JSON integer;
- ``timestamp`` is ISO 8601 UTC with microseconds and a ``Z``: ``2026-01-01T00:00:00.000000Z``;
- ``details`` is a JSON *string* holding the details object's own canonical JSON text (same rules,
  nested keys sorted). The table stores that text verbatim, so the hash covers exactly what is stored.

Any language reproduces it with a sorted-keys compact JSON writer. ``row_id`` is inside the hash, so
reordering or renumbering rows breaks the chain as surely as editing them.

One chain per tenant
--------------------
Each tenant has its own chain (entries without a tenant form the chain of ``tenant_id`` null): ``row_id``
counts from 1 within the chain and ``prev_hash`` is the previous row *of the same chain*. The encoding
of a row is unchanged; the chain a row belongs to is its hashed ``tenant_id``, so a row moved into
another tenant's chain fails verification. Rows written before the split (one chain across all
tenants) form the chain ``*`` and verify as they were written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from server.domain.json_text import compact_json

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    """Sorted keys, compact, UTF-8 as itself; NaN and infinities refused (they are not JSON). The
    standard library's text (server.domain.json_text): it is hashed into the chain."""
    return compact_json(value, sort_keys=True)


def iso_timestamp(moment: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC."""
    if moment.tzinfo is None:
        raise ValueError("audit timestamps must be time-zone aware")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row of the chain, as stored."""

    row_id: int
    prev_hash: str
    row_hash: str
    event_type: str
    tenant_id: str | None
    user_id: str | None
    device_id: str | None
    action: str | None
    result: str
    timestamp: str
    details: str  # canonical JSON text
    chain_id: str = ""  # the tenant id; "" for entries without one

    def details_object(self) -> Any:
        return json.loads(self.details)


def row_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """The hash of a row whose hashed fields (every column but the two hashes) are ``fields``."""
    canonical = canonical_json(dict(fields))
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def hashed_fields(entry: AuditEntry) -> dict[str, Any]:
    return {
        "row_id": entry.row_id,
        "event_type": entry.event_type,
        "tenant_id": entry.tenant_id,
        "user_id": entry.user_id,
        "device_id": entry.device_id,
        "action": entry.action,
        "result": entry.result,
        "timestamp": entry.timestamp,
        "details": entry.details,
    }


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of a verification walk: ``first_bad_row`` is None when the chain is intact."""

    count: int
    first_bad_row: int | None = None
    problem: str = ""

    @property
    def intact(self) -> bool:
        return self.first_bad_row is None and not self.problem


class ChainWalker:
    """Checks rows in ``row_id`` order, fed in batches; stops at the first broken one.

    Everything from that row on is unverified (contract §8.1), so there is nothing more to learn.
    """

    def __init__(self, tenant_id: str | None = None, any_tenant: bool = False) -> None:
        self._tenant_id = tenant_id
        self._any_tenant = any_tenant  # the chain written before chains were per tenant
        self.count = 0
        self.prev_hash = GENESIS_HASH
        self.broken: ChainReport | None = None

    def feed(self, entries: Iterable[AuditEntry]) -> bool:
        """Checks ``entries``; False once the chain is broken (stop feeding)."""
        for entry in entries:
            expected_id = self.count + 1
            problem, bad_row = "", entry.row_id
            if entry.row_id != expected_id:
                # A gap names the first missing row; a repeated or lower id names itself.
                bad_row = min(entry.row_id, expected_id)
                problem = (
                    f"row_id {entry.row_id} where {expected_id} was expected (rows missing or renumbered)"
                )
            elif not self._any_tenant and entry.tenant_id != self._tenant_id:
                problem = "the row belongs to another tenant's chain"
            elif entry.prev_hash != self.prev_hash:
                problem = "prev_hash does not match the previous row's row_hash"
            elif entry.row_hash != row_hash(entry.prev_hash, hashed_fields(entry)):
                problem = "row_hash does not match the row's contents"
            if problem:
                self.broken = ChainReport(self.count, bad_row, problem)
                return False
            self.count += 1
            self.prev_hash = entry.row_hash
        return True

    def finish(self, head_row_id: int, head_hash: str) -> ChainReport:
        """The report, checking the chain head too (it catches a deleted tail)."""
        if self.broken is not None:
            return self.broken
        if head_row_id != self.count or head_hash != self.prev_hash:
            if head_row_id > self.count:
                first_bad = self.count + 1  # the first row the head counts that is gone
            elif head_row_id < self.count:
                first_bad = head_row_id + 1  # the first row appended behind the head's back
            else:
                first_bad = self.count  # same length, but the head remembers another last row
            return ChainReport(
                self.count,
                first_bad,
                f"chain head records {head_row_id} row(s) ending in {head_hash[:12]}…, "
                f"the table holds {self.count} ending in {self.prev_hash[:12]}…",
            )
        return ChainReport(self.count)


@dataclass(frozen=True, slots=True)
class AuditReport:
    """Every chain's report, by chain id ("" = entries without a tenant)."""

    chains: tuple[tuple[str, ChainReport], ...]

    @property
    def intact(self) -> bool:
        return all(report.intact for _, report in self.chains)

    @property
    def count(self) -> int:
        return sum(report.count for _, report in self.chains)

    def broken(self) -> list[tuple[str, ChainReport]]:
        return [(chain, report) for chain, report in self.chains if not report.intact]

    def chain(self, chain_id: str) -> ChainReport:
        return dict(self.chains).get(chain_id, ChainReport(0))
