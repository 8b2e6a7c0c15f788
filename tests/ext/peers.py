"""The vectors' peers rebuilt around one twin of ext, to replay their verdicts.

Each class encodes only what a peer does *around* the primitives: the order of its steps and which
rule it picks (hxtp-py hashes canonical params, the firmware hashes what ArduinoJson left of them).
Every check itself runs in the twin under test, so a vector verdict that comes out right is a
statement about ext. Ed25519 (hxtp-py 1.2.0) uses the `cryptography` package, exactly as the server's
device link will; ext only builds the string it signs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


@dataclass(frozen=True)
class Verdict:
    ok: bool
    code: str = ""
    reason: str = ""
    rotated: bool = False


# ── Ed25519, outside ext by design ───────────────────────────────────────────────────────


def ed25519_public_hex(seed_hex: str) -> str:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex)).public_key()
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def ed25519_sign(seed_hex: str, message: str) -> str:
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex)).sign(message.encode()).hex()


def ed25519_verify(public_hex: str, signature_hex: str, message: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)).verify(
            bytes.fromhex(signature_hex), message.encode()
        )
    except (ValueError, InvalidSignature):
        return False
    return True


# ── hxtp-py validate_message (1.1.1: HMAC over 10 fields; 1.2.0: Ed25519 over 11 fields) ──


class HxtpyValidator:
    """`validate_message` of hxtp-py, steps in its order (§8). Nonce cache and sequence tracker are
    optional there, so they are here; without a cache only a missing nonce is caught."""

    def __init__(self, twin: ModuleType, *, ed25519: bool, stateful: bool = False) -> None:
        self.twin = twin
        self.ed25519 = ed25519
        self.nonces = twin.NonceCache(max_entries=256, ttl_seconds=60) if stateful else None
        self.sequence = twin.SequenceWindow() if stateful else None

    def validate(
        self, msg: dict[str, Any], *, now_ms: int, active: str, previous: str | None = None
    ) -> Verdict:
        try:
            rotated = self._steps(msg, now_ms, active, previous)
        except self.twin.HxtpRejection as rejection:
            return Verdict(False, rejection.reason, rejection.detail)
        return Verdict(True, rotated=rotated)

    def _steps(self, msg: dict[str, Any], now_ms: int, active: str, previous: str | None) -> bool:
        twin = self.twin
        version = twin.check_version(
            str(msg.get("version") or msg.get("protocol_version") or ""), ("HxTP/3.1", "HxTP/3.0")
        )
        timestamp = msg.get("timestamp", 0)
        twin.check_timestamp(timestamp if isinstance(timestamp, int) else 0, now_ms)  # text counts as 0
        params = msg.get("params")
        if params is not None:
            twin.check_payload_size(len(twin.canonical_params_json(params).encode()))
        nonces = self.nonces if self.nonces is not None else twin.NonceCache()
        nonces.remember("peer", msg.get("nonce"), now=now_ms / 1000)
        if msg.get("payload_hash"):
            twin.check_payload_hash(msg["payload_hash"], twin.canonical_params_json(params).encode())
        sequence = msg.get("sequence_number")
        if self.sequence is not None and isinstance(sequence, int):
            self.sequence.accept("peer", "", sequence)
        if self.ed25519:
            return self._ed25519_signature(msg, version, active, previous)
        message = (
            twin.signing_string_v31(msg, nfc=True)
            if version == "HxTP/3.1"
            else twin.signing_string_v30_py(msg)
        )
        keys = [twin.HmacKey.from_hex(secret) for secret in (active, previous) if secret]
        return bool(twin.verify_hmac(message, msg.get("signature"), keys) == 1)

    def _ed25519_signature(
        self, msg: dict[str, Any], version: str, active: str, previous: str | None
    ) -> bool:
        twin = self.twin
        signature = msg.get("signature")
        if not signature:
            raise twin.HxtpRejection(twin.Reason.SIGNATURE_MISSING, "Missing signature")
        message = (
            twin.signing_string_v31_ed25519(msg) if version == "HxTP/3.1" else twin.signing_string_v30_py(msg)
        )
        for index, public in enumerate(key for key in (active, previous) if key):
            if ed25519_verify(public, signature, message):
                return index == 1
        raise twin.HxtpRejection(twin.Reason.SIGNATURE_INVALID, "Ed25519 verification failed")


# ── hxtp-micro Core::process_inbound (v1.0.7, or v1.0.6 with version="HxTP/3.0") ─────────

_FIRMWARE_TEXTS = {
    "VERSION_MISMATCH": "unsupported protocol version",
    "TIMESTAMP_EXPIRED": "message too old",
    "TIMESTAMP_FUTURE": "clock skew exceeds limit",
    "PAYLOAD_TOO_LARGE": "exceeds 16KB limit",
    "NONCE_MISSING": "nonce field is empty",
    "NONCE_REUSED": "replay attack detected",
    "HASH_MISMATCH": "payload hash does not match",
    "SEQUENCE_VIOLATION": "out-of-order or duplicate sequence",
    "SIGNATURE_INVALID": "HMAC verification failed",
}
# Both timestamp failures return the firmware error number of TIMESTAMP_EXPIRED (§13 item 21).
_FIRMWARE_RESULTS = {"TIMESTAMP_FUTURE": "TIMESTAMP_EXPIRED"}


class FirmwareDevice:
    """One booted device: its nonce ring (64 entries, 60 s) and its single sequence tracker, shared
    by every sender, which advances before the signature is checked (§7)."""

    def __init__(
        self,
        twin: ModuleType,
        secret_hex: str,
        *,
        version: str = "HxTP/3.1",
        actions: tuple[str, ...] = ("toggle",),
    ) -> None:
        self.twin = twin
        self.key = twin.HmacKey.from_hex(secret_hex)
        self.version = version
        self.actions = actions
        self.nonces = twin.NonceCache(max_entries=64, ttl_seconds=60)
        self.sequence = twin.SequenceWindow(max_keys=1)

    def process(self, payload: bytes, now_ms: int) -> tuple[str, dict[str, str] | None]:
        """(result, params of the ACK it publishes or None) for one MQTT payload."""
        twin = self.twin
        frame_type, body = twin.decode_frame(payload)
        envelope = json.loads(body)
        raw_params = twin.extract_raw_params(body)
        try:
            self._validate(envelope, body, raw_params, now_ms)
        except twin.HxtpRejection as rejection:
            return self._failure(envelope, rejection.reason)
        if frame_type != twin.frame_type_for("command") or "action" not in envelope:
            return "COMMAND_INVALID", None
        reference = envelope.get("message_id") or envelope.get("request_id")
        if envelope["action"] not in self.actions:
            return "UNKNOWN_ACTION", {
                "ack_status": "failed",
                "error": "CAPABILITY_NOT_REGISTERED",
                "ref_message_id": reference,
            }
        return "OK", {"ack_status": "executed", "ref_message_id": reference}

    def _validate(self, envelope: dict[str, Any], body: bytes, raw_params: bytes | None, now_ms: int) -> None:
        twin = self.twin
        twin.check_version(envelope.get("version"), (self.version,))
        twin.check_timestamp(envelope.get("timestamp"), now_ms, max_age_s=30, max_future_s=5)
        twin.check_payload_size(len(body))
        self.nonces.remember("device", envelope.get("nonce"), now=now_ms / 1000)
        # ArduinoJson 7 drops object members while re-serialising, so an object hashes as {} (§4.3).
        assert isinstance(envelope.get("params", {}), dict)
        twin.check_payload_hash(envelope.get("payload_hash"), b"{}")
        sequence = envelope.get("sequence_number", -1)
        if twin.wire_int(sequence, "sequence_number") >= 0:
            self.sequence.accept("device", "", sequence)
        if self.version == "HxTP/3.1":
            message = twin.signing_string_v31(envelope)
        else:
            message = twin.signing_string_v30_firmware(envelope, raw_params)
        # The firmware compares the first 64 hex characters, ignoring case.
        signature = str(envelope.get("signature", ""))[:64].lower()
        twin.verify_hmac(message, signature, [self.key])

    def _failure(self, envelope: dict[str, Any], reason: str) -> tuple[str, dict[str, str] | None]:
        result = _FIRMWARE_RESULTS.get(reason, reason)
        request_id = envelope.get("request_id")
        if not request_id:
            return result, None
        return result, {
            "ack_status": "failed",
            "error": f"{reason}: {_FIRMWARE_TEXTS[reason]}",
            "ref_message_id": request_id,
        }


def wire_json(envelope: dict[str, Any]) -> bytes:
    """How the server serialises an envelope: insertion order, compact, raw UTF-8."""
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()
