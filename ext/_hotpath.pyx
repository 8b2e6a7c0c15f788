# cython: language_level=3, boundscheck=False, wraparound=False, embedsignature=True
#
# Build note (for setup.py): this module needs no extra C sources, libraries or flags. Its only C
# helper, ext/_sha256.h, is header-only and is included with quotes, so the compiler finds it next to
# the generated ext/_hotpath.c. If the build writes the .c file elsewhere, add include_dirs=["ext"].
# The .pxi files beside this one are textual includes resolved by cythonize.
"""Compiled twin of the HxTP hot path; `ext._reference` defines the behaviour it must match.

The speed comes from: HMAC-SHA256 keyed state precomputed per key in C (SHA-NI when the CPU has it),
frame headers and the raw-params scan done on raw bytes, and the validators compiled to C calls.
Exceptions and reason strings are the shared ones from `ext._errors`.
"""

import functools
import time
import unicodedata
from collections import OrderedDict
from types import MappingProxyType

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport uint8_t, uint32_t
from libc.string cimport memcpy, memset

from ext._errors import ALL_REASONS, HxtpRejection, ParamsInvalid, Reason, SchemaInvalid


cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object text, Py_ssize_t* size) except NULL
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void* PyUnicode_DATA(object text)
    bint PyUnicode_IS_ASCII(object text)
    Py_ssize_t PyUnicode_GET_LENGTH(object text)


cdef extern from "_sha256.h" nogil:
    ctypedef struct hxtp_hmac_key:
        uint32_t inner[8]
        uint32_t outer[8]
    int hxtp_sha256_select(int portable_only)
    void hxtp_sha256(const uint8_t* msg, size_t length, uint8_t* digest)
    void hxtp_hmac_init(hxtp_hmac_key* key, const uint8_t* secret, size_t secret_len)
    void hxtp_hmac_sign(const hxtp_hmac_key* key, const uint8_t* msg, size_t length, uint8_t* mac)
    void hxtp_hex_lower(const uint8_t* data, size_t length, char* out)
    int hxtp_equal_ct(const char* a, const char* b, size_t length)


# ── wire constants (§2.3, §4.3, §5) ──────────────────────────────────────────────────────

FRAME_MAGIC = b"HX"
FRAMER_VERSION = 3
FRAME_HEADER_SIZE = 8
MAX_PAYLOAD_BYTES = 16384
FRAME_TYPES = MappingProxyType({
    "state": 1, "command": 2, "ack": 3, "heartbeat": 4, "telemetry": 5, "ota": 6, "error": 7, "hello": 8,
})
VARIANT_FIRMWARE_31 = "hxtp-3.1"
VARIANT_FIRMWARE_30 = "hxtp-3.0-fw"
VARIANT_PY_31 = "sdk-json/hxtp-py-3.1"
VARIANT_PY_30 = "sdk-json/hxtp-py-3.0"
VARIANT_JS_30 = "sdk-json/hxtp-js-3.0"
VARIANT_PY_ED25519 = "hxtp-3.1-ed25519"
SIGNING_VARIANTS = (VARIANT_FIRMWARE_31, VARIANT_FIRMWARE_30, VARIANT_PY_31, VARIANT_PY_30,
                    VARIANT_JS_30, VARIANT_PY_ED25519)
TOPIC_CHANNELS = ("state", "cmd", "cmd_ack", "hello", "heartbeat", "ota", "ota_status", "telemetry")
FULL_WILDCARD_TOPIC = "hxtp/+/device/+/#"

cdef enum:
    _DIGEST_SIZE = 32
    _HEX_SIZE = 64
    _HEADER_SIZE = 8
    _MAX_PAYLOAD = 16384

cdef str _HEX_CHARS = "0123456789abcdefABCDEF"


# ── SHA-256 and keyed HMAC (§6) ──────────────────────────────────────────────────────────

cdef bint _sha_ni = hxtp_sha256_select(0)


def _select_sha256_backend(bint portable_only):
    """Private, for tests and the benchmark: force the portable C path or go back to the fastest.
    Returns the backend now in use, "sha-ni" or "portable"."""
    global _sha_ni
    _sha_ni = hxtp_sha256_select(portable_only)
    return "sha-ni" if _sha_ni else "portable"


cdef inline const uint8_t* _utf8_view(object data, Py_ssize_t* size) except NULL:
    # Borrowed pointer into `data` (ASCII text needs no copy); valid while the caller holds `data`.
    if isinstance(data, bytes):
        size[0] = PyBytes_GET_SIZE(data)
        return <const uint8_t*>PyBytes_AS_STRING(data)
    if isinstance(data, str):
        try:
            return <const uint8_t*>PyUnicode_AsUTF8AndSize(data, size)
        except UnicodeEncodeError:
            raise HxtpRejection(Reason.ENCODING_INVALID, "text is not encodable as UTF-8") from None
    raise TypeError(f"expected str or bytes, got {type(data).__name__}")


cdef inline str _hex_text(const uint8_t* digest):
    cdef object text = PyUnicode_New(_HEX_SIZE, 127)
    hxtp_hex_lower(digest, _DIGEST_SIZE, <char*>PyUnicode_DATA(text))
    return <str>text


def sha256_hex(data):
    """Lowercase hex SHA-256 of bytes, or of text as UTF-8."""
    cdef Py_ssize_t size = 0
    cdef const uint8_t* view = _utf8_view(data, &size)
    cdef uint8_t digest[_DIGEST_SIZE]
    hxtp_sha256(view, <size_t>size, digest)
    return _hex_text(digest)


cdef class HmacKey:
    """HMAC-SHA256 with the keyed state computed once: each message only continues a copy of it."""

    cdef hxtp_hmac_key _key

    def __cinit__(self, key):
        # __cinit__, not __init__: no HmacKey can exist with an unkeyed state.
        if not isinstance(key, bytes):
            raise TypeError(f"expected bytes, got {type(key).__name__}")
        hxtp_hmac_init(&self._key, <const uint8_t*>PyBytes_AS_STRING(key), <size_t>PyBytes_GET_SIZE(key))

    def __dealloc__(self):
        memset(&self._key, 0, sizeof(self._key))

    @classmethod
    def from_hex(cls, secret_hex):
        """Key from the 64-hex-char device secret: the HMAC key is its 32 raw bytes (§0 item 3)."""
        return cls(_secret_bytes(secret_hex))

    cpdef str sign(self, message):
        """64 lowercase hex chars."""
        cdef Py_ssize_t size = 0
        cdef const uint8_t* view = _utf8_view(message, &size)
        cdef uint8_t mac[_DIGEST_SIZE]
        hxtp_hmac_sign(&self._key, view, <size_t>size, mac)
        return _hex_text(mac)

    cpdef bint verify(self, message, signature):
        """Constant-time, case-sensitive comparison with the lowercase hex HMAC (as hxtp-py 1.1.x)."""
        cdef Py_ssize_t size = 0
        cdef const uint8_t* view = _utf8_view(message, &size)
        cdef uint8_t mac[_DIGEST_SIZE]
        cdef char expected[_HEX_SIZE]
        hxtp_hmac_sign(&self._key, view, <size_t>size, mac)
        hxtp_hex_lower(mac, _DIGEST_SIZE, expected)
        if not isinstance(signature, str) or not PyUnicode_IS_ASCII(signature):
            return False
        if PyUnicode_GET_LENGTH(signature) != _HEX_SIZE:
            return False
        return hxtp_equal_ct(expected, <const char*>PyUnicode_DATA(signature), _HEX_SIZE)

    def __repr__(self):
        return "HmacKey(<secret>)"


@functools.lru_cache(maxsize=4096)
def hmac_key(secret_hex):
    """`HmacKey.from_hex` behind a bounded cache, for callers that do not keep key objects."""
    return HmacKey.from_hex(secret_hex)


def verify_hmac(message, signature, keys):
    """Index of the first key whose HMAC matches (0 = active, 1 = previous: rotated), else a rejection."""
    if signature is None or signature == "":
        raise HxtpRejection(Reason.SIGNATURE_MISSING, "Missing signature")
    if not isinstance(signature, str):
        raise HxtpRejection(Reason.FIELD_INVALID, "signature must be a string")
    if not keys:
        raise HxtpRejection(Reason.SECRET_INVALID, "No key available for verification")
    cdef Py_ssize_t index = 0
    for key in keys:
        if (<HmacKey>key).verify(message, signature) if type(key) is HmacKey else key.verify(message, signature):
            return index
        index += 1
    raise HxtpRejection(Reason.SIGNATURE_INVALID, "HMAC-SHA256 verification failed")


cdef bytes _secret_bytes(object secret_hex):
    if not isinstance(secret_hex, str) or len(secret_hex) != 64 or not _all_hex(secret_hex):
        raise HxtpRejection(Reason.SECRET_INVALID, "device secret must be 64 hex characters")
    return bytes.fromhex(secret_hex)


cdef bint _all_hex(str text):
    cdef Py_UCS4 char
    for char in text:
        if char not in _HEX_CHARS:
            return False
    return True


EMPTY_PARAMS_SHA256 = sha256_hex(b"{}")


# ── frames (§2.3) ────────────────────────────────────────────────────────────────────────

def encode_frame(frame_type, body):
    """`48 58 03 <type> <len32 BE>` + body."""
    if isinstance(frame_type, bool) or not isinstance(frame_type, int) or not 1 <= frame_type <= 8:
        raise HxtpRejection(Reason.FRAME_TYPE_INVALID, f"frame type {frame_type!r} is outside 1..8")
    if not isinstance(body, bytes):
        raise TypeError(f"expected bytes, got {type(body).__name__}")
    cdef Py_ssize_t size = PyBytes_GET_SIZE(body)
    if size > _MAX_PAYLOAD:
        raise HxtpRejection(Reason.FRAME_LENGTH_INVALID, f"body of {size} bytes exceeds {MAX_PAYLOAD_BYTES}")
    cdef bytes frame = PyBytes_FromStringAndSize(NULL, _HEADER_SIZE + size)
    cdef uint8_t* out = <uint8_t*>PyBytes_AS_STRING(frame)
    out[0] = 0x48
    out[1] = 0x58
    out[2] = 3
    out[3] = <uint8_t>(<int>frame_type)
    out[4] = <uint8_t>(size >> 24)
    out[5] = <uint8_t>(size >> 16)
    out[6] = <uint8_t>(size >> 8)
    out[7] = <uint8_t>size
    memcpy(out + _HEADER_SIZE, PyBytes_AS_STRING(body), <size_t>size)
    return frame


def decode_frame(data):
    """(type byte, JSON body). Checks in the firmware's order; bytes after the declared length are ignored."""
    if not isinstance(data, bytes):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    cdef Py_ssize_t size = PyBytes_GET_SIZE(data)
    cdef const uint8_t* raw = <const uint8_t*>PyBytes_AS_STRING(data)
    if size < _HEADER_SIZE:
        raise HxtpRejection(Reason.FRAME_TOO_SHORT, f"{size} bytes, the header alone is {FRAME_HEADER_SIZE}")
    if raw[0] != 0x48 or raw[1] != 0x58:
        raise HxtpRejection(Reason.FRAME_MAGIC_INVALID, f"magic {data[:2].hex()}, expected 4858")
    if raw[2] != 3:
        raise HxtpRejection(Reason.FRAME_VERSION_INVALID, f"framer version {raw[2]}, expected {FRAMER_VERSION}")
    if raw[3] < 1 or raw[3] > 8:
        raise HxtpRejection(Reason.FRAME_TYPE_INVALID, f"frame type {raw[3]} is outside 1..8")
    cdef Py_ssize_t length = ((<Py_ssize_t>raw[4] << 24) | (<Py_ssize_t>raw[5] << 16)
                              | (<Py_ssize_t>raw[6] << 8) | <Py_ssize_t>raw[7])
    if length > _MAX_PAYLOAD:
        raise HxtpRejection(Reason.FRAME_LENGTH_INVALID, f"declared length {length} exceeds {MAX_PAYLOAD_BYTES}")
    if size - _HEADER_SIZE < length:
        raise HxtpRejection(
            Reason.FRAME_TOO_SHORT, f"declared length {length}, {size - _HEADER_SIZE} bytes follow the header"
        )
    return raw[3], PyBytes_FromStringAndSize(<const char*>raw + _HEADER_SIZE, length)


def frame_type_for(message_type):
    """The frame type byte the firmware dispatches on; it must agree with the JSON message_type."""
    frame_type = FRAME_TYPES.get(message_type) if isinstance(message_type, str) else None
    if frame_type is None:
        raise HxtpRejection(Reason.FRAME_TYPE_INVALID, f"no frame type for message_type {message_type!r}")
    return frame_type


include "_hotpath_guards.pxi"
include "_hotpath_json.pxi"
include "_hotpath_signing.pxi"
include "_hotpath_schema.pxi"


__all__ = [
    "ALL_REASONS", "EMPTY_PARAMS_SHA256", "FRAMER_VERSION", "FRAME_HEADER_SIZE", "FRAME_MAGIC",
    "FRAME_TYPES", "FULL_WILDCARD_TOPIC", "MAX_JSON_DEPTH", "MAX_PAYLOAD_BYTES", "SIGNING_VARIANTS",
    "TOPIC_CHANNELS", "VARIANT_FIRMWARE_30", "VARIANT_FIRMWARE_31", "VARIANT_JS_30", "VARIANT_PY_30",
    "VARIANT_PY_31", "VARIANT_PY_ED25519", "HmacKey", "HxtpRejection", "NonceCache", "ParamsInvalid",
    "ParamsValidator", "Reason", "SchemaInvalid", "SequenceWindow", "canonical_json",
    "canonical_params_json", "check_payload_hash", "check_payload_size", "check_timestamp", "check_version",
    "compile_params_schema", "decode_frame", "device_topic", "encode_frame", "extract_raw_params",
    "firmware_mqtt_credentials", "frame_type_for", "hmac_key", "js_canonical_json", "legacy_params_json",
    "outbound_payload_hash", "parse_topic", "sdk_publish_channel", "sha256_hex", "signing_string",
    "signing_string_bootstrap", "signing_string_v30_firmware", "signing_string_v30_js",
    "signing_string_v30_py", "signing_string_v31", "signing_string_v31_ed25519", "verify_hmac",
    "wildcard_topic", "wire_int"
]
