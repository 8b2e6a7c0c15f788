"""Every vector of tests/data/hxtp_vectors.json, replayed on both twins.

Each vector group has one checker. A checker reads expected values through `Expected`, which records
what it read; afterwards the test demands that every expected key was either checked or is listed in
NOT_EXT with the reason it is no concern of ext. So no vector field is silently skipped.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from tests.ext.conftest import load_vectors
from tests.ext.peers import (
    FirmwareDevice,
    HxtpyValidator,
    Verdict,
    ed25519_public_hex,
    ed25519_sign,
    ed25519_verify,
    wire_json,
)

VECTORS = load_vectors()
BY_NAME = {vector["name"]: vector for vector in VECTORS["vectors"]}
FIXED = VECTORS["fixed_inputs"]
NOW_MS = FIXED["validator_now_ms"]
SECRET = FIXED["secret_hex"]
PREVIOUS_SECRET = FIXED["previous_secret_hex"]

NOT_EXT: dict[str, dict[str, str]] = {
    "params_canonicalization": {
        "firmware_intended_if_member_bug_fixed": "a firmware that does not exist (ArduinoJson bug fixed)",
        "firmware_intended_if_member_bug_fixed_sha256": "same hypothetical firmware",
    },
    "device_outbound_heartbeat": {
        "build_result": "the device fails to build it; nothing reaches the wire (spec §9.6)",
    },
    "bootstrap_request": {
        "method": "HTTP route shape, served by the gateway",
        "url": "HTTP route shape, served by the gateway",
        "response_fields_parsed": "bootstrap response body, built by the server, not signed",
    },
    "topics/python_mqtt_transport_channel_map": {
        "qos": "MQTT publish options of the SDK transport, a device-link concern",
        "retain": "MQTT publish options of the SDK transport, a device-link concern",
        "payload": "framing choice of the SDK transport (bare JSON), covered by the profile rules",
    },
}


class Expected:
    """The vector's expected values, remembering which ones a checker looked at."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return self._values[key]


Checker = Callable[[ModuleType, dict[str, Any], Expected], None]


def signed(envelope: dict[str, Any], signature: str) -> dict[str, Any]:
    return {**envelope, "signature": signature}


def verdict_fields(verdict: Verdict, expected: dict[str, Any]) -> dict[str, Any]:
    return {key: getattr(verdict, key) for key in expected}


# ── params_canonicalization/* ────────────────────────────────────────────────────────────


def check_params_canonicalization(twin: ModuleType, vector: dict[str, Any], exp: Expected) -> None:
    raw_text = vector["inputs"]["params_json_compact_utf8"]
    params = json.loads(raw_text)
    canonical = twin.canonical_params_json(params)
    assert canonical == exp["canonical_params_json"]
    assert twin.sha256_hex(canonical) == exp["payload_hash"]
    assert twin.outbound_payload_hash(twin.VARIANT_PY_31, params) == exp["payload_hash"]
    assert exp["hxtpy_111_canonical_params_json_identical"] is True  # one rule serves 1.1.1 and 1.2.0
    assert twin.outbound_payload_hash(twin.VARIANT_PY_ED25519, params) == exp["payload_hash"]
    assert twin.canonical_json(params) == exp["canonical_json_with_protocol_injection"]
    assert twin.sha256_hex(twin.canonical_json(params)) == exp["canonical_json_sha256"]
    assert twin.js_canonical_json(params) == exp["js_canonicalJson"]
    assert twin.outbound_payload_hash(twin.VARIANT_JS_30, params) == exp["js_canonicalJson_sha256"]
    assert twin.legacy_params_json(params) == exp["hxtp_py_<=1.1.0_(HxTP/3.0)_payload_hash_input"]
    assert (
        twin.outbound_payload_hash(twin.VARIANT_PY_30, params)
        == exp["hxtp_py_<=1.1.0_(HxTP/3.0)_payload_hash"]
    )
    # What v1.0.6-v1.0.7 firmware hashes for any object params (§4.3), hence "" in outbound commands.
    assert isinstance(params, dict) and exp["firmware_arduinojson_canonical_params"] == "{}"
    assert twin.EMPTY_PARAMS_SHA256 == exp["firmware_payload_hash_expected"]
    assert twin.outbound_payload_hash(twin.VARIANT_FIRMWARE_31, params) == ""
    # Inbound: the raw text is found in an envelope byte for byte and its hash is the raw rule.
    envelope = b'{"message_type":"state","params":' + raw_text.encode() + b',"x":1}'
    assert twin.extract_raw_params(envelope) == raw_text.encode()
    assert twin.sha256_hex(raw_text.encode()) == exp["sha256_of_compact_raw_input"]
    assert twin.check_payload_hash(exp["sha256_of_compact_raw_input"], raw_text.encode()) == "raw"


# ── hxtp31_hmac_command/* ────────────────────────────────────────────────────────────────


def check_hxtp31_hmac_command(twin: ModuleType, vector: dict[str, Any], exp: Expected) -> None:
    inputs = vector["inputs"]
    envelope = inputs["envelope_unsigned"]
    key = twin.HmacKey.from_hex(inputs["secret_hex"])
    python_side = twin.signing_string(twin.VARIANT_PY_31, envelope)
    signing = twin.signing_string(twin.VARIANT_FIRMWARE_31, envelope)  # what the device checks
    assert python_side == exp["canonical_string"]
    if "canonical_string_firmware_v1.0.7" in vector["expected"]:
        assert signing == exp["canonical_string_firmware_v1.0.7"]
        assert exp["firmware_matches_python"] is (signing == python_side)
    signature = key.sign(signing)
    assert signature == exp["hmac_sha256_hex"] == twin.hmac_key(inputs["secret_hex"]).sign(signing)
    message = signed(envelope, signature)
    hxtpy = HxtpyValidator(twin, ed25519=False).validate(message, now_ms=inputs["now_ms"], active=SECRET)
    assert verdict_fields(hxtpy, exp["hxtpy_111_validate"]) == exp["hxtpy_111_validate"]

    if "previous_secret_hex" in inputs:
        previous = twin.HmacKey.from_hex(inputs["previous_secret_hex"]).sign(signing)
        assert previous == exp["hmac_with_previous_secret"]
        rotated = HxtpyValidator(twin, ed25519=False).validate(
            signed(envelope, previous), now_ms=inputs["now_ms"], active=SECRET, previous=PREVIOUS_SECRET
        )
        assert (
            verdict_fields(rotated, exp["hxtpy_111_validate_prev_secret"])
            == exp["hxtpy_111_validate_prev_secret"]
        )
        assert twin.verify_hmac(signing, previous, [key, twin.HmacKey.from_hex(PREVIOUS_SECRET)]) == 1

    frame = twin.encode_frame(twin.frame_type_for("command"), wire_json(message))
    assert frame.hex() == exp["mqtt_payload_hex"]
    device = FirmwareDevice(twin, inputs["secret_hex"])
    result, ack = device.process(frame, inputs["now_ms"])
    assert result == exp["firmware_v1.0.7_process_inbound"]
    if "firmware_ack_json" in vector["expected"]:
        check_device_ack(twin, exp["firmware_ack_json"], ack)
        variant = exp["variant_payload_hash_sha256_of_{}"]
        empty_hash = {**envelope, "payload_hash": twin.EMPTY_PARAMS_SHA256}
        assert variant["payload_hash"] == twin.EMPTY_PARAMS_SHA256
        variant_signature = key.sign(twin.signing_string_v31(empty_hash))
        assert variant_signature == variant["signature"]
        variant_frame = twin.encode_frame(2, wire_json(signed(empty_hash, variant_signature)))
        fresh = FirmwareDevice(twin, inputs["secret_hex"])
        assert fresh.process(variant_frame, inputs["now_ms"])[0] == variant["firmware_v1.0.7_process_inbound"]


def check_device_ack(twin: ModuleType, ack_json: str, ack_params: dict[str, str] | None) -> None:
    """The ACK the firmware sent back verifies on the server's inbound path and says what we expect."""
    body = ack_json.encode()
    envelope = json.loads(body)
    raw = twin.extract_raw_params(body)
    assert json.loads(raw) == envelope["params"] == ack_params
    assert twin.check_payload_hash(envelope["payload_hash"], raw) == "raw"
    signing = twin.signing_string(twin.VARIANT_FIRMWARE_31, envelope)
    assert twin.verify_hmac(signing, envelope["signature"], [twin.HmacKey.from_hex(SECRET)]) == 0


# ── hxtp31_canonical_escaping, hxtp31_canonical_nfc ──────────────────────────────────────


def check_hxtp31_canonical_escaping(twin: ModuleType, vector: dict[str, Any], exp: Expected) -> None:
    envelope = vector["inputs"]["envelope_unsigned"]
    key = twin.HmacKey.from_hex(vector["inputs"]["secret_hex"])
    assert twin.signing_string_v31(envelope, nfc=True) == exp["hxtpy_111_canonical"]
    assert key.sign(twin.signing_string(twin.VARIANT_PY_31, envelope)) == exp["hxtpy_111_hmac"]
    assert twin.signing_string_v31(envelope) == exp["firmware_v1.0.7_canonical"]
    unescaped = twin.signing_string_v31(envelope, escape=False)
    assert unescaped == exp["firmware_b20fe44_canonical_unescaped"]
    assert key.sign(unescaped) == exp["firmware_b20fe44_hmac"]


def check_hxtp31_canonical_nfc(twin: ModuleType, vector: dict[str, Any], exp: Expected) -> None:
    envelope = vector["inputs"]["envelope_unsigned"]
    python_side = twin.signing_string_v31(envelope, nfc=True)
    assert python_side == exp["hxtpy_111_canonical"]
    assert python_side.encode().hex() == exp["hxtpy_111_canonical_utf8_hex"]
    assert twin.signing_string_v31(envelope).encode().hex() == exp["firmware_v1.0.7_canonical_utf8_hex"]


# ── hxtp31_ed25519_command/*, build_envelope/pinned_randomness ───────────────────────────


def check_hxtp31_ed25519_command(twin: ModuleType, vector: dict[str, Any], exp: Expected) -> None:
    inputs = vector["inputs"]
    seed = inputs["ed25519_private_seed_hex"]
    envelope = inputs["envelope_unsigned"]
    assert envelope["payload_hash"] == twin.outbound_payload_hash(twin.VARIANT_PY_ED25519, envelope["params"])
    signing = twin.signing_string(twin.VARIANT_PY_ED25519, envelope)
    assert signing == exp["canonical_string_11_field"]
    public = ed25519_public_hex(seed)
    assert public == exp["ed25519_public_key_hex"]
    assert ed25519_sign(seed, signing) == exp["ed25519_signature_hex"]
    message = signed(envelope, exp["ed25519_signature_hex"])
    verdict = HxtpyValidator(twin, ed25519=True).validate(message, now_ms=inputs["now_ms"], active=public)
    assert verdict_fields(verdict, exp["validate"]) == exp["validate"]
    other = ed25519_public_hex(PREVIOUS_SECRET)
    rotated = HxtpyValidator(twin, ed25519=True).validate(
        message, now_ms=inputs["now_ms"], active=other, previous=public
    )
    assert verdict_fields(rotated, exp["validate_with_previous_key"]) == exp["validate_with_previous_key"]
    # Inbound from the wire: the sorted-keys JSON the SDK sends parses back to the same signing string.
    wire = exp["json_wire_sort_keys_compact"].encode()
    assert json.dumps(message, sort_keys=True, separators=(",", ":")).encode() == wire
    received = json.loads(wire)
    assert json.loads(twin.extract_raw_params(wire)) == envelope["params"]
    assert ed25519_verify(public, received["signature"], twin.signing_string_v31_ed25519(received))


def check_build_envelope(twin: ModuleType, vector: dict[str, Any], exp: Expected) -> None:
    inputs = vector["inputs"]
    header = {
        "version": "HxTP/3.1",
        "message_type": inputs["message_type"],
        "device_id": inputs["device_id"],
        "tenant_id": inputs["tenant_id"],
        "client_id": inputs["client_id"],
        "message_id": inputs["pinned_message_id"],
        "request_id": inputs["pinned_message_id"],
        "sequence_number": inputs["sequence"],
        "timestamp": inputs["pinned_time_ms"],
        "nonce": inputs["pinned_nonce"],
    }
    secret = inputs["secret_or_seed_hex"]
    for variant, key in (
        (twin.VARIANT_PY_ED25519, "hxtp_py_1.2.0_envelope"),
        (twin.VARIANT_PY_31, "hxtpy_1.1.1_envelope"),
    ):
        envelope = {
            **header,
            "payload_hash": twin.outbound_payload_hash(variant, inputs["params"]),
            "action": inputs["action"],
            "params": inputs["params"],
        }
        signing = twin.signing_string(variant, envelope)
        if variant == twin.VARIANT_PY_ED25519:
            signature = ed25519_sign(secret, signing)
        else:
            signature = twin.HmacKey.from_hex(secret).sign(signing)
        assert signed(envelope, signature) == exp[key]
    wire = json.dumps(exp["hxtp_py_1.2.0_envelope"], sort_keys=True, separators=(",", ":"))
    assert wire == exp["hxtp_py_wire_json (json.dumps sort_keys, compact, ensure_ascii=True)"]
    assert twin.extract_raw_params(wire.encode()) == b'{"state":1}'


# ── hxtp30_canonical_variants ────────────────────────────────────────────────────────────


def check_hxtp30_canonical_variants(twin: ModuleType, vector: dict[str, Any], exp: Expected) -> None:
    inputs = vector["inputs"]
    envelope = inputs["envelope_unsigned"]
    key = twin.HmacKey.from_hex(inputs["secret_hex"])
    python_side = twin.signing_string(twin.VARIANT_PY_30, envelope)
    assert (
        python_side
        == exp["hxtpy_111_canonical_json (params included, numbers as strings, protocol injected)"]
    )
    assert key.sign(python_side) == exp["hxtpy_111_hmac"]
    js_side = twin.signing_string(twin.VARIANT_JS_30, envelope)
    assert js_side == exp["hxtp_js_canonical (params excluded)"]
    assert key.sign(js_side) == exp["hxtp_js_hmac"]
    params_text = inputs["firmware_params_text_in_envelope"]
    firmware_side = twin.signing_string(twin.VARIANT_FIRMWARE_30, envelope, params_text)
    assert firmware_side == exp["firmware_v1.0.6_canonical (fixed template, raw params text)"]
    assert key.sign(firmware_side) == exp["firmware_v1.0.6_hmac"]

    as_sent = {**envelope, "params": json.loads(params_text)}
    canonical_hash = signed(as_sent, key.sign(firmware_side))
    device = FirmwareDevice(twin, inputs["secret_hex"], version="HxTP/3.0")
    result = device.process(twin.encode_frame(2, wire_json(canonical_hash)), NOW_MS)[0]
    assert result == exp["firmware_v1.0.6_process_inbound (payload_hash=sha256(canonical params))"]

    accepted = bytes.fromhex(exp["mqtt_payload_hex_accepted_variant"])
    frame_type, body = twin.decode_frame(accepted)
    received = json.loads(body)
    raw = twin.extract_raw_params(body)
    assert (frame_type, raw) == (2, params_text.encode())
    assert received["payload_hash"] == twin.EMPTY_PARAMS_SHA256
    ours = {**as_sent, "payload_hash": twin.EMPTY_PARAMS_SHA256}
    ours_signature = key.sign(twin.signing_string_v30_firmware(ours, params_text))
    assert twin.encode_frame(2, wire_json(signed(ours, ours_signature))) == accepted
    device = FirmwareDevice(twin, inputs["secret_hex"], version="HxTP/3.0")
    assert (
        device.process(accepted, NOW_MS)[0]
        == exp["firmware_v1.0.6_process_inbound (payload_hash=sha256('{}'))"]
    )


# ── device_outbound/{v1.0.7,v1.0.6}/* ────────────────────────────────────────────────────

_FIRMWARE_CHANNELS = {"hello": "hello", "state": "state", "telemetry": "telemetry", "ack": "cmd_ack"}


def check_device_outbound(twin: ModuleType, vector: dict[str, Any], exp: Expected) -> None:
    inputs = vector["inputs"]
    body = exp["json"].encode()
    envelope = json.loads(body)
    topic = twin.device_topic(
        inputs["tenant_id"], inputs["device_id"], _FIRMWARE_CHANNELS[envelope["message_type"]]
    )
    assert topic == exp["mqtt_topic"]
    assert twin.parse_topic(topic) == (envelope["tenant_id"], envelope["device_id"], topic.rsplit("/", 1)[1])
    frame = twin.encode_frame(twin.frame_type_for(envelope["message_type"]), body)
    assert frame[:8].hex() == exp["frame_header_hex"]
    assert twin.decode_frame(frame + b"\x00trailing") == (frame[3], body)

    raw = twin.extract_raw_params(body)
    assert raw.decode() == exp["raw_params_text"]
    raw_matches = twin.check_payload_hash(envelope["payload_hash"], raw) == "raw"
    assert raw_matches is exp["payload_hash_equals_sha256(raw_params_text)"]
    canonical = twin.sha256_hex(twin.canonical_params_json(envelope["params"])) == envelope["payload_hash"]
    assert canonical is exp["payload_hash_equals_sha256(canonical_params_json)"]

    if envelope["version"] == "HxTP/3.1":
        signing = twin.signing_string(twin.VARIANT_FIRMWARE_31, envelope)
    else:
        signing = twin.signing_string(twin.VARIANT_FIRMWARE_30, envelope, raw)
    assert signing == exp["server_side_canonical"]
    key = twin.HmacKey.from_hex(inputs["device_secret_hex"])
    assert (twin.verify_hmac(signing, envelope["signature"], [key]) == 0) is exp["hmac_recomputed_matches"]

    hxtpy = HxtpyValidator(twin, ed25519=False).validate(envelope, now_ms=NOW_MS, active=SECRET)
    assert verdict_fields(hxtpy, exp["hxtpy_111_validate_message"]) == exp["hxtpy_111_validate_message"]
    public = ed25519_public_hex(SECRET)
    hxtp_py = HxtpyValidator(twin, ed25519=True).validate(envelope, now_ms=NOW_MS, active=public)
    assert (
        verdict_fields(hxtp_py, exp["hxtp_py_1.2.0_validate_message"])
        == exp["hxtp_py_1.2.0_validate_message"]
    )


def check_device_heartbeat(twin: ModuleType, vector: dict[str, Any], exp: Expected) -> None:
    """Nothing reaches the wire; what the server must not do is rely on it (no liveness from heartbeats)."""
    assert vector["inputs"]["firmware"] in ("v1.0.7", "v1.0.6")
    assert twin.frame_type_for("heartbeat") == 4  # the type exists, the message never arrives


# ── bootstrap_request/*, topics/*, frame/header ──────────────────────────────────────────


def check_bootstrap_request(twin: ModuleType, vector: dict[str, Any], exp: Expected) -> None:
    inputs = vector["inputs"]
    version = vector["name"].split("/", 1)[1]
    signing = twin.signing_string_bootstrap(
        version,
        inputs["device_id"],
        inputs["tenant_id"],
        inputs["timestamp_ms"],
        inputs["message_id"],
        inputs["nonce_base64"],
    )
    assert signing == exp["canonical_string"]
    headers = exp["headers"]
    assert headers == {
        "X-HXTP-Version": version,
        "X-HXTP-Timestamp": str(inputs["timestamp_ms"]),
        "X-HXTP-Nonce": inputs["nonce_base64"],
        "X-HXTP-Message-ID": inputs["message_id"],
        "X-HXTP-Signature": twin.HmacKey.from_hex(inputs["device_secret_hex"]).sign(signing),
    }
    # The server's side: rebuild from the headers and verify.
    rebuilt = twin.signing_string_bootstrap(
        headers["X-HXTP-Version"],
        inputs["device_id"],
        inputs["tenant_id"],
        headers["X-HXTP-Timestamp"],
        headers["X-HXTP-Message-ID"],
        headers["X-HXTP-Nonce"],
    )
    assert twin.verify_hmac(rebuilt, headers["X-HXTP-Signature"], [twin.hmac_key(SECRET)]) == 0


def check_topics_build(twin: ModuleType, vector: dict[str, Any], exp: Expected) -> None:
    tenant, device = vector["inputs"]["tenant_id"], vector["inputs"]["device_id"]
    assert exp["topics"] == {
        channel: twin.device_topic(tenant, device, channel) for channel in twin.TOPIC_CHANNELS
    }
    assert exp["wildcards"] == {channel: twin.wildcard_topic(channel) for channel in twin.TOPIC_CHANNELS}
    assert exp["full_wildcard"] == twin.FULL_WILDCARD_TOPIC
    credentials = twin.firmware_mqtt_credentials(device, SECRET)
    assert credentials == (
        exp["firmware_mqtt_client_id"],
        exp["firmware_mqtt_username"],
        exp["firmware_mqtt_password"],
    )
    assert exp["firmware_subscriptions_qos1"] == [
        twin.device_topic(tenant, device, c) for c in ("cmd", "ota")
    ]


def check_topics_parse(twin: ModuleType, vector: dict[str, Any], exp: Expected) -> None:
    for topic, parsed in exp["parse_topic"].items():
        expected = None if parsed is None else (parsed["tenant_id"], parsed["device_id"], parsed["channel"])
        assert twin.parse_topic(topic) == expected


def check_channel_map(twin: ModuleType, vector: dict[str, Any], exp: Expected) -> None:
    channels = exp["channel"]
    assert list(channels) == vector["inputs"]["message_types"]
    assert {mt: twin.sdk_publish_channel(mt) for mt in channels} == channels


def check_frame_header(twin: ModuleType, vector: dict[str, Any], exp: Expected) -> None:
    assert vector["inputs"]["framer_version"] == twin.FRAMER_VERSION
    assert vector["inputs"]["types"] == twin.FRAME_TYPES
    headers = {
        name: twin.encode_frame(twin.frame_type_for(name), b"x" * 300)[:8].hex() for name in twin.FRAME_TYPES
    }
    assert headers == exp["header_for_json_len_300"]
    rules = exp["rules"]
    assert str(twin.MAX_PAYLOAD_BYTES) in rules and "trailing bytes ignored" in rules
    assert twin.decode_frame(bytes.fromhex(headers["ack"]) + b"x" * 301) == (3, b"x" * 300)
    for bad_type in (0, 9):
        with pytest.raises(twin.HxtpRejection) as caught:
            twin.decode_frame(bytes((0x48, 0x58, 3, bad_type, 0, 0, 0, 0)))
        assert caught.value.reason == twin.Reason.FRAME_TYPE_INVALID


# ── validator_*/* ────────────────────────────────────────────────────────────────────────


def _validator_envelope(twin: ModuleType, vector: dict[str, Any], ed25519: bool) -> dict[str, Any]:
    envelope = vector["inputs"]["envelope"]
    if isinstance(envelope, dict):
        return copy.deepcopy(envelope)
    # "<good envelope with params.blob = 'x'*16400>": the object_params command with a big blob.
    good = BY_NAME["hxtp31_hmac_command/object_params"]["inputs"]["envelope_unsigned"]
    bigger = {**good, "params": {**good["params"], "blob": "x" * 16400}}
    bigger["payload_hash"] = twin.outbound_payload_hash(twin.VARIANT_PY_31, bigger["params"])
    signing = twin.signing_string_v31_ed25519(bigger) if ed25519 else twin.signing_string_v31(bigger)
    return signed(bigger, ed25519_sign(SECRET, signing) if ed25519 else twin.hmac_key(SECRET).sign(signing))


def _is_ed25519(vector: dict[str, Any]) -> bool:
    return "hxtp_py_1.2.0" in vector["name"]


def _active_key(ed25519: bool) -> str:
    return ed25519_public_hex(SECRET) if ed25519 else SECRET


def check_validator_verdict(twin: ModuleType, vector: dict[str, Any], exp: Expected) -> None:
    ed25519 = _is_ed25519(vector)
    envelope = _validator_envelope(twin, vector, ed25519)
    verdict = HxtpyValidator(twin, ed25519=ed25519).validate(
        envelope, now_ms=vector["inputs"]["now_ms"], active=_active_key(ed25519)
    )
    expected = {key: exp[key] for key in vector["expected"]}
    assert verdict_fields(verdict, expected) == expected


def check_validator_stateful(twin: ModuleType, vector: dict[str, Any], exp: Expected) -> None:
    ed25519 = _is_ed25519(vector)
    validator = HxtpyValidator(twin, ed25519=ed25519, stateful=True)
    base = BY_NAME["hxtp31_hmac_command/object_params"]["inputs"]["envelope_unsigned"]
    results = []
    for sequence, nonce in vector["inputs"]["stream"]:
        envelope = {**base, "sequence_number": sequence, "nonce": nonce}
        if ed25519:
            signature = ed25519_sign(SECRET, twin.signing_string_v31_ed25519(envelope))
        else:
            signature = twin.hmac_key(SECRET).sign(twin.signing_string_v31(envelope, nfc=True))
        verdict = validator.validate(
            signed(envelope, signature), now_ms=vector["inputs"]["now_ms"], active=_active_key(ed25519)
        )
        results.append({"sequence_number": sequence, "nonce": nonce, "ok": verdict.ok, "code": verdict.code})
    assert results == exp["results"]


def check_validator_exception(twin: ModuleType, vector: dict[str, Any], exp: Expected) -> None:
    """hxtp-py crashes with KeyError; ext answers the same input with a rejection naming the field."""
    assert exp["raises"] == "KeyError: 'client_id'"
    envelope = vector["inputs"]["envelope"]
    build = twin.signing_string_v31_ed25519 if _is_ed25519(vector) else twin.signing_string_v31
    with pytest.raises(twin.HxtpRejection) as caught:
        build(envelope)
    assert (caught.value.reason, caught.value.detail) == (twin.Reason.FIELD_MISSING, "client_id is missing")


# ── firmware_v1.0.7/process_inbound_stream ───────────────────────────────────────────────


def check_firmware_stream(twin: ModuleType, vector: dict[str, Any], exp: Expected) -> None:
    inputs = vector["inputs"]
    actions = tuple(capability["action"] for capability in inputs["registered_capabilities"])
    device = FirmwareDevice(twin, inputs["secret_hex"], actions=actions)
    results = []
    for message in inputs["messages"]:
        frame = twin.encode_frame(2, wire_json(message["envelope"]))
        result, ack = device.process(frame, inputs["now_ms"])
        results.append({"label": message["label"], "result": result, "ack_params": ack})
    assert results == exp["results"]


CHECKERS: dict[str, Checker] = {
    "params_canonicalization/": check_params_canonicalization,
    "hxtp31_hmac_command/": check_hxtp31_hmac_command,
    "hxtp31_canonical_escaping": check_hxtp31_canonical_escaping,
    "hxtp31_canonical_nfc": check_hxtp31_canonical_nfc,
    "hxtp31_ed25519_command/": check_hxtp31_ed25519_command,
    "build_envelope/": check_build_envelope,
    "hxtp30_canonical_variants": check_hxtp30_canonical_variants,
    "device_outbound/": check_device_outbound,
    "bootstrap_request/": check_bootstrap_request,
    "topics/build": check_topics_build,
    "topics/parse": check_topics_parse,
    "topics/python_mqtt_transport_channel_map": check_channel_map,
    "frame/header": check_frame_header,
    "validator_reject/": check_validator_verdict,
    "validator_accepts/": check_validator_verdict,
    "validator_stateful/": check_validator_stateful,
    "validator_exception/": check_validator_exception,
    "firmware_v1.0.7/process_inbound_stream": check_firmware_stream,
}


def checker_for(name: str) -> tuple[Checker, dict[str, str]]:
    if name.startswith("device_outbound/") and name.endswith("/heartbeat"):
        return check_device_heartbeat, NOT_EXT["device_outbound_heartbeat"]
    prefix = max((p for p in CHECKERS if name.startswith(p)), key=len)
    return CHECKERS[prefix], NOT_EXT.get(prefix.rstrip("/"), {})


def test_the_vector_file_is_the_one_the_spec_describes() -> None:
    assert len(BY_NAME) == len(VECTORS["vectors"]) == 61


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_vector(twin: ModuleType, name: str) -> None:
    vector = BY_NAME[name]
    checker, not_ext = checker_for(name)
    expected = Expected(vector["expected"])
    checker(twin, vector, expected)
    unchecked = set(vector["expected"]) - expected.read - set(not_ext)
    assert not unchecked, f"expected values neither checked nor excused: {sorted(unchecked)}"
