# Included by _hotpath.pyx. Twin of ext/_reference_guards.py: integer fields, version, timestamp
# window, size, nonce cache and sequence window (§7, §8).

import re as _re

cdef object _DECIMAL_INTEGER = _re.compile(r"-?[0-9]+")


cpdef object wire_int(object value, str field):
    """An integer field as the firmware reads it: a JSON integer, or a quoted decimal (v1.0.4-v1.0.6)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and _DECIMAL_INTEGER.fullmatch(value) is not None:
        try:
            return int(value)
        except ValueError:  # more digits than the interpreter converts: no real sequence or time
            pass
    raise HxtpRejection(Reason.FIELD_INVALID, f"{field} must be an integer")


def check_version(version, accepted):
    """The envelope's version when the peer's profile accepts it (firmware: only its own string)."""
    if not isinstance(version, str) or version not in accepted:
        raise HxtpRejection(Reason.VERSION_MISMATCH, f"Unsupported version: {version}")
    return version


def check_payload_size(size, limit=MAX_PAYLOAD_BYTES):
    """Size of a bare-JSON payload or of the canonical params, in bytes."""
    if size > limit:
        raise HxtpRejection(Reason.PAYLOAD_TOO_LARGE, f"Payload exceeds {limit} bytes")


def check_timestamp(timestamp_ms, now_ms, *, max_age_s=30, max_future_s=5):
    """Freshness in whole seconds, as firmware and SDKs compute it; values <= 1e12 count as seconds."""
    timestamp = wire_int(timestamp_ms, "timestamp")
    now_s = now_ms // 1000
    timestamp_s = timestamp // 1000 if timestamp > 1_000_000_000_000 else timestamp
    age_s = now_s - timestamp_s
    if age_s > max_age_s:
        raise HxtpRejection(Reason.TIMESTAMP_EXPIRED, f"Message too old: {age_s}s")
    if timestamp_s > now_s + max_future_s:
        raise HxtpRejection(Reason.TIMESTAMP_FUTURE, f"Message from future: {timestamp_s - now_s}s ahead")


cdef class NonceCache:
    """Nonces seen per scope (a device id) within `ttl_seconds`; bounded, the oldest entry goes first."""

    cdef object _entries
    cdef Py_ssize_t _max_entries
    cdef double _ttl

    def __init__(self, max_entries=65536, ttl_seconds=60.0):
        if max_entries < 1 or not ttl_seconds > 0:
            raise ValueError("max_entries must be >= 1 and ttl_seconds > 0")
        self._entries = OrderedDict()
        self._max_entries = max_entries
        self._ttl = ttl_seconds

    def remember(self, scope, nonce, now=None):
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

    cdef _expire(self, object now):
        while self._entries:
            key, seen = next(iter(self._entries.items()))
            if now - seen < self._ttl:
                return
            del self._entries[key]

    def __len__(self):
        return len(self._entries)


cdef class SequenceWindow:
    """Last accepted sequence per (device id, client id): strictly increasing, gaps allowed; the first
    value seen for a key sets the start (§7). Bounded: the least recently advanced key is forgotten."""

    cdef object _last
    cdef Py_ssize_t _max_keys

    def __init__(self, max_keys=65536):
        if max_keys < 1:
            raise ValueError("max_keys must be >= 1")
        self._last = OrderedDict()
        self._max_keys = max_keys

    cpdef check(self, device_id, client_id, sequence):
        number = _sequence_number(sequence)
        last = self._last.get((device_id, client_id))
        if last is not None and number <= last:
            raise HxtpRejection(Reason.SEQUENCE_VIOLATION, f"Sequence {number} <= last {last}")

    cpdef record(self, device_id, client_id, sequence):
        number = _sequence_number(sequence)
        key = (device_id, client_id)
        last = self._last.get(key)
        if last is None or number > last:
            self._last[key] = number
        self._last.move_to_end(key)
        if len(self._last) > self._max_keys:
            self._last.popitem(last=False)

    def accept(self, device_id, client_id, sequence):
        self.check(device_id, client_id, sequence)
        self.record(device_id, client_id, sequence)

    def last(self, device_id, client_id):
        return self._last.get((device_id, client_id))

    def __len__(self):
        return len(self._last)


cdef object _sequence_number(object sequence):
    number = wire_int(sequence, "sequence_number")
    if number < 0:
        raise HxtpRejection(Reason.FIELD_INVALID, "sequence_number must not be negative")
    return number
