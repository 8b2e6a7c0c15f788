"""Test devices that speak as the public SDKs do over MQTT (profile sdk-json), built on `ext` only.

One class, three SDK generations, each writing and checking envelopes exactly as that SDK does:

- hxtp-py 1.1.x (`ext.VARIANT_PY_31`): `HxTP/3.1`, payload_hash = sha256(canonical_params_json),
  HMAC over the 10 escaped, NFC-normalised pipe fields (§5.1); sent as `json.dumps(sort_keys)`.
- hxtp-py <= 1.1.0 (`ext.VARIANT_PY_30`): `HxTP/3.0`, payload_hash = sha256(json.dumps(params,
  sort_keys, compact)), HMAC over canonical_json of the whole envelope minus signature (§5.3).
- hxtp-js 1.0.x (`ext.VARIANT_JS_30`): `HxTP/3.0`, payload_hash = sha256(canonicalJson(params)) (protocol
  injected), its signer's HMAC over canonicalJson of the header fields without params; its validator
  recomputes canonicalJson over every field but the signature (§5.3); sent as `JSON.stringify`
  (insertion order). Accepts only `HxTP/3.0`.

All publish bare JSON (no frame header). Checks use the SDK validators' order (§8) and comparisons
(hex case-sensitive). It never imports server code.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

import ext
from tests.devicelink.firmware import now_ms

SDK_VARIANTS = (ext.VARIANT_PY_31, ext.VARIANT_PY_30, ext.VARIANT_JS_30)
_VERSIONS = {ext.VARIANT_PY_31: "HxTP/3.1", ext.VARIANT_PY_30: "HxTP/3.0", ext.VARIANT_JS_30: "HxTP/3.0"}
# What each SDK's validator lets through (§3.1 `version`): hxtp-py takes both, hxtp-js only 3.0.
_ACCEPTED = {
    ext.VARIANT_PY_31: ("HxTP/3.1", "HxTP/3.0"),
    ext.VARIANT_PY_30: ("HxTP/3.0",),
    ext.VARIANT_JS_30: ("HxTP/3.0",),
}


def validator_signing_string(variant: str, envelope: dict[str, Any]) -> str:
    """The string the SDK's validator recomputes from a received envelope."""
    if variant == ext.VARIANT_JS_30:
        return ext.signing_string_v30_js(envelope, include_params=True)
    return ext.signing_string(variant, envelope)


@dataclass
class SdkDevice:
    device_id: str
    tenant_id: str
    secret_hex: str
    variant: str = ext.VARIANT_PY_31
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    sequence: int = 0
    last_inbound_sequence: int | None = None
    seen_nonces: set[str] = field(default_factory=set)

    @property
    def version(self) -> str:
        return _VERSIONS[self.variant]

    def topic(self, channel: str) -> str:
        return ext.device_topic(self.tenant_id, self.device_id, channel)

    def envelope(
        self, message_type: str, params: dict[str, Any], *, sequence: int | None = None
    ) -> dict[str, Any]:
        """A signed envelope as the SDK builds it (hxtp-py `build_envelope` key order, §3.3)."""
        if sequence is None:
            self.sequence += 1
            sequence = self.sequence
        message_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "version": self.version,
            "message_type": message_type,
            "device_id": self.device_id,
            "tenant_id": self.tenant_id,
            "client_id": self.client_id,
            "message_id": message_id,
            "request_id": message_id,
            "sequence_number": sequence,
            "timestamp": now_ms(),
            "nonce": secrets.token_hex(16),
            "payload_hash": ext.outbound_payload_hash(self.variant, params),
            "params": params,
        }
        # Each SDK's signer: hxtp-js leaves params out (ext's JS_30 string), hxtp-py 3.0 signs them all.
        signing = ext.signing_string(self.variant, envelope)
        envelope["signature"] = ext.HmacKey.from_hex(self.secret_hex).sign(signing)
        return envelope

    def wire(self, envelope: dict[str, Any]) -> bytes:
        if self.variant == ext.VARIANT_JS_30:
            return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()
        return json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode()

    def build(self, message_type: str, params: dict[str, Any] | None = None) -> bytes:
        return self.wire(self.envelope(message_type, params or {}))

    def accept_command(self, payload: bytes) -> dict[str, Any]:
        """Validate an inbound message as the SDK's `validate_message` does, with a nonce cache and
        (hxtp-py) a sequence tracker; returns the envelope."""
        assert payload[:1] == b"{", "SDK transports receive bare JSON"
        envelope = json.loads(payload)
        assert envelope["version"] in _ACCEPTED[self.variant], envelope["version"]
        ext.check_timestamp(envelope["timestamp"], now_ms())
        nonce = envelope["nonce"]
        assert nonce and nonce not in self.seen_nonces
        self.seen_nonces.add(nonce)
        expected_hash = ext.outbound_payload_hash(self.variant, envelope.get("params", {}))
        assert envelope["payload_hash"] in ("", expected_hash), "HASH_MISMATCH"
        sequence = envelope["sequence_number"]
        if self.variant != ext.VARIANT_JS_30:  # hxtp-js has no sequence step
            assert isinstance(sequence, int)
            assert self.last_inbound_sequence is None or sequence > self.last_inbound_sequence
            self.last_inbound_sequence = sequence
        unsigned = {key: value for key, value in envelope.items() if key != "signature"}
        signing = validator_signing_string(self.variant, unsigned)
        # Case-sensitive comparison, as hxtp-py 1.1.x and hxtp-js do (§6).
        expected = ext.HmacKey.from_hex(self.secret_hex).sign(signing)
        assert expected == envelope["signature"], "SIGNATURE_INVALID"
        return dict(envelope)

    def ack(self, ref_message_id: str) -> bytes:
        return self.build("ack", {"ack_status": "executed", "ref_message_id": ref_message_id})
