"""What the hot path promises, stated once and run on both twins."""

from __future__ import annotations

import pickle
from types import ModuleType
from typing import Any

import pytest

from ext._errors import ALL_REASONS, HxtpRejection, ParamsInvalid, Reason, SchemaInvalid

SECRET = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
NOW_MS = 1767225601500
LIGHT = {
    "properties": {
        "brightness": {"type": "integer", "minimum": 0, "maximum": 100, "description": "percent"},
        "level": {"type": "number"},
        "on": {"type": "boolean"},
        "mode": {"type": "string", "enum": ["eco", "comfort"]},
        "name": {"type": "string", "minLength": 2, "maxLength": 4},
        "cfg": {
            "type": "object",
            "properties": {"level": {"type": "integer", "maximum": 5}},
            "required": ["level"],
            "additionalProperties": False,
        },
    },
    "required": ["brightness"],
}


def rejection(call: Any) -> HxtpRejection:
    with pytest.raises(HxtpRejection) as caught:
        call()
    return caught.value


# ── manifest params ──────────────────────────────────────────────────────────────────────


def test_params_from_the_cli_arrive_as_strings_and_are_converted(twin: ModuleType) -> None:
    validate = twin.compile_params_schema(LIGHT)
    params = {"brightness": "80", "level": "-2.5e1", "on": "false", "mode": "eco", "extra": "kept"}
    assert validate(params) == {"brightness": 80, "level": -25.0, "on": False, "mode": "eco", "extra": "kept"}
    assert params["brightness"] == "80"  # the input is not mutated
    assert validate({"brightness": 80.0, "level": "7"}) == {"brightness": 80, "level": 7}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"brightness": "101"}, "brightness: maximum 100"),
        ({"brightness": -1}, "brightness: minimum 0"),
        ({"brightness": "eighty"}, "brightness: type integer"),
        ({"brightness": True}, "brightness: type integer"),
        ({"brightness": "080"}, "brightness: type integer"),
        ({"brightness": 1, "level": "1e999"}, "level: type number"),
        ({"brightness": 1, "on": "True"}, "on: type boolean"),
        ({"brightness": 1, "mode": "turbo"}, 'mode: enum ["eco", "comfort"]'),
        ({"brightness": 1, "name": "x"}, "name: minLength 2"),
        ({"brightness": 1, "name": "xxxxx"}, "name: maxLength 4"),
        ({"brightness": 1, "cfg": {"level": "6"}}, "cfg.level: maximum 5"),
        ({"brightness": 1, "cfg": {}}, "cfg.level: required"),
        ({"brightness": 1, "cfg": {"level": 1, "x": 0}}, "cfg.x: additionalProperties false"),
        ({}, "brightness: required"),
        ([1], "params: type object"),
    ],
)
def test_params_that_break_the_schema_name_the_parameter_and_the_rule(
    twin: ModuleType, params: Any, message: str
) -> None:
    with pytest.raises(ParamsInvalid) as caught:
        twin.compile_params_schema(LIGHT)(params)
    assert str(caught.value) == message
    assert caught.value.reason == Reason.PARAMS_INVALID
    assert f"{caught.value.param}: {caught.value.rule}" == message


@pytest.mark.parametrize("schema", [None, {}, {"description": "anything"}])
def test_an_empty_schema_accepts_any_object(twin: ModuleType, schema: Any) -> None:
    validate = twin.compile_params_schema(schema)
    assert validate({"x": "1", "y": [1]}) == {"x": "1", "y": [1]}
    assert validate(None) == {}
    assert str(rejection(lambda: validate("x"))) == "params: type object"


@pytest.mark.parametrize(
    ("schema", "keyword", "text"),
    [
        (
            {"properties": {"name": {"type": "string", "pattern": "^x"}}},
            "pattern",
            "unsupported keyword 'pattern' at schema.properties.name",
        ),
        ({"type": "null"}, "type", "unsupported value 'null' for keyword 'type' at schema"),
        (
            {"type": "string"},
            "type",
            "params are an object, so the root cannot declare 'string' for 'type' at schema",
        ),
        (
            {"properties": {"a": {"minimum": "1"}}},
            "minimum",
            "expected a finite number for 'minimum' at schema.properties.a",
        ),
        ({"properties": {"a": "integer"}}, "a", "expected a schema object for 'a' at schema.properties.a"),
        ({"required": "a"}, "required", "expected a list of names for 'required' at schema"),
    ],
)
def test_schemas_outside_the_subset_fail_to_compile_naming_the_keyword(
    twin: ModuleType, schema: Any, keyword: str, text: str
) -> None:
    with pytest.raises(SchemaInvalid) as caught:
        twin.compile_params_schema(schema)
    assert (caught.value.keyword, str(caught.value)) == (keyword, text)
    assert not isinstance(caught.value, HxtpRejection)  # a configuration error, not bad input


# ── frames ───────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"HX\x03\x02\x00\x00", Reason.FRAME_TOO_SHORT),
        (b"XH\x03\x02\x00\x00\x00\x00", Reason.FRAME_MAGIC_INVALID),
        (b"HX\x02\x02\x00\x00\x00\x00", Reason.FRAME_VERSION_INVALID),
        (b"HX\x03\x09\x00\x00\x00\x00", Reason.FRAME_TYPE_INVALID),
        (b"HX\x03\x02\x00\x00\x40\x01" + b"x" * 16385, Reason.FRAME_LENGTH_INVALID),
        (b"HX\x03\x02\x00\x00\x00\x05{}", Reason.FRAME_TOO_SHORT),
    ],
)
def test_bad_frames_are_rejected_with_the_firmware_reason(twin: ModuleType, data: bytes, reason: str) -> None:
    assert rejection(lambda: twin.decode_frame(data)).reason == reason


def test_frames_round_trip_up_to_the_limit(twin: ModuleType) -> None:
    for body in (b"", b"{}", b"x" * twin.MAX_PAYLOAD_BYTES):
        assert twin.decode_frame(twin.encode_frame(2, body) + b"pad") == (2, body)
    assert rejection(lambda: twin.encode_frame(2, b"x" * 16385)).reason == Reason.FRAME_LENGTH_INVALID
    assert rejection(lambda: twin.encode_frame(0, b"{}")).reason == Reason.FRAME_TYPE_INVALID
    assert rejection(lambda: twin.frame_type_for("hello_ack")).reason == Reason.FRAME_TYPE_INVALID


# ── HMAC ─────────────────────────────────────────────────────────────────────────────────


def test_hmac_keys_sign_verify_and_rotate(twin: ModuleType) -> None:
    active, previous = twin.HmacKey.from_hex(SECRET), twin.HmacKey.from_hex("ff" * 32)
    signature = previous.sign("message")
    assert len(signature) == 64 and signature == signature.lower()
    assert previous.verify(b"message", signature) and not active.verify("message", signature)
    assert not previous.verify("message", signature.upper())  # case-sensitive, as hxtp-py 1.1.x
    assert twin.verify_hmac("message", signature, [active, previous]) == 1
    assert twin.hmac_key(SECRET) is twin.hmac_key(SECRET)
    assert SECRET not in repr(active)


@pytest.mark.parametrize(
    ("signature", "keys", "reason"),
    [
        ("", 1, Reason.SIGNATURE_MISSING),
        (None, 1, Reason.SIGNATURE_MISSING),
        ("0" * 64, 1, Reason.SIGNATURE_INVALID),
        (42, 1, Reason.FIELD_INVALID),
        ("0" * 64, 0, Reason.SECRET_INVALID),
    ],
)
def test_signature_rejections(twin: ModuleType, signature: Any, keys: int, reason: str) -> None:
    ring = [twin.HmacKey.from_hex(SECRET)] * keys
    assert rejection(lambda: twin.verify_hmac("message", signature, ring)).reason == reason


@pytest.mark.parametrize("secret", ["00" * 31, "zz" * 32, "00" * 32 + "0", 32 * b"\x00", None])
def test_device_secrets_must_be_64_hex_characters(twin: ModuleType, secret: Any) -> None:
    assert rejection(lambda: twin.HmacKey.from_hex(secret)).reason == Reason.SECRET_INVALID


def test_text_that_utf8_cannot_encode_is_rejected(twin: ModuleType) -> None:
    assert rejection(lambda: twin.sha256_hex("\ud800")).reason == Reason.ENCODING_INVALID


# ── replay guards ────────────────────────────────────────────────────────────────────────


def test_nonce_replays_are_caught_within_the_ttl_per_scope(twin: ModuleType) -> None:
    cache = twin.NonceCache(max_entries=2, ttl_seconds=60)
    cache.remember("dev-a", "n1", now=0.0)
    cache.remember("dev-b", "n1", now=1.0)  # another device may use the same nonce
    assert rejection(lambda: cache.remember("dev-a", "n1", now=59.9)).reason == Reason.NONCE_REUSED
    cache.remember("dev-a", "n1", now=60.0)  # expired, so fresh again
    cache.remember("dev-a", "n2", now=61.0)
    assert len(cache) == 2
    cache.remember("dev-a", "n3", now=62.0)  # full: the oldest entry goes
    cache.remember("dev-a", "n1", now=62.5)
    assert rejection(lambda: cache.remember("dev-a", "", now=63.0)).reason == Reason.NONCE_MISSING
    assert rejection(lambda: cache.remember("dev-a", 7, now=63.0)).reason == Reason.FIELD_INVALID


def test_sequences_strictly_increase_per_device_and_client(twin: ModuleType) -> None:
    window = twin.SequenceWindow(max_keys=2)
    window.accept("dev", "boot-1", 5)  # the first value sets the start
    window.accept("dev", "boot-1", 9)  # gaps are allowed
    for stale in (9, 8, "9"):
        assert (
            rejection(lambda stale=stale: window.accept("dev", "boot-1", stale)).reason
            == Reason.SEQUENCE_VIOLATION
        )
    window.accept("dev", "boot-2", 1)  # a reboot brings a new client id
    window.check("dev", "boot-1", 10)  # check alone does not advance
    assert window.last("dev", "boot-1") == 9
    window.record("dev", "boot-1", "10")  # quoted, as v1.0.4-v1.0.6 devices send it
    assert window.last("dev", "boot-1") == 10
    window.accept("other", "c", 1)
    assert window.last("dev", "boot-2") is None and len(window) == 2  # least recently advanced went
    assert rejection(lambda: window.accept("dev", "c", -1)).reason == Reason.FIELD_INVALID


@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [
        (NOW_MS - 30_500, None),
        (NOW_MS - 31_500, Reason.TIMESTAMP_EXPIRED),
        (NOW_MS + 4_500, None),
        (NOW_MS + 6_500, Reason.TIMESTAMP_FUTURE),
        (NOW_MS // 1000, None),
        (str(NOW_MS), None),
        ("soon", Reason.FIELD_INVALID),
        (True, Reason.FIELD_INVALID),
    ],
)
def test_timestamp_window_in_whole_seconds(twin: ModuleType, timestamp: Any, reason: str | None) -> None:
    if reason is None:
        twin.check_timestamp(timestamp, NOW_MS)
    else:
        assert rejection(lambda: twin.check_timestamp(timestamp, NOW_MS)).reason == reason


def test_version_and_size_checks(twin: ModuleType) -> None:
    assert twin.check_version("HxTP/3.1", ("HxTP/3.1",)) == "HxTP/3.1"
    assert str(rejection(lambda: twin.check_version("HxTP/3.0", ("HxTP/3.1",)))) == (
        "VERSION_MISMATCH: Unsupported version: HxTP/3.0"
    )
    twin.check_payload_size(twin.MAX_PAYLOAD_BYTES)
    assert rejection(lambda: twin.check_payload_size(16385)).reason == Reason.PAYLOAD_TOO_LARGE


# ── raw params and payload_hash ──────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("envelope", "raw"),
    [
        (b'{"params":{"t":22.40, "b":1}}', b'{"t":22.40, "b":1}'),
        (b' {"x":{"params":1},"s":"\\"params\\":3", "params" : [1 , 2] } ', b"[1 , 2]"),
        (b'{"par\\u0061ms":"v"}', b'"v"'),
        (b'{"nonce":"n"}', None),
        (b"{}", None),
    ],
)
def test_raw_params_are_the_bytes_as_written(twin: ModuleType, envelope: bytes, raw: bytes | None) -> None:
    assert twin.extract_raw_params(envelope) == raw


@pytest.mark.parametrize(
    "envelope",
    [
        b'{"params":{},"params":{}}',
        b'{"params":NaN}',
        b'{"params":1,}',
        b"[1]",
        b'{"params":"\xff"}',
        b'{"params":' + b"[" * 40 + b"]" * 40 + b"}",
        b'{"params":01}',
        b'{"params":"\x01"}',
        b"",
    ],
)
def test_envelopes_that_are_not_strict_json_are_rejected(twin: ModuleType, envelope: bytes) -> None:
    assert rejection(lambda: twin.extract_raw_params(envelope)).reason == Reason.JSON_INVALID


def test_payload_hash_rules(twin: ModuleType) -> None:
    raw = b'{"temperature":22.40}'
    assert twin.check_payload_hash("", raw) == "empty"
    assert twin.check_payload_hash(None, raw) == "empty"
    assert twin.check_payload_hash(twin.sha256_hex(raw), raw) == "raw"
    canonical = twin.sha256_hex(twin.canonical_params_json({"temperature": 22.4}))
    assert twin.check_payload_hash(canonical, raw, parsed_params={"temperature": 22.4}) == "canonical"
    assert rejection(lambda: twin.check_payload_hash(canonical, raw)).reason == Reason.HASH_MISMATCH
    assert twin.check_payload_hash(twin.EMPTY_PARAMS_SHA256, None) == "raw"  # absent params count as {}
    for variant in (twin.VARIANT_FIRMWARE_31, twin.VARIANT_FIRMWARE_30):
        assert twin.outbound_payload_hash(variant, {"state": 1}) == ""
    with pytest.raises(ValueError, match="unknown signing variant"):
        twin.outbound_payload_hash("hxtp-9", {})


# ── signing strings and topics ───────────────────────────────────────────────────────────


def test_signing_string_rejections_name_the_field(twin: ModuleType) -> None:
    envelope = {
        name: "x"
        for name in (
            "version",
            "device_id",
            "client_id",
            "message_id",
            "request_id",
            "nonce",
            "message_type",
            "payload_hash",
            "tenant_id",
        )
    }
    envelope.update(sequence_number=1, timestamp=2)
    assert twin.signing_string_v31(envelope) == "x|x|x|x|x|1|2|x|x|x"
    cases = [
        ({**envelope, "sequence_number": 1.0}, Reason.FIELD_INVALID, "sequence_number must be an integer"),
        ({**envelope, "nonce": None}, Reason.FIELD_INVALID, "nonce must be a string"),
        (
            {k: v for k, v in envelope.items() if k != "payload_hash"},
            Reason.FIELD_MISSING,
            "payload_hash is missing",
        ),
    ]
    for broken, reason, detail in cases:
        caught = rejection(lambda broken=broken: twin.signing_string_v31(broken))
        assert (caught.reason, caught.detail) == (reason, detail)
    caught = rejection(lambda: twin.signing_string_v30_firmware({**envelope, "device_id": "dé"}, "{}"))
    assert (caught.reason, caught.detail) == (Reason.CANONICAL_BUILD_FAILED, "device_id is not ASCII")
    assert twin.signing_string_v30_firmware(envelope, None, with_action=False).startswith('{"client_id":"x"')
    with pytest.raises(ValueError, match="unknown signing variant"):
        twin.signing_string("hxtp-9", envelope)


def test_topic_ids_cannot_hold_mqtt_separators(twin: ModuleType) -> None:
    assert twin.device_topic("", "d", "state") == "hxtp//device/d/state"  # SoftAP devices have no tenant
    for bad in ("a/b", "a+", "#"):
        assert rejection(lambda bad=bad: twin.device_topic("t", bad, "state")).reason == Reason.TOPIC_INVALID


# ── the exception types themselves ───────────────────────────────────────────────────────


def test_rejections_carry_a_known_reason_and_survive_pickling() -> None:
    assert {"FRAME_TOO_SHORT", "NONCE_REUSED", "SEQUENCE_VIOLATION", "SIGNATURE_INVALID"} <= ALL_REASONS
    for error in (
        HxtpRejection(Reason.NONCE_REUSED, "x"),
        ParamsInvalid("brightness", "maximum 100"),
        SchemaInvalid("pattern", "schema", "unsupported keyword"),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert (type(copy), str(copy)) == (type(error), str(error))
    assert str(HxtpRejection(Reason.NONCE_REUSED)) == "NONCE_REUSED"
