"""Property tests: on generated input the compiled twin does exactly what the reference does.

"Exactly" covers results (compared by type and repr, so 80 and 80.0 differ) and rejections (same
class, reason and text). Any other exception escapes `outcome` and fails the test, which is how
"arbitrary bytes only ever raise the module's own rejection" is checked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from functools import partial
from types import ModuleType
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ext._errors import HxtpRejection, ParamsInvalid, SchemaInvalid
from tests.ext.conftest import EXT_SETTINGS

Twins = tuple[ModuleType, ModuleType]

# ── strategies ───────────────────────────────────────────────────────────────────────────

any_text = st.text(st.characters(exclude_categories=()), max_size=12)  # surrogates included
wire_text = st.text(st.sampled_from('|\\\n\r"/ aZ09é\u0301☕𝄞\x00\ud800') | st.characters(), max_size=12)
integers = st.integers() | st.integers(min_value=-(10**30), max_value=10**30)
json_leaves = st.none() | st.booleans() | integers | st.floats() | any_text
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4),
    max_leaves=16,
)
finite_json = st.recursive(
    st.none() | st.booleans() | integers | st.floats(allow_nan=False, allow_infinity=False) | any_text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(any_text, children, max_size=3),
    max_leaves=12,
)
field_values = wire_text | integers | st.sampled_from(["42", "-7", "007", "4.2", "", None, True, 1.5, [1]])
ENVELOPE_FIELDS = (
    "version",
    "message_type",
    "device_id",
    "tenant_id",
    "client_id",
    "message_id",
    "request_id",
    "sequence_number",
    "timestamp",
    "nonce",
    "payload_hash",
    "action",
    "capability",
    "signature",
)


def outcome(call: Callable[[], Any]) -> tuple[Any, ...]:
    try:
        result = call()
    except SchemaInvalid as invalid:
        return ("schema-invalid", invalid.keyword, invalid.location, str(invalid))
    except ParamsInvalid as invalid:
        return ("params-invalid", invalid.param, invalid.rule, str(invalid))
    except HxtpRejection as rejection:
        return ("rejected", type(rejection).__name__, rejection.reason, str(rejection))
    return ("ok", type(result).__name__, repr(result))


def agree(twins: Twins, call: Callable[[ModuleType], Any]) -> tuple[Any, ...]:
    reference, compiled = twins
    expected = outcome(lambda: call(reference))
    assert outcome(lambda: call(compiled)) == expected
    return expected


# ── frames ───────────────────────────────────────────────────────────────────────────────

framed = st.builds(
    lambda kind, length, body: b"HX\x03" + bytes([kind]) + length.to_bytes(4, "big") + body,
    st.integers(0, 9),
    st.integers(0, 20) | st.sampled_from([16384, 16385, 2**32 - 1]),
    st.binary(max_size=24),
)


@EXT_SETTINGS
@given(data=st.binary(max_size=40) | framed)
def test_decode_frame_agrees_on_any_bytes(twins: Twins, data: bytes) -> None:
    agree(twins, lambda twin: twin.decode_frame(data))


@EXT_SETTINGS
@given(
    frame_type=st.integers(-3, 12) | st.sampled_from([True, None, 2.0, "2", 2**70]),
    body=st.binary(max_size=40) | st.sampled_from([b"x" * 16384, b"x" * 16385]),
)
def test_encode_frame_agrees_and_round_trips(twins: Twins, frame_type: Any, body: bytes) -> None:
    result = agree(twins, lambda twin: twin.encode_frame(frame_type, body))
    if result[0] == "ok":
        for twin in twins:
            assert twin.decode_frame(twin.encode_frame(frame_type, body)) == (frame_type, body)


# ── raw params scanner ───────────────────────────────────────────────────────────────────


@st.composite
def envelopes_as_written(draw: st.DrawFn) -> tuple[bytes, dict[str, Any], bool]:
    """(bytes, document, intact): JSON in varied layouts, sometimes damaged by one byte."""
    document = draw(
        st.dictionaries(st.sampled_from(["params", "nonce", "x", "param"]), finite_json, max_size=4)
    )
    layout = {
        "indent": draw(st.sampled_from([None, 0, 2])),
        "separators": draw(st.sampled_from([(",", ":"), (", ", ": "), (" ,", " : ")])),
    }
    try:
        data = json.dumps(document, ensure_ascii=draw(st.booleans()), **layout).encode()
    except UnicodeEncodeError:  # a lone surrogate can only travel escaped
        data = json.dumps(document, ensure_ascii=True, **layout).encode()
    if draw(st.booleans()):
        return data, document, True
    where = draw(st.integers(0, len(data)))
    if draw(st.booleans()):
        return data[:where] + data[where + 1 :], document, False
    return data[:where] + bytes([draw(st.integers(0, 255))]) + data[where:], document, False


deep_json = st.integers(28, 36).map(lambda depth: b'{"params":' + b"[" * depth + b"]" * depth + b"}")
duplicate_params = st.just(b'{"params":{},"par\\u0061ms":[1]}')


@EXT_SETTINGS
@given(case=envelopes_as_written())
def test_raw_params_agree_and_are_the_bytes_as_written(
    twins: Twins, case: tuple[bytes, dict[str, Any], bool]
) -> None:
    data, document, intact = case
    result = agree(twins, lambda twin: twin.extract_raw_params(data))
    if intact:
        raw = twins[0].extract_raw_params(data)
        assert (raw is None) == ("params" not in document)
        if raw is not None:
            assert json.loads(raw) == document["params"]
            assert raw in data
    else:
        assert result[0] in ("ok", "rejected")


@EXT_SETTINGS
@given(data=st.binary(max_size=60) | deep_json | duplicate_params)
def test_raw_params_agree_on_any_bytes(twins: Twins, data: bytes) -> None:
    agree(twins, lambda twin: twin.extract_raw_params(data))


# ── signing strings, HMAC, SHA-256 ───────────────────────────────────────────────────────

envelopes = st.dictionaries(
    st.sampled_from(ENVELOPE_FIELDS), field_values, max_size=len(ENVELOPE_FIELDS)
) | st.fixed_dictionaries(
    {name: wire_text for name in ENVELOPE_FIELDS}, optional={"params": finite_json}
).map(lambda env: {**env, "sequence_number": 7, "timestamp": 1767225600000})


@EXT_SETTINGS
@given(envelope=envelopes, params_text=st.none() | wire_text | st.binary(max_size=12), flags=st.booleans())
def test_signing_strings_agree(twins: Twins, envelope: dict[str, Any], params_text: Any, flags: bool) -> None:
    builders: list[Callable[[ModuleType], Any]] = [
        lambda twin: twin.signing_string_v31(envelope, escape=flags, nfc=not flags),
        lambda twin: twin.signing_string_v31(envelope),
        lambda twin: twin.signing_string_v31_ed25519(envelope),
        lambda twin: twin.signing_string_v30_firmware(envelope, params_text, with_action=flags),
        lambda twin: twin.signing_string_v30_py(envelope),
        lambda twin: twin.signing_string_v30_js(envelope, include_params=flags),
        lambda twin: twin.signing_string_bootstrap(
            *(
                envelope.get(name)
                for name in ("version", "device_id", "tenant_id", "timestamp", "message_id", "nonce")
            )
        ),
    ]
    builders += [
        lambda twin, v=variant: twin.signing_string(v, envelope, params_text)
        for variant in twins[0].SIGNING_VARIANTS
    ]
    key = b"\x07" * 32
    for build in builders:
        agree(twins, lambda twin, build=build: twin.HmacKey(key).sign(build(twin)))


@EXT_SETTINGS
@given(key=st.binary(max_size=150), message=st.binary(max_size=300) | any_text)
def test_hmac_and_sha256_match_the_stdlib_on_both_c_backends(twins: Twins, key: bytes, message: Any) -> None:
    reference, compiled = twins
    try:
        data = message.encode() if isinstance(message, str) else message
    except UnicodeEncodeError:
        agree(twins, lambda twin: twin.HmacKey(key).sign(message))  # both reject unencodable text
        return
    expected_mac = hmac.new(key, data, hashlib.sha256).hexdigest()
    for portable_only in (True, False):
        compiled._select_sha256_backend(portable_only)
        try:
            assert compiled.HmacKey(key).sign(message) == expected_mac
            assert compiled.sha256_hex(message) == hashlib.sha256(data).hexdigest()
        finally:
            compiled._select_sha256_backend(False)
    assert reference.HmacKey(key).sign(message) == expected_mac


@EXT_SETTINGS
@given(
    message=any_text, tweak=st.sampled_from(["same", "upper", "short", "long", "other", "non-ascii", "bytes"])
)
def test_verify_agrees(twins: Twins, message: str, tweak: str) -> None:
    secret = "ab" * 32
    good = twins[0].HmacKey.from_hex(secret).sign(message.encode("utf-8", "surrogatepass"))
    signature: Any = {
        "same": good,
        "upper": good.upper(),
        "short": good[:63],
        "long": good + "0",
        "other": "0" * 64,
        "non-ascii": good[:63] + "é",
        "bytes": good.encode(),
    }[tweak]
    data = message.encode("utf-8", "surrogatepass")
    agree(twins, lambda twin: twin.HmacKey.from_hex(secret).verify(data, signature))
    agree(
        twins,
        lambda twin: twin.verify_hmac(data, signature, [twin.hmac_key("cd" * 32), twin.hmac_key(secret)]),
    )
    agree(twins, lambda twin: twin.HmacKey.from_hex(secret).verify(message, good))


@EXT_SETTINGS
@given(secret=st.text("0123456789abcdefABCDEFxg ", max_size=66) | st.none())
def test_secret_parsing_agrees(twins: Twins, secret: Any) -> None:
    agree(twins, lambda twin: twin.HmacKey.from_hex(secret).sign("m"))


# ── canonical JSON and payload_hash ──────────────────────────────────────────────────────


@EXT_SETTINGS
@given(
    value=json_values | st.sampled_from([(1, 2), {1: "x"}, {"protocol": ""}, {"protocol": 0}, -0.0, 2**-21])
)
def test_canonical_forms_agree(twins: Twins, value: Any) -> None:
    for name in ("canonical_params_json", "canonical_json", "js_canonical_json", "legacy_params_json"):
        agree(twins, lambda twin, name=name: getattr(twin, name)(value))
    for variant in twins[0].SIGNING_VARIANTS:
        agree(twins, lambda twin, variant=variant: twin.outbound_payload_hash(variant, value))


@EXT_SETTINGS
@given(
    payload_hash=st.none()
    | st.sampled_from(["", "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"])
    | any_text
    | integers,
    raw=st.none() | st.binary(max_size=20),
    params=finite_json,
)
def test_payload_hash_check_agrees(twins: Twins, payload_hash: Any, raw: bytes | None, params: Any) -> None:
    agree(twins, lambda twin: twin.check_payload_hash(payload_hash, raw))
    agree(twins, lambda twin: twin.check_payload_hash(payload_hash, raw, parsed_params=params))
    canonical = agree(twins, lambda twin: twin.sha256_hex(twin.canonical_params_json(params)))
    if canonical[0] == "ok":  # not for text that UTF-8 cannot encode (lone surrogates)
        canonical_hash = twins[0].sha256_hex(twins[0].canonical_params_json(params))
        accepted = agree(
            twins, lambda twin: twin.check_payload_hash(canonical_hash, raw, parsed_params=params)
        )
        assert accepted[0] == "ok"


# ── manifest params ──────────────────────────────────────────────────────────────────────

names = st.sampled_from(["a", "b", "brightness", "mode"])
numbers = integers | st.floats() | st.sampled_from([True, 0, 100, 0.5])
schemas = st.recursive(
    st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["object", "string", "integer", "number", "boolean", "array", "null", 3]),
            "enum": st.lists(
                st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["on", "off", 1.0]),
                max_size=3,
            )
            | st.just("on"),
            "minimum": numbers,
            "maximum": numbers,
            "minLength": st.integers(-1, 4) | st.just(True),
            "maxLength": st.integers(-1, 4),
            "required": st.lists(names, max_size=2) | st.just([1]),
            "description": any_text,
        },
    ),
    lambda inner: (
        st.fixed_dictionaries(
            {},
            optional={
                "type": st.just("object"),
                "properties": st.dictionaries(names, inner, max_size=3) | st.just([]),
                "additionalProperties": st.booleans() | inner,
                "required": st.lists(names, max_size=2),
                "pattern": st.just("^x"),
            },
        )
        | st.just("not a schema")
    ),
    max_leaves=6,
)
param_values = st.recursive(
    st.none()
    | st.booleans()
    | numbers
    | any_text
    | st.sampled_from(["80", "-2.5e3", "080", " 80", "1e999", "true", "false", "True", "on", "9" * 5000]),
    lambda children: st.dictionaries(names, children, max_size=3) | st.lists(children, max_size=2),
    max_leaves=8,
)


@EXT_SETTINGS
@given(
    schema=st.none() | schemas,
    params=st.none() | st.dictionaries(names, param_values, max_size=4) | param_values,
)
def test_params_validation_agrees(twins: Twins, schema: Any, params: Any) -> None:
    compiled = agree(twins, lambda twin: twin.compile_params_schema(schema))
    if compiled[0] == "ok":
        agree(twins, lambda twin: twin.compile_params_schema(schema)(params))


# ── replay guards, fields, topics ────────────────────────────────────────────────────────

sequence_values = st.integers(-2, 12) | st.sampled_from(["5", "x", None, True, 3.0])
sequence_ops = st.lists(
    st.tuples(
        st.sampled_from(["check", "record", "accept", "last"]),
        st.sampled_from("ab"),
        st.sampled_from("xy"),
        sequence_values,
    ),
    max_size=25,
)


@EXT_SETTINGS
@given(max_keys=st.integers(1, 3), ops=sequence_ops)
def test_sequence_window_agrees(twins: Twins, max_keys: int, ops: list[tuple[str, str, str, Any]]) -> None:
    windows = [twin.SequenceWindow(max_keys) for twin in twins]
    for op, device, client, sequence in ops:
        arguments = (device, client) if op == "last" else (device, client, sequence)
        results = [outcome(partial(getattr(window, op), *arguments)) for window in windows]
        assert results[0] == results[1]
    assert len(windows[0]) == len(windows[1]) <= max_keys


nonce_ops = st.lists(
    st.tuples(
        st.sampled_from("ab"),
        st.sampled_from(["n1", "n2", "n3", "", None, 5]),
        st.integers(-5, 40) | st.floats(0, 40),
    ),
    max_size=30,
)


@EXT_SETTINGS
@given(max_entries=st.integers(1, 4), ttl=st.integers(1, 30) | st.floats(0.5, 30), ops=nonce_ops)
def test_nonce_cache_agrees(
    twins: Twins, max_entries: int, ttl: float, ops: list[tuple[str, Any, float]]
) -> None:
    caches = [twin.NonceCache(max_entries, ttl) for twin in twins]
    now = 1000.0
    for scope, nonce, step in ops:
        now += step  # mostly forward, sometimes back: both twins must agree either way
        results = [outcome(partial(cache.remember, scope, nonce, now)) for cache in caches]
        assert results[0] == results[1]
        assert len(caches[0]) == len(caches[1]) <= max_entries


@EXT_SETTINGS
@given(
    value=field_values,
    now_ms=integers,
    max_age=st.integers(-5, 60),
    max_future=st.integers(-5, 60),
    version=field_values,
    size=st.integers(0, 20000),
)
def test_guards_agree(
    twins: Twins, value: Any, now_ms: int, max_age: int, max_future: int, version: Any, size: int
) -> None:
    agree(twins, lambda twin: twin.wire_int(value, "timestamp"))
    agree(twins, lambda twin: twin.check_timestamp(value, now_ms, max_age_s=max_age, max_future_s=max_future))
    agree(twins, lambda twin: twin.check_version(version, ("HxTP/3.1", "HxTP/3.0")))
    agree(twins, lambda twin: twin.check_payload_size(size))


@EXT_SETTINGS
@given(
    parts=st.tuples(wire_text, wire_text, wire_text), topic=st.text("hxtp/devicx+#", max_size=30) | wire_text
)
def test_topics_agree(twins: Twins, parts: tuple[str, str, str], topic: str) -> None:
    agree(twins, lambda twin: twin.device_topic(*parts))
    agree(twins, lambda twin: twin.wildcard_topic(parts[2]))
    agree(twins, lambda twin: twin.parse_topic(topic))
    agree(twins, lambda twin: twin.parse_topic(twin.device_topic(*parts)))
    agree(twins, lambda twin: twin.sdk_publish_channel(parts[0]))
    agree(twins, lambda twin: twin.firmware_mqtt_credentials(parts[0], "0f" * 32))
