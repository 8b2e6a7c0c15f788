"""Reference twin of the HxTP hot path: the readable definition `ext._hotpath` must match.

Stdlib only. Section numbers refer to shared/spec/hxtp-wire-protocol.md. The JSON forms live in
`_reference_json`, the manifest validator in `_reference_schema`; this module re-exports both so the
reference exposes exactly the API of the compiled twin (`__all__` is the contract, checked by tests).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import unicodedata
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from ext._errors import ALL_REASONS, HxtpRejection, ParamsInvalid, Reason, SchemaInvalid
from ext._reference_guards import (
    MAX_PAYLOAD_BYTES,
    NonceCache,
    SequenceWindow,
    check_payload_size,
    check_timestamp,
    check_version,
    wire_int,
)
from ext._reference_json import (
    MAX_JSON_DEPTH,
    canonical_json,
    canonical_params_json,
    extract_raw_params,
    js_canonical_json,
    legacy_params_json,
)
from ext._reference_schema import ParamsValidator, compile_params_schema

# ── wire constants (§2.3, §4.3, §5) ──────────────────────────────────────────────────────

FRAME_MAGIC = b"HX"
FRAMER_VERSION = 3
FRAME_HEADER_SIZE = 8
FRAME_TYPES: Mapping[str, int] = MappingProxyType({
    "state": 1, "command": 2, "ack": 3, "heartbeat": 4, "telemetry": 5, "ota": 6, "error": 7, "hello": 8,
})
EMPTY_PARAMS_SHA256 = hashlib.sha256(b"{}").hexdigest()  # what v1.0.6-v1.0.7 firmware hashes any object to

# Signing variants: one per (peer family, signing string, payload_hash rule), spec §0 item 1.
VARIANT_FIRMWARE_31 = "hxtp-3.1"  # firmware b20fe44 / v1.0.7: 10 pipe fields, escaped
VARIANT_FIRMWARE_30 = "hxtp-3.0-fw"  # firmware v1.0.6: fixed JSON template with raw params text
VARIANT_PY_31 = "sdk-json/hxtp-py-3.1"  # hxtp-py 1.1.x: 10 pipe fields, NFC + escaped
VARIANT_PY_30 = "sdk-json/hxtp-py-3.0"  # hxtp-py <= 1.1.0: canonical_json of the envelope
VARIANT_JS_30 = "sdk-json/hxtp-js-3.0"  # hxtp-js 1.0.x: JS canonicalJson of the header fields
VARIANT_PY_ED25519 = "hxtp-3.1-ed25519"  # hxtp-py 1.2.0: 11 pipe fields (signature made outside ext)
SIGNING_VARIANTS = (VARIANT_FIRMWARE_31, VARIANT_FIRMWARE_30, VARIANT_PY_31, VARIANT_PY_30,
                    VARIANT_JS_30, VARIANT_PY_ED25519)

TOPIC_CHANNELS = ("state", "cmd", "cmd_ack", "hello", "heartbeat", "ota", "ota_status", "telemetry")
FULL_WILDCARD_TOPIC = "hxtp/+/device/+/#"

_PIPE_FIELDS_10 = ("version", "device_id", "client_id", "message_id", "request_id",
                   "sequence_number", "timestamp", "nonce", "message_type", "payload_hash")
_PIPE_FIELDS_11 = ("version", "device_id", "tenant_id", "client_id", "message_id", "request_id",
                   "sequence_number", "timestamp", "nonce", "message_type", "payload_hash")
_INTEGER_FIELDS = frozenset({"sequence_number", "timestamp"})
# v1.0.6 template order; `None` marks where the raw params text goes.
_FIRMWARE_30_TEMPLATE = ("action", "capability", "client_id", "device_id", "message_id", "message_type",
                         "nonce", None, "payload_hash", "protocol", "request_id", "sequence_number",
                         "tenant_id", "timestamp", "version")
_FIRMWARE_30_ASCII_ONLY = frozenset({"client_id", "device_id", "message_id", "nonce", "capability",
                                     "action", "tenant_id"})
_SDK_CHANNELS = {"heartbeat": "heartbeat", "state": "state", "telemetry": "telemetry", "ack": "cmd_ack",
                 "error": "cmd_ack", "command": "cmd", "hello": "hello"}
_TOPIC_FORBIDDEN = ("/", "+", "#")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


# ── SHA-256 and keyed HMAC (§6) ──────────────────────────────────────────────────────────


def sha256_hex(data: str | bytes) -> str:
    """Lowercase hex SHA-256 of bytes, or of text as UTF-8."""
    return hashlib.sha256(_utf8(data)).hexdigest()


class HmacKey:
    """HMAC-SHA256 with the keyed state computed once: each message only continues a copy of it."""

    __slots__ = ("_keyed",)

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes):
            raise TypeError(f"expected bytes, got {type(key).__name__}")
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)

    @classmethod
    def from_hex(cls, secret_hex: str) -> HmacKey:
        """Key from the 64-hex-char device secret: the HMAC key is its 32 raw bytes (§0 item 3)."""
        return cls(_secret_bytes(secret_hex))

    def sign(self, message: str | bytes) -> str:
        """64 lowercase hex chars."""
        mac = self._keyed.copy()
        mac.update(_utf8(message))
        return mac.hexdigest()

    def verify(self, message: str | bytes, signature: object) -> bool:
        """Constant-time, case-sensitive comparison with the lowercase hex HMAC (as hxtp-py 1.1.x)."""
        expected = self.sign(message)
        return isinstance(signature, str) and signature.isascii() and hmac.compare_digest(expected, signature)

    def __repr__(self) -> str:
        return "HmacKey(<secret>)"


@functools.lru_cache(maxsize=4096)
def hmac_key(secret_hex: str) -> HmacKey:
    """`HmacKey.from_hex` behind a bounded cache, for callers that do not keep key objects."""
    return HmacKey.from_hex(secret_hex)


def verify_hmac(message: str | bytes, signature: object, keys: Sequence[HmacKey]) -> int:
    """Index of the first key whose HMAC matches (0 = active, 1 = previous: rotated), else a rejection."""
    if signature is None or signature == "":
        raise HxtpRejection(Reason.SIGNATURE_MISSING, "Missing signature")
    if not isinstance(signature, str):
        raise HxtpRejection(Reason.FIELD_INVALID, "signature must be a string")
    if not keys:
        raise HxtpRejection(Reason.SECRET_INVALID, "No key available for verification")
    for index, key in enumerate(keys):
        if key.verify(message, signature):
            return index
    raise HxtpRejection(Reason.SIGNATURE_INVALID, "HMAC-SHA256 verification failed")


def _utf8(data: str | bytes) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError:
            raise HxtpRejection(Reason.ENCODING_INVALID, "text is not encodable as UTF-8") from None
    raise TypeError(f"expected str or bytes, got {type(data).__name__}")


def _secret_bytes(secret_hex: str) -> bytes:
    if not isinstance(secret_hex, str) or len(secret_hex) != 64 or not _HEX_DIGITS.issuperset(secret_hex):
        raise HxtpRejection(Reason.SECRET_INVALID, "device secret must be 64 hex characters")
    return bytes.fromhex(secret_hex)


# ── frames (§2.3) ────────────────────────────────────────────────────────────────────────


def encode_frame(frame_type: int, body: bytes) -> bytes:
    """`48 58 03 <type> <len32 BE>` + body."""
    if isinstance(frame_type, bool) or not isinstance(frame_type, int) or not 1 <= frame_type <= 8:
        raise HxtpRejection(Reason.FRAME_TYPE_INVALID, f"frame type {frame_type!r} is outside 1..8")
    if not isinstance(body, bytes):
        raise TypeError(f"expected bytes, got {type(body).__name__}")
    if len(body) > MAX_PAYLOAD_BYTES:
        raise HxtpRejection(
            Reason.FRAME_LENGTH_INVALID, f"body of {len(body)} bytes exceeds {MAX_PAYLOAD_BYTES}"
        )
    return FRAME_MAGIC + bytes((FRAMER_VERSION, frame_type)) + len(body).to_bytes(4, "big") + body


def decode_frame(data: bytes) -> tuple[int, bytes]:
    """(type byte, JSON body). Checks in the firmware's order; bytes after the declared length are ignored."""
    if not isinstance(data, bytes):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    size = len(data)
    if size < FRAME_HEADER_SIZE:
        raise HxtpRejection(Reason.FRAME_TOO_SHORT, f"{size} bytes, the header alone is {FRAME_HEADER_SIZE}")
    if data[:2] != FRAME_MAGIC:
        raise HxtpRejection(Reason.FRAME_MAGIC_INVALID, f"magic {data[:2].hex()}, expected 4858")
    if data[2] != FRAMER_VERSION:
        raise HxtpRejection(
            Reason.FRAME_VERSION_INVALID, f"framer version {data[2]}, expected {FRAMER_VERSION}"
        )
    if not 1 <= data[3] <= 8:
        raise HxtpRejection(Reason.FRAME_TYPE_INVALID, f"frame type {data[3]} is outside 1..8")
    length = int.from_bytes(data[4:8], "big")
    if length > MAX_PAYLOAD_BYTES:
        raise HxtpRejection(
            Reason.FRAME_LENGTH_INVALID, f"declared length {length} exceeds {MAX_PAYLOAD_BYTES}"
        )
    if size - FRAME_HEADER_SIZE < length:
        raise HxtpRejection(
            Reason.FRAME_TOO_SHORT,
            f"declared length {length}, {size - FRAME_HEADER_SIZE} bytes follow the header",
        )
    return data[3], data[FRAME_HEADER_SIZE : FRAME_HEADER_SIZE + length]


def frame_type_for(message_type: str) -> int:
    """The frame type byte the firmware dispatches on; it must agree with the JSON message_type."""
    frame_type = FRAME_TYPES.get(message_type) if isinstance(message_type, str) else None
    if frame_type is None:
        raise HxtpRejection(Reason.FRAME_TYPE_INVALID, f"no frame type for message_type {message_type!r}")
    return frame_type


# ── envelope fields ──────────────────────────────────────────────────────────────────────


def _required(envelope: Mapping[str, Any], field: str) -> Any:
    if field not in envelope:
        raise HxtpRejection(Reason.FIELD_MISSING, f"{field} is missing")
    return envelope[field]


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise HxtpRejection(Reason.FIELD_INVALID, f"{field} must be a string")
    return value


def _pipe_field(envelope: Mapping[str, Any], field: str) -> str:
    value = _required(envelope, field)
    if field in _INTEGER_FIELDS:
        return str(wire_int(value, field))
    return _text(value, field)


def _escape_pipe(text: str) -> str:
    # Backslash first, so the escapes added afterwards are not escaped again (§5.1).
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "\\n").replace("\r", "\\r")


# ── signing strings (§5) ─────────────────────────────────────────────────────────────────


def signing_string_v31(envelope: Mapping[str, Any], *, escape: bool = True, nfc: bool = False) -> str:
    """HxTP/3.1 10 fields, no tenant (§5.1). Firmware v1.0.7: defaults; hxtp-py 1.1.x: nfc=True;
    firmware b20fe44 and hxtp-py e729113: escape=False."""
    fields = [_pipe_field(envelope, name) for name in _PIPE_FIELDS_10]
    if nfc:
        fields = [unicodedata.normalize("NFC", text) for text in fields]
    if escape:
        fields = [_escape_pipe(text) for text in fields]
    return "|".join(fields)


def signing_string_v31_ed25519(envelope: Mapping[str, Any]) -> str:
    """hxtp-py 1.2.0: 11 fields with tenant_id third, NFC then escaped (§5.2). Ed25519 happens outside ext."""
    return "|".join(_escape_pipe(unicodedata.normalize("NFC", _pipe_field(envelope, name)))
                    for name in _PIPE_FIELDS_11)


def signing_string_v30_firmware(
    envelope: Mapping[str, Any], params_text: str | bytes | None, *, with_action: bool = True
) -> str:
    """Firmware v1.0.6 JSON template (§5.3): values inserted unescaped, absent strings as "", the raw
    params text as placed in the envelope. with_action=False gives the v1.0.4/v1.0.5 template."""
    parts = []
    for field in _FIRMWARE_30_TEMPLATE:
        if field is None:
            parts.append('"params":' + _firmware_params_text(params_text))
        elif field in ("action", "capability") and not with_action:
            continue
        elif field == "protocol":
            parts.append('"protocol":"hxtp/3.0"')
        else:
            parts.append(f'"{field}":"{_firmware_30_value(envelope, field)}"')
    return "{" + ",".join(parts) + "}"


def _firmware_30_value(envelope: Mapping[str, Any], field: str) -> str:
    if field in _INTEGER_FIELDS:
        return str(wire_int(_required(envelope, field), field))
    text = _text(envelope.get(field, ""), field)
    if field in _FIRMWARE_30_ASCII_ONLY and not text.isascii():
        raise HxtpRejection(Reason.CANONICAL_BUILD_FAILED, f"{field} is not ASCII")
    return text


def _firmware_params_text(params_text: str | bytes | None) -> str:
    if params_text is None or len(params_text) == 0:
        return "{}"
    if not params_text.isascii():
        raise HxtpRejection(Reason.CANONICAL_BUILD_FAILED, "params is not ASCII")
    return params_text if isinstance(params_text, str) else params_text.decode("ascii")


def signing_string_v30_py(envelope: Mapping[str, Any]) -> str:
    """hxtp-py 3.0: canonical_json of the envelope without its signature (§5.3)."""
    return canonical_json({key: value for key, value in envelope.items() if key != "signature"})


def signing_string_v30_js(envelope: Mapping[str, Any], *, include_params: bool = False) -> str:
    """hxtp-js: canonicalJson of the header fields; its signer leaves params out, its validator
    (include_params=True) takes every field but the signature (§5.3)."""
    return js_canonical_json(
        {key: value for key, value in envelope.items()
         if key != "signature" and (include_params or key != "params")}
    )


def signing_string_bootstrap(
    version: str, device_id: str, tenant_id: str, timestamp_ms: int, message_id: str, nonce: str
) -> str:
    """`{version}|bootstrap|{device_id}|{tenant_id}|{timestamp_ms}|{message_id}|{nonce}`, unescaped (§5.4)."""
    return "|".join((
        _text(version, "version"), "bootstrap", _text(device_id, "device_id"), _text(tenant_id, "tenant_id"),
        str(wire_int(timestamp_ms, "timestamp")), _text(message_id, "message_id"), _text(nonce, "nonce"),
    ))


def signing_string(variant: str, envelope: Mapping[str, Any], params_text: str | bytes | None = None) -> str:
    """The signing string of one variant; `params_text` is used by hxtp-3.0-fw only."""
    if variant == VARIANT_FIRMWARE_31:
        return signing_string_v31(envelope)
    if variant == VARIANT_PY_31:
        return signing_string_v31(envelope, nfc=True)
    if variant == VARIANT_FIRMWARE_30:
        return signing_string_v30_firmware(envelope, params_text)
    if variant == VARIANT_PY_30:
        return signing_string_v30_py(envelope)
    if variant == VARIANT_JS_30:
        return signing_string_v30_js(envelope)
    if variant == VARIANT_PY_ED25519:
        return signing_string_v31_ed25519(envelope)
    raise ValueError(f"unknown signing variant {variant!r}")


# ── payload_hash (§4) ────────────────────────────────────────────────────────────────────

_NOT_GIVEN: Any = object()


def outbound_payload_hash(variant: str, params: Any) -> str:
    """payload_hash for a message the server sends. Firmware gets "" (§4.3: its check turns any object
    into {}; an empty hash skips the check on v1.0.3-v1.0.7); SDK peers get their own rule (§4.1)."""
    if variant in (VARIANT_FIRMWARE_31, VARIANT_FIRMWARE_30):
        return ""
    if variant in (VARIANT_PY_31, VARIANT_PY_ED25519):
        return sha256_hex(canonical_params_json(params))
    if variant == VARIANT_PY_30:
        return sha256_hex(legacy_params_json(params))
    if variant == VARIANT_JS_30:
        return sha256_hex(js_canonical_json({} if params is None else params))
    raise ValueError(f"unknown signing variant {variant!r}")


def check_payload_hash(
    payload_hash: object, raw_params: bytes | None, *, parsed_params: Any = _NOT_GIVEN
) -> str:
    """Inbound rule (§4.3, §11): "" or absent skips; else sha256 of the raw params text must match, or,
    when parsed_params is given (SDK peers), sha256 of its canonical form. Returns "empty", "raw" or
    "canonical" so the caller can tell which rule the peer follows."""
    if payload_hash is None or payload_hash == "":
        return "empty"
    if not isinstance(payload_hash, str):
        raise HxtpRejection(Reason.FIELD_INVALID, "payload_hash must be a string")
    if sha256_hex(b"{}" if raw_params is None else raw_params) == payload_hash:
        return "raw"
    if parsed_params is not _NOT_GIVEN and sha256_hex(canonical_params_json(parsed_params)) == payload_hash:
        return "canonical"
    raise HxtpRejection(Reason.HASH_MISMATCH, "Payload hash mismatch")


# ── topics (§2.2) ────────────────────────────────────────────────────────────────────────


def device_topic(tenant_id: str, device_id: str, channel: str) -> str:
    """`hxtp/{tenant_id}/device/{device_id}/{channel}`; ids may be empty but never hold / + #."""
    for value, name in ((tenant_id, "tenant_id"), (device_id, "device_id"), (channel, "channel")):
        _topic_level(value, name)
    return f"hxtp/{tenant_id}/device/{device_id}/{channel}"


def wildcard_topic(channel: str) -> str:
    return f"hxtp/+/device/+/{_topic_level(channel, 'channel')}"


def parse_topic(topic: str) -> tuple[str, str, str] | None:
    """(tenant_id, device_id, channel) of a five-level hxtp device topic, else None."""
    levels = topic.split("/")
    if len(levels) != 5 or levels[0] != "hxtp" or levels[2] != "device":
        return None
    return levels[1], levels[3], levels[4]


def sdk_publish_channel(message_type: str) -> str:
    """The channel hxtp-py's MqttTransport publishes a message_type on (unknown types go to state)."""
    return _SDK_CHANNELS.get(message_type, "state")


def firmware_mqtt_credentials(device_id: str, secret_hex: str) -> tuple[str, str, str]:
    """(client id, username, password) a firmware device connects with (§2.1)."""
    _secret_bytes(secret_hex)
    return f"hxtp-{device_id}", device_id, secret_hex


def _topic_level(value: object, name: str) -> str:
    text = _text(value, name)
    if any(mark in text for mark in _TOPIC_FORBIDDEN):
        raise HxtpRejection(Reason.TOPIC_INVALID, f"{name} must not contain / + #")
    return text


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
