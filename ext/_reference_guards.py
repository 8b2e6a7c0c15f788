"""Reference twin, receive-side guards: integer fields, version, timestamp window, size, nonce cache
and sequence window (§7, §8).

Every inbound message passes these checks in the order of spec §8/§11: version, timestamp, size,
nonce, (payload hash), sequence, (signature). Each rejection carries the spec's reason word and, where
hxtp-py has one, hxtp-py's text, so operators see the messages the SDK users already know.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Collection

from ext._errors import HxtpRejection, Reason

MAX_PAYLOAD_BYTES = 16384  # frame body limit (§2.3) and the SDKs' params limit (§8 step 3)
_DECIMAL_INTEGER = re.compile(r"-?[0-9]+")


def wire_int(value: object, field: str) -> int:
    """An integer field as the firmware reads it: a JSON integer, or a quoted decimal (v1.0.4-v1.0.6)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and _DECIMAL_INTEGER.fullmatch(value):
        try:
            return int(value)
        except ValueError:  # more digits than the interpreter converts: no real sequence or time
            pass
    raise HxtpRejection(Reason.FIELD_INVALID, f"{field} must be an integer")


def check_version(version: object, accepted: Collection[str]) -> str:
    """The envelope's version when the peer's profile accepts it (firmware: only its own string)."""
    if not isinstance(version, str) or version not in accepted:
        raise HxtpRejection(Reason.VERSION_MISMATCH, f"Unsupported version: {version}")
    return version


def check_payload_size(size: int, limit: int = MAX_PAYLOAD_BYTES) -> None:
    """Size of a bare-JSON payload or of the canonical params, in bytes."""
    if size > limit:
        raise HxtpRejection(Reason.PAYLOAD_TOO_LARGE, f"Payload exceeds {limit} bytes")


def check_timestamp(timestamp_ms: object, now_ms: int, *, max_age_s: int = 30, max_future_s: int = 5) -> None:
    """Freshness in whole seconds, as firmware and SDKs compute it; values <= 1e12 count as seconds."""
    timestamp = wire_int(timestamp_ms, "timestamp")
    now_s = now_ms // 1000
    timestamp_s = timestamp // 1000 if timestamp > 1_000_000_000_000 else timestamp
    age_s = now_s - timestamp_s
    if age_s > max_age_s:
        raise HxtpRejection(Reason.TIMESTAMP_EXPIRED, f"Message too old: {age_s}s")
    if timestamp_s > now_s + max_future_s:
        raise HxtpRejection(Reason.TIMESTAMP_FUTURE, f"Message from future: {timestamp_s - now_s}s ahead")


class NonceCache:
    """Nonces seen per scope (a device id) within `ttl_seconds`; bounded, the oldest entry goes first.

    One TTL for all entries means insertion order is expiry order, so expiring is popping the front.
    `now` defaults to time.monotonic(); tests pass it explicitly.
    """

    __slots__ = ("_entries", "_max_entries", "_ttl")

    def __init__(self, max_entries: int = 65536, ttl_seconds: float = 60.0) -> None:
        if max_entries < 1 or not ttl_seconds > 0:
            raise ValueError("max_entries must be >= 1 and ttl_seconds > 0")
        self._entries: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._max_entries = max_entries
        self._ttl = ttl_seconds

    def remember(self, scope: str, nonce: object, now: float | None = None) -> None:
        """Record a nonce; NONCE_REUSED if the scope saw it less than ttl_seconds ago."""
        if nonce is None or nonce == "":
            raise HxtpRejection(Reason.NONCE_MISSING, "Missing nonce")
        if not isinstance(nonce, str):
            raise HxtpRejection(Reason.FIELD_INVALID, "nonce must be a string")
        if now is None:
            now = time.monotonic()
        self._expire(now)
        key = (scope, nonce)
        seen = self._entries.get(key)
        if seen is not None:
            if now - seen < self._ttl:
                raise HxtpRejection(Reason.NONCE_REUSED, "Nonce already seen (replay)")
            del self._entries[key]  # expired but not yet popped: only when callers pass times out of order
        self._entries[key] = now
        if len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def _expire(self, now: float) -> None:
        while self._entries:
            key, seen = next(iter(self._entries.items()))
            if now - seen < self._ttl:
                return
            del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)


class SequenceWindow:
    """Last accepted sequence per (device id, client id): strictly increasing, gaps allowed; the first
    value seen for a key sets the start (§7). Bounded: the least recently advanced key is forgotten.

    `check` only reads, `record` only advances, so a caller can check before the signature and record
    after it (a forged message then cannot push the window forward); `accept` does both at once.
    """

    __slots__ = ("_last", "_max_keys")

    def __init__(self, max_keys: int = 65536) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be >= 1")
        self._last: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._max_keys = max_keys

    def check(self, device_id: str, client_id: str, sequence: object) -> None:
        number = _sequence_number(sequence)
        last = self._last.get((device_id, client_id))
        if last is not None and number <= last:
            raise HxtpRejection(Reason.SEQUENCE_VIOLATION, f"Sequence {number} <= last {last}")

    def record(self, device_id: str, client_id: str, sequence: object) -> None:
        number = _sequence_number(sequence)
        key = (device_id, client_id)
        last = self._last.get(key)
        if last is None or number > last:
            self._last[key] = number
        self._last.move_to_end(key)
        if len(self._last) > self._max_keys:
            self._last.popitem(last=False)

    def accept(self, device_id: str, client_id: str, sequence: object) -> None:
        self.check(device_id, client_id, sequence)
        self.record(device_id, client_id, sequence)

    def last(self, device_id: str, client_id: str) -> int | None:
        return self._last.get((device_id, client_id))

    def __len__(self) -> int:
        return len(self._last)


def _sequence_number(sequence: object) -> int:
    number = wire_int(sequence, "sequence_number")
    if number < 0:
        raise HxtpRejection(Reason.FIELD_INVALID, "sequence_number must not be negative")
    return number
