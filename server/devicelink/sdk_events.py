"""Live events for WebSocket clients that opened with the HxTP hello (the SDKs' async clients).

hxtp-py 1.2.0's `HxTPClient` runs every frame it receives after `hello_ack` through its validation
pipeline and calls `on_message` only for what passes: `version` HxTP/3.1 (or 3.0); a `timestamp`
inside its age and skew window; a non-empty `nonce` it has not seen; `payload_hash` (when not empty)
equal to the SHA-256 of its canonical JSON of `params`; and an Ed25519 `signature` over the 11-field
string (§5.2) under the device's own key or its `previous_public_key_hex`. It keeps no sequence
tracker for these, but the numbers here still increase.

So each event goes out as that envelope: `message_type` = the event's type, `params` = the event as
plain clients receive it, signed with the server's Ed25519 link key (the key the SDK is configured
to trust in its previous-key slot, published at GET /api/v1/device/link-key).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping
from typing import Any

import ext
from contract.ids import random_uuid
from server.devicelink import profiles
from server.devicelink.outbound import new_nonce
from server.domain.clock import epoch_ms


class SdkEvents:
    def __init__(
        self, signer: profiles.LinkSigner, client_id: str, clock_ms: Callable[[], int] | None = None
    ):
        self._signer = signer
        self._client_id = client_id
        self._clock_ms = clock_ms or epoch_ms
        self._sequence = itertools.count(self._clock_ms())  # above anything an earlier run sent

    def envelope(self, event: Mapping[str, Any], hello: Mapping[str, Any]) -> str:
        """`event` (the documented JSON object) as a signed HxTP envelope for the client whose
        hello frame was `hello` (its device_id and tenant_id are echoed, as the SDK sent them)."""
        params = dict(event)
        message_id = random_uuid()
        header: dict[str, Any] = {
            "version": profiles.V31,
            "message_type": str(event.get("type", "event")),
            "device_id": str(event.get("device_id") or hello.get("device_id") or ""),
            "tenant_id": str(hello.get("tenant_id") or ""),
            "client_id": self._client_id,
            "message_id": message_id,
            "request_id": message_id,
            "sequence_number": next(self._sequence),
            "timestamp": self._clock_ms(),
            "nonce": new_nonce(),
            "payload_hash": ext.outbound_payload_hash(ext.VARIANT_PY_ED25519, params),
        }
        params_text = json.dumps(params, separators=(",", ":"), ensure_ascii=False)
        signing = profiles.outbound_signing_string(ext.VARIANT_PY_ED25519, header, params, params_text)
        return json.dumps(
            {**header, "params": params, "signature": self._signer.sign(signing)},
            separators=(",", ":"),
            ensure_ascii=False,
        )
