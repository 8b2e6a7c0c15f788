# Included by _hotpath.pyx. Twin of ext/_reference_json.py: canonical JSON forms and the raw-params
# scanner. The canonical forms follow the reference line by line (they build Python strings either
# way); the scanner walks the envelope bytes in C.

import json as _json
import re as _re
from decimal import ROUND_HALF_UP as _ROUND_HALF_UP, Context as _Context, Decimal as _Decimal

from libc.string cimport memchr, memcmp

MAX_JSON_DEPTH = 32
cdef int _MAX_DEPTH = 32
cdef str _PROTOCOL_KEY = "protocol"
cdef str _PROTOCOL_VALUE = "hxtp/3.0"
cdef object _SMALL_INT_LIMIT = 10 ** 18  # below this, int.__repr__ is exact and never hits a digits limit
cdef double _JS_FIXED_LIMIT = 1e21
cdef object _JS_FIXED_QUANTUM = _Decimal("1e-20")
cdef object _JS_FIXED_CONTEXT = _Context(prec=60)
cdef object _JS_TRAILING_ZEROS = _re.compile(r"\.?0+\Z")
cdef object _LONE_SURROGATE = _re.compile("[\ud800-\udfff]")
cdef object _json_dumps = _json.dumps
cdef object _nfc = functools.partial(unicodedata.normalize, "NFC")


# ── canonical forms ──────────────────────────────────────────────────────────────────────

def canonical_params_json(value):
    """hxtp-py `canonical_params_json`; `None` serialises as `{}`."""
    return _py_canonical({} if value is None else value, False, 0)


def canonical_json(value):
    """hxtp-py `canonical_json`: exact-binary floats, protocol key injected when absent."""
    if isinstance(value, dict) and _PROTOCOL_KEY not in value:
        value = {**value, _PROTOCOL_KEY: _PROTOCOL_VALUE}
    return _py_canonical(value, True, 0)


def js_canonical_json(value):
    """hxtp-js `canonicalJson` as executed by a JavaScript engine."""
    if isinstance(value, dict) and _js_falsy(value.get(_PROTOCOL_KEY)):
        value = {**value, _PROTOCOL_KEY: _PROTOCOL_VALUE}
    return _js_canonical(value, 0)


def legacy_params_json(value):
    """hxtp-py <= 1.1.0 payload_hash input; `None` is treated as `{}` like every other rule."""
    try:
        return _json_dumps({} if value is None else value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise HxtpRejection(Reason.CANONICAL_ERROR, f"not JSON-serialisable: {exc}") from None


cdef str _py_canonical(object value, bint exact_floats, int depth):
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        if -_SMALL_INT_LIMIT < value < _SMALL_INT_LIMIT:
            # Decimal(int) printed with 20 decimals and stripped is the integer's own decimal text.
            return f'"{int.__repr__(value)}"'
        return f'"{_decimal_text(_Decimal(value))}"'
    if isinstance(value, float):
        return f'"{_py_exact_float(value) if exact_floats else _py_shortest_float(value)}"'
    if isinstance(value, str):
        return _json_dumps(_nfc(value), ensure_ascii=False)
    if depth >= _MAX_DEPTH:
        raise _too_deep()
    cdef list parts
    if isinstance(value, list):
        parts = [_py_canonical(item, exact_floats, depth + 1) for item in value]
        return "[" + ",".join(parts) + "]"
    if isinstance(value, dict):
        parts = [
            _json_dumps(key, ensure_ascii=False) + ":" + _py_canonical(value[key], exact_floats, depth + 1)
            for key in sorted(_string_keys(value))
        ]
        return "{" + ",".join(parts) + "}"
    raise _unsupported(value)


cdef str _py_shortest_float(object value):
    return _decimal_text(_Decimal(float.__repr__(value)))


cdef str _py_exact_float(object value):
    return _decimal_text(_Decimal(value))


cdef str _decimal_text(object number):
    cdef str text = format(number, ".20f").rstrip("0").rstrip(".")
    return "0" if text == "" or text == "-0" else text


cdef str _js_canonical(object value, int depth):
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return f'"{_js_fixed_20(_js_number(value))}"'
    if isinstance(value, str):
        return _js_quote(_nfc(value))
    if depth >= _MAX_DEPTH:
        raise _too_deep()
    cdef list parts
    if isinstance(value, list):
        parts = [_js_canonical(item, depth + 1) for item in value]
        return "[" + ",".join(parts) + "]"
    if isinstance(value, dict):
        parts = [_js_quote(key) + ":" + _js_canonical(value[key], depth + 1)
                 for key in sorted(_string_keys(value), key=_utf16_units)]
        return "{" + ",".join(parts) + "}"
    raise _unsupported(value)


cdef double _js_number(object value) except? -1.0:
    # A JavaScript engine holds every JSON number as a double: big integers lose digits here.
    cdef double number
    try:
        number = float(value)
    except OverflowError:
        number = float("inf")
    if number != number or number == float("inf") or number == float("-inf"):
        raise HxtpRejection(Reason.CANONICAL_ERROR, "non-finite number")
    return number


cdef str _js_fixed_20(double number):
    cdef str sign = "-" if number < 0 else ""
    cdef double magnitude = -number if number < 0 else number + 0.0
    cdef str digits
    if magnitude >= _JS_FIXED_LIMIT:
        digits = float.__repr__(magnitude)
    else:
        digits = format(_Decimal(magnitude).quantize(_JS_FIXED_QUANTUM, _ROUND_HALF_UP, _JS_FIXED_CONTEXT), "f")
    return _JS_TRAILING_ZEROS.sub("", sign + digits, count=1)


cdef str _js_quote(str text):
    cdef str quoted = _json_dumps(text, ensure_ascii=False)
    return _LONE_SURROGATE.sub(_escape_surrogate, quoted)


def _escape_surrogate(match):
    return f"\\u{ord(match.group()):04x}"


def _utf16_units(str key):
    return key.encode("utf-16-be", "surrogatepass")


cdef bint _js_falsy(object value):
    if value is None or value is False:
        return True
    if isinstance(value, (str, int, float)):
        return not value or value != value
    return False


cdef list _string_keys(dict mapping):
    cdef list keys = list(mapping)
    for key in keys:
        if not isinstance(key, str):
            raise HxtpRejection(Reason.CANONICAL_ERROR, f"object key {key!r} is not a string")
    return keys


cdef object _unsupported(object value):
    return HxtpRejection(Reason.CANONICAL_ERROR, f"unsupported type {type(value).__name__}")


cdef object _too_deep():
    return HxtpRejection(Reason.CANONICAL_ERROR, f"nesting deeper than {MAX_JSON_DEPTH}")


# ── raw params scanner: strict RFC 8259 over the envelope bytes ──────────────────────────

cdef struct _Text:
    const unsigned char* data
    Py_ssize_t size


cdef inline int _at(const _Text* text, Py_ssize_t pos) noexcept nogil:
    return text.data[pos] if pos < text.size else -1


cdef inline bint _is_digit(int byte) noexcept nogil:
    return 0x30 <= byte <= 0x39


cdef inline bint _is_hex(int byte) noexcept nogil:
    return _is_digit(byte) or 0x61 <= byte <= 0x66 or 0x41 <= byte <= 0x46


cdef inline Py_ssize_t _skip_ws(const _Text* text, Py_ssize_t pos) noexcept nogil:
    cdef int byte = _at(text, pos)
    while byte == 0x20 or byte == 0x09 or byte == 0x0A or byte == 0x0D:
        pos += 1
        byte = _at(text, pos)
    return pos


cdef bint _is_ascii(const _Text* text) noexcept nogil:
    cdef unsigned char seen = 0
    cdef Py_ssize_t pos
    for pos in range(text.size):
        seen |= text.data[pos]
    return seen < 0x80


cdef object _malformed(Py_ssize_t pos):
    return HxtpRejection(Reason.JSON_INVALID, f"malformed JSON at offset {pos}")


def extract_raw_params(envelope):
    """The raw `params` value of a JSON envelope, byte for byte; None when the key is absent."""
    if not isinstance(envelope, bytes):
        raise TypeError(f"expected bytes, got {type(envelope).__name__}")
    cdef _Text text
    text.data = <const unsigned char*>PyBytes_AS_STRING(envelope)
    text.size = PyBytes_GET_SIZE(envelope)
    if not _is_ascii(&text):  # ASCII is valid UTF-8; anything else gets CPython's own strict check
        try:
            envelope.decode("utf-8")
        except UnicodeDecodeError:
            raise HxtpRejection(Reason.JSON_INVALID, "envelope is not valid UTF-8") from None
    cdef Py_ssize_t start = -1, end = -1
    _scan_envelope(&text, &start, &end)
    if start < 0:
        return None
    return PyBytes_FromStringAndSize(<const char*>text.data + start, end - start)


cdef int _scan_envelope(const _Text* text, Py_ssize_t* start, Py_ssize_t* end) except -1:
    cdef Py_ssize_t pos = _skip_ws(text, 0), key_start, value_start
    cdef int byte
    cdef bint is_params
    if _at(text, pos) != 0x7B:  # {
        raise _malformed(pos)
    pos = _skip_ws(text, pos + 1)
    if _at(text, pos) == 0x7D:  # }
        return _expect_end(text, pos + 1)
    while True:
        key_start = pos
        pos = _skip_string(text, pos)
        is_params = _key_is_params(text, key_start + 1, pos - 1)
        pos = _skip_ws(text, pos)
        if _at(text, pos) != 0x3A:  # :
            raise _malformed(pos)
        value_start = _skip_ws(text, pos + 1)
        pos = _skip_value(text, value_start, 2)
        if is_params:
            if start[0] >= 0:
                raise HxtpRejection(Reason.JSON_INVALID, f"duplicate params key at offset {key_start}")
            start[0] = value_start
            end[0] = pos
        pos = _skip_ws(text, pos)
        byte = _at(text, pos)
        if byte == 0x7D:
            return _expect_end(text, pos + 1)
        if byte != 0x2C:  # ,
            raise _malformed(pos)
        pos = _skip_ws(text, pos + 1)


cdef int _expect_end(const _Text* text, Py_ssize_t pos) except -1:
    pos = _skip_ws(text, pos)
    if pos != text.size:
        raise _malformed(pos)
    return 0


cdef bint _key_is_params(const _Text* text, Py_ssize_t start, Py_ssize_t end) except -1:
    cdef Py_ssize_t length = end - start
    if memchr(text.data + start, 0x5C, <size_t>length) == NULL:  # no backslash: compare bytes
        return length == 6 and memcmp(text.data + start, b"params", 6) == 0
    # An escaped key such as "par\u0061ms" still names params; the scan already proved it valid.
    raw = PyBytes_FromStringAndSize(<const char*>text.data + start - 1, length + 2)
    return _json.loads(raw) == "params"


cdef Py_ssize_t _skip_value(const _Text* text, Py_ssize_t pos, int depth) except -1:
    cdef int byte = _at(text, pos)
    if byte == 0x22:  # "
        return _skip_string(text, pos)
    if byte == 0x7B or byte == 0x5B:  # { [
        if depth > _MAX_DEPTH:
            raise HxtpRejection(Reason.JSON_INVALID, f"nesting deeper than {MAX_JSON_DEPTH} at offset {pos}")
        return _skip_container(text, pos, depth)
    if byte == 0x2D or _is_digit(byte):  # - or digit
        return _skip_number(text, pos)
    if _has_literal(text, pos, b"true", 4):
        return pos + 4
    if _has_literal(text, pos, b"false", 5):
        return pos + 5
    if _has_literal(text, pos, b"null", 4):
        return pos + 4
    raise _malformed(pos)


cdef inline bint _has_literal(const _Text* text, Py_ssize_t pos, const char* literal, Py_ssize_t length) noexcept:
    return pos + length <= text.size and memcmp(text.data + pos, literal, <size_t>length) == 0


cdef Py_ssize_t _skip_container(const _Text* text, Py_ssize_t pos, int depth) except -1:
    cdef int closer = 0x7D if text.data[pos] == 0x7B else 0x5D
    cdef int byte
    pos = _skip_ws(text, pos + 1)
    if _at(text, pos) == closer:
        return pos + 1
    while True:
        if closer == 0x7D:
            pos = _skip_ws(text, _skip_string(text, pos))
            if _at(text, pos) != 0x3A:
                raise _malformed(pos)
            pos = _skip_ws(text, pos + 1)
        pos = _skip_ws(text, _skip_value(text, pos, depth + 1))
        byte = _at(text, pos)
        if byte == closer:
            return pos + 1
        if byte != 0x2C:
            raise _malformed(pos)
        pos = _skip_ws(text, pos + 1)


cdef Py_ssize_t _skip_string(const _Text* text, Py_ssize_t pos) except -1:
    cdef int byte
    if _at(text, pos) != 0x22:
        raise _malformed(pos)
    pos += 1
    while True:
        byte = _at(text, pos)
        if byte == 0x22:
            return pos + 1
        if byte < 0x20:  # also the end of input, where _at() answers -1
            raise _malformed(pos)
        if byte == 0x5C:  # backslash
            pos = _skip_escape(text, pos + 1)
        else:
            pos += 1


cdef Py_ssize_t _skip_escape(const _Text* text, Py_ssize_t pos) except -1:
    cdef int byte = _at(text, pos)
    cdef Py_ssize_t offset
    if byte == 0x22 or byte == 0x5C or byte == 0x2F or byte == 0x62 or byte == 0x66 \
            or byte == 0x6E or byte == 0x72 or byte == 0x74:  # " \ / b f n r t
        return pos + 1
    if byte != 0x75:  # u
        raise _malformed(pos)
    for offset in range(1, 5):
        if not _is_hex(_at(text, pos + offset)):
            raise _malformed(pos + offset)
    return pos + 5


cdef Py_ssize_t _skip_number(const _Text* text, Py_ssize_t pos) except -1:
    cdef int byte
    if _at(text, pos) == 0x2D:
        pos += 1
    if _at(text, pos) == 0x30:
        pos += 1
    else:
        pos = _skip_digits(text, pos)
    if _at(text, pos) == 0x2E:  # .
        pos = _skip_digits(text, pos + 1)
    byte = _at(text, pos)
    if byte == 0x65 or byte == 0x45:  # e E
        pos += 1
        byte = _at(text, pos)
        if byte == 0x2B or byte == 0x2D:
            pos += 1
        pos = _skip_digits(text, pos)
    return pos


cdef Py_ssize_t _skip_digits(const _Text* text, Py_ssize_t pos) except -1:
    cdef Py_ssize_t start = pos
    while _is_digit(_at(text, pos)):
        pos += 1
    if pos == start:
        raise _malformed(pos)
    return pos
