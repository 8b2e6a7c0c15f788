"""Reference twin, JSON half: canonical JSON forms of the SDKs and the raw-params scanner.

Canonical forms (spec §4.1/§4.2, §5.3), each reproducing one peer byte for byte:

* `canonical_params_json`  hxtp-py >= 1.1 payload_hash input: sorted keys, NFC strings, every number a
  quoted decimal made from the float's shortest repr.
* `canonical_json`         hxtp-py 3.0 signing string: the same, but floats by their exact binary value and
  `"protocol":"hxtp/3.0"` injected into a top-level object that lacks the key.
* `js_canonical_json`      hxtp-js `canonicalJson`: JavaScript numbers (doubles, `toFixed(20)` rounding
  half up), keys sorted by UTF-16 code units, lone surrogates escaped, protocol injected when falsy.
* `legacy_params_json`     hxtp-py <= 1.1.0 payload_hash input: `json.dumps(sort_keys, compact)`.

The scanner (`extract_raw_params`) finds the `params` value of an envelope exactly as written, because
device payload hashes cover the raw text (spec §0 item 6), never a re-serialisation.
"""

from __future__ import annotations

import json
import re
import unicodedata
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

from ext._errors import HxtpRejection, Reason

MAX_JSON_DEPTH = 32  # deeper than any envelope or manifest we accept; keeps every walk bounded
PROTOCOL_KEY = "protocol"
PROTOCOL_VALUE = "hxtp/3.0"

_JS_FIXED_LIMIT = 1e21  # Number.prototype.toFixed switches to ToString(x) at and above this
_JS_FIXED_QUANTUM = Decimal("1e-20")
_JS_FIXED_CONTEXT = Context(prec=60)  # 21 integer digits + 20 decimals always fit: quantize stays exact
_JS_TRAILING_ZEROS = re.compile(r"\.?0+\Z")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


# ── canonical forms ──────────────────────────────────────────────────────────────────────


def canonical_params_json(value: Any) -> str:
    """hxtp-py `canonical_params_json`; `None` serialises as `{}`."""
    return _py_canonical({} if value is None else value, _py_shortest_float, 0)


def canonical_json(value: Any) -> str:
    """hxtp-py `canonical_json`: exact-binary floats, protocol key injected when absent."""
    if isinstance(value, dict) and PROTOCOL_KEY not in value:
        value = {**value, PROTOCOL_KEY: PROTOCOL_VALUE}
    return _py_canonical(value, _py_exact_float, 0)


def js_canonical_json(value: Any) -> str:
    """hxtp-js `canonicalJson` as executed by a JavaScript engine."""
    if isinstance(value, dict) and _js_falsy(value.get(PROTOCOL_KEY)):
        value = {**value, PROTOCOL_KEY: PROTOCOL_VALUE}
    return _js_canonical(value, 0)


def legacy_params_json(value: Any) -> str:
    """hxtp-py <= 1.1.0 payload_hash input; `None` is treated as `{}` like every other rule."""
    try:
        return json.dumps({} if value is None else value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise HxtpRejection(Reason.CANONICAL_ERROR, f"not JSON-serialisable: {exc}") from None


def _py_canonical(value: Any, float_text: Any, depth: int) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return f'"{_decimal_text(Decimal(value))}"'
    if isinstance(value, float):
        return f'"{float_text(value)}"'
    if isinstance(value, str):
        return json.dumps(unicodedata.normalize("NFC", value), ensure_ascii=False)
    if depth >= MAX_JSON_DEPTH:
        raise _too_deep()
    if isinstance(value, list):
        return "[" + ",".join(_py_canonical(item, float_text, depth + 1) for item in value) + "]"
    if isinstance(value, dict):
        parts = [
            json.dumps(key, ensure_ascii=False) + ":" + _py_canonical(value[key], float_text, depth + 1)
            for key in sorted(_string_keys(value))
        ]
        return "{" + ",".join(parts) + "}"
    raise _unsupported(value)


def _py_shortest_float(value: float) -> str:
    return _decimal_text(Decimal(float.__repr__(value)))


def _py_exact_float(value: float) -> str:
    return _decimal_text(Decimal(value))


def _decimal_text(number: Decimal) -> str:
    # hxtp-py: 20 fixed decimals (half-even), trailing zeros and dot stripped, "-0" folded to "0".
    text = format(number, ".20f").rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _js_canonical(value: Any, depth: int) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return f'"{_js_fixed_20(_js_number(value))}"'
    if isinstance(value, str):
        return _js_quote(unicodedata.normalize("NFC", value))
    if depth >= MAX_JSON_DEPTH:
        raise _too_deep()
    if isinstance(value, list):
        return "[" + ",".join(_js_canonical(item, depth + 1) for item in value) + "]"
    if isinstance(value, dict):
        keys = sorted(_string_keys(value), key=_utf16_units)
        parts = [_js_quote(key) + ":" + _js_canonical(value[key], depth + 1) for key in keys]
        return "{" + ",".join(parts) + "}"
    raise _unsupported(value)


def _js_number(value: int | float) -> float:
    # A JavaScript engine holds every JSON number as a double: big integers lose digits here.
    try:
        number = float(value)
    except OverflowError:
        number = float("inf")
    if number != number or number in (float("inf"), float("-inf")):
        raise HxtpRejection(Reason.CANONICAL_ERROR, "non-finite number")
    return number


def _js_fixed_20(number: float) -> str:
    # ECMAScript Number.prototype.toFixed(20): sign apart, nearest multiple of 1e-20 with ties
    # going up, ToString(x) from 1e21 on; then canonicalJson strips /\.?0+$/.
    sign = "-" if number < 0 else ""
    magnitude = -number if number < 0 else number + 0.0  # + 0.0 turns -0.0 into 0.0, as JS prints it
    if magnitude >= _JS_FIXED_LIMIT:
        digits = float.__repr__(magnitude)
    else:
        digits = format(Decimal(magnitude).quantize(_JS_FIXED_QUANTUM, ROUND_HALF_UP, _JS_FIXED_CONTEXT), "f")
    return _JS_TRAILING_ZEROS.sub("", sign + digits, count=1)


def _js_quote(text: str) -> str:
    # JSON.stringify: same escapes as json.dumps(ensure_ascii=False), plus escaped lone surrogates.
    quoted = json.dumps(text, ensure_ascii=False)
    return _LONE_SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", quoted)


def _utf16_units(key: str) -> bytes:
    # Array.prototype.sort compares UTF-16 code units; big-endian bytes sort the same way.
    return key.encode("utf-16-be", "surrogatepass")


def _js_falsy(value: Any) -> bool:
    # `!obj.protocol` in JavaScript: containers are truthy, unlike Python's empty list and dict.
    if value is None or value is False:
        return True
    if isinstance(value, (str, int, float)):
        return not value or value != value
    return False


def _string_keys(mapping: dict[Any, Any]) -> list[str]:
    keys = list(mapping)
    for key in keys:
        if not isinstance(key, str):
            raise HxtpRejection(Reason.CANONICAL_ERROR, f"object key {key!r} is not a string")
    return keys


def _unsupported(value: Any) -> HxtpRejection:
    return HxtpRejection(Reason.CANONICAL_ERROR, f"unsupported type {type(value).__name__}")


def _too_deep() -> HxtpRejection:
    return HxtpRejection(Reason.CANONICAL_ERROR, f"nesting deeper than {MAX_JSON_DEPTH}")


# ── raw params scanner ───────────────────────────────────────────────────────────────────
#
# A strict RFC 8259 walk over the envelope bytes (no NaN/Infinity, no trailing commas, nesting at
# most MAX_JSON_DEPTH). It returns the byte span of the top-level "params" value and rejects a second
# "params" key, because json.loads keeps the last duplicate while the firmware reads the first.

_WHITESPACE = b" \t\n\r"
_DIGITS = b"0123456789"
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_SIMPLE_ESCAPES = b'"\\/bfnrt'
_PARAMS_KEY = b"params"


def extract_raw_params(envelope: bytes) -> bytes | None:
    """The raw `params` value of a JSON envelope, byte for byte; None when the key is absent."""
    if not isinstance(envelope, bytes):
        raise TypeError(f"expected bytes, got {type(envelope).__name__}")
    try:
        envelope.decode("utf-8")
    except UnicodeDecodeError:
        raise HxtpRejection(Reason.JSON_INVALID, "envelope is not valid UTF-8") from None
    scanner = _Scanner(envelope)
    span = scanner.envelope_params_span()
    return None if span is None else envelope[span[0] : span[1]]


class _Scanner:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def envelope_params_span(self) -> tuple[int, int] | None:
        pos = self.skip_ws(0)
        if self.at(pos) != ord("{"):
            raise self.malformed(pos)
        span = None
        pos = self.skip_ws(pos + 1)
        if self.at(pos) == ord("}"):
            return self.expect_end(pos + 1, span)
        while True:
            key_start = pos
            pos = self.skip_string(pos)
            is_params = self.key_is_params(key_start + 1, pos - 1)
            pos = self.skip_ws(pos)
            if self.at(pos) != ord(":"):
                raise self.malformed(pos)
            value_start = self.skip_ws(pos + 1)
            pos = self.skip_value(value_start, 2)
            if is_params:
                if span is not None:
                    raise HxtpRejection(Reason.JSON_INVALID, f"duplicate params key at offset {key_start}")
                span = (value_start, pos)
            pos = self.skip_ws(pos)
            byte = self.at(pos)
            if byte == ord("}"):
                return self.expect_end(pos + 1, span)
            if byte != ord(","):
                raise self.malformed(pos)
            pos = self.skip_ws(pos + 1)

    def expect_end(self, pos: int, span: tuple[int, int] | None) -> tuple[int, int] | None:
        pos = self.skip_ws(pos)
        if pos != len(self.data):
            raise self.malformed(pos)
        return span

    def key_is_params(self, start: int, end: int) -> bool:
        raw = self.data[start:end]
        if b"\\" not in raw:
            return raw == _PARAMS_KEY
        # An escaped key such as "par\u0061ms" still names params; the scan already proved it valid.
        return bool(json.loads(self.data[start - 1 : end + 1]) == "params")

    def skip_value(self, pos: int, depth: int) -> int:
        byte = self.at(pos)
        if byte == ord('"'):
            return self.skip_string(pos)
        if byte == ord("{") or byte == ord("["):
            if depth > MAX_JSON_DEPTH:
                raise HxtpRejection(
                    Reason.JSON_INVALID, f"nesting deeper than {MAX_JSON_DEPTH} at offset {pos}"
                )
            return self.skip_container(pos, depth)
        if byte == ord("-") or (byte >= 0 and byte in _DIGITS):
            return self.skip_number(pos)
        for literal in (b"true", b"false", b"null"):
            if self.data.startswith(literal, pos):
                return pos + len(literal)
        raise self.malformed(pos)

    def skip_container(self, pos: int, depth: int) -> int:
        closer = ord("}") if self.data[pos] == ord("{") else ord("]")
        pos = self.skip_ws(pos + 1)
        if self.at(pos) == closer:
            return pos + 1
        while True:
            if closer == ord("}"):
                pos = self.skip_ws(self.skip_string(pos))
                if self.at(pos) != ord(":"):
                    raise self.malformed(pos)
                pos = self.skip_ws(pos + 1)
            pos = self.skip_ws(self.skip_value(pos, depth + 1))
            byte = self.at(pos)
            if byte == closer:
                return pos + 1
            if byte != ord(","):
                raise self.malformed(pos)
            pos = self.skip_ws(pos + 1)

    def skip_string(self, pos: int) -> int:
        if self.at(pos) != ord('"'):
            raise self.malformed(pos)
        pos += 1
        while True:
            byte = self.at(pos)
            if byte == ord('"'):
                return pos + 1
            if byte < 0x20:  # also the end of input, where at() answers -1
                raise self.malformed(pos)
            if byte == ord("\\"):
                pos = self.skip_escape(pos + 1)
            else:
                pos += 1

    def skip_escape(self, pos: int) -> int:
        byte = self.at(pos)
        if byte >= 0 and byte in _SIMPLE_ESCAPES:
            return pos + 1
        if byte != ord("u"):
            raise self.malformed(pos)
        for offset in range(1, 5):
            digit = self.at(pos + offset)
            if digit < 0 or digit not in _HEX_DIGITS:
                raise self.malformed(pos + offset)
        return pos + 5

    def skip_number(self, pos: int) -> int:
        if self.at(pos) == ord("-"):
            pos += 1
        if self.at(pos) == ord("0"):
            pos += 1
        else:
            pos = self.skip_digits(pos)
        if self.at(pos) == ord("."):
            pos = self.skip_digits(pos + 1)
        if self.at(pos) in (ord("e"), ord("E")):
            pos += 1
            if self.at(pos) in (ord("+"), ord("-")):
                pos += 1
            pos = self.skip_digits(pos)
        return pos

    def skip_digits(self, pos: int) -> int:
        # One or more digits, as every digit run in the number grammar requires.
        start = pos
        while self.at(pos) >= 0 and self.at(pos) in _DIGITS:
            pos += 1
        if pos == start:
            raise self.malformed(pos)
        return pos

    def skip_ws(self, pos: int) -> int:
        while self.at(pos) >= 0 and self.at(pos) in _WHITESPACE:
            pos += 1
        return pos

    def at(self, pos: int) -> int:
        return self.data[pos] if pos < len(self.data) else -1

    def malformed(self, pos: int) -> HxtpRejection:
        return HxtpRejection(Reason.JSON_INVALID, f"malformed JSON at offset {pos}")
