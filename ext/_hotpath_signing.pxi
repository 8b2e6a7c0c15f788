# Included by _hotpath.pyx. Twin of the signing, payload_hash and topic sections of
# ext/_reference.py (§2.2, §4, §5).

cdef tuple _PIPE_FIELDS_10 = ("version", "device_id", "client_id", "message_id", "request_id",
                              "sequence_number", "timestamp", "nonce", "message_type", "payload_hash")
cdef tuple _PIPE_FIELDS_11 = ("version", "device_id", "tenant_id", "client_id", "message_id", "request_id",
                              "sequence_number", "timestamp", "nonce", "message_type", "payload_hash")
cdef tuple _FIRMWARE_30_TEMPLATE = (
    "action", "capability", "client_id", "device_id", "message_id", "message_type", "nonce", None,
    "payload_hash", "protocol", "request_id", "sequence_number", "tenant_id", "timestamp", "version",
)
cdef frozenset _FIRMWARE_30_ASCII_ONLY = frozenset(
    {"client_id", "device_id", "message_id", "nonce", "capability", "action", "tenant_id"}
)
cdef dict _SDK_CHANNELS = {"heartbeat": "heartbeat", "state": "state", "telemetry": "telemetry",
                           "ack": "cmd_ack", "error": "cmd_ack", "command": "cmd", "hello": "hello"}


# ── envelope fields ──────────────────────────────────────────────────────────────────────

cdef object _ABSENT = object()


cdef object _required(object envelope, str field):
    # One lookup instead of `in` then `[]`: this runs ten times for every message.
    value = (<dict>envelope).get(field, _ABSENT) if type(envelope) is dict else envelope.get(field, _ABSENT)
    if value is _ABSENT:
        raise HxtpRejection(Reason.FIELD_MISSING, f"{field} is missing")
    return value


cdef str _text(object value, str field):
    if not isinstance(value, str):
        raise HxtpRejection(Reason.FIELD_INVALID, f"{field} must be a string")
    return value


cdef str _pipe_string(object envelope, tuple names, Py_ssize_t first_integer, bint escape, bint nfc):
    # One pass per field: fetch, type-check, normalise, escape. The two integer fields (sequence
    # number, timestamp) sit at first_integer and the next index in both layouts.
    cdef Py_ssize_t index, count = len(names)
    cdef list fields = [None] * count
    cdef str name, text
    for index in range(count):
        name = <str>names[index]
        value = _required(envelope, name)
        if index == first_integer or index == first_integer + 1:
            text = str(wire_int(value, name))
        else:
            text = _text(value, name)
            if nfc:
                text = _normalized(text)
            if escape:
                text = _escape_pipe(text)
        fields[index] = text
    return "|".join(fields)


cdef str _escape_pipe(str text):
    # One pass to see whether anything needs escaping; almost no header field does.
    cdef Py_UCS4 char
    for char in text:
        if char == u"\\" or char == u"|" or char == u"\n" or char == u"\r":
            break
    else:
        return text
    # Backslash first, so the escapes added afterwards are not escaped again (§5.1).
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "\\n").replace("\r", "\\r")


cdef str _normalized(str text):
    return text if text.isascii() else _nfc(text)


# ── signing strings (§5) ─────────────────────────────────────────────────────────────────

def signing_string_v31(envelope, *, bint escape=True, bint nfc=False):
    """HxTP/3.1 10 fields, no tenant (§5.1). Firmware v1.0.7: defaults; hxtp-py 1.1.x: nfc=True;
    firmware b20fe44 and hxtp-py e729113: escape=False."""
    return _pipe_string(envelope, _PIPE_FIELDS_10, 5, escape, nfc)


def signing_string_v31_ed25519(envelope):
    """hxtp-py 1.2.0: 11 fields with tenant_id third, NFC then escaped (§5.2). Ed25519 happens outside ext."""
    return _pipe_string(envelope, _PIPE_FIELDS_11, 6, True, True)


def signing_string_v30_firmware(envelope, params_text, *, bint with_action=True):
    """Firmware v1.0.6 JSON template (§5.3): values inserted unescaped, absent strings as "", the raw
    params text as placed in the envelope. with_action=False gives the v1.0.4/v1.0.5 template."""
    cdef list parts = []
    for field in _FIRMWARE_30_TEMPLATE:
        if field is None:
            parts.append('"params":' + _firmware_params_text(params_text))
        elif (field == "action" or field == "capability") and not with_action:
            continue
        elif field == "protocol":
            parts.append('"protocol":"hxtp/3.0"')
        else:
            parts.append(f'"{field}":"{_firmware_30_value(envelope, field)}"')
    return "{" + ",".join(parts) + "}"


cdef str _firmware_30_value(object envelope, str field):
    if field == "sequence_number" or field == "timestamp":
        return str(wire_int(_required(envelope, field), field))
    cdef str text = _text(envelope.get(field, ""), field)
    if field in _FIRMWARE_30_ASCII_ONLY and not text.isascii():
        raise HxtpRejection(Reason.CANONICAL_BUILD_FAILED, f"{field} is not ASCII")
    return text


cdef str _firmware_params_text(object params_text):
    if params_text is None or len(params_text) == 0:
        return "{}"
    if not params_text.isascii():
        raise HxtpRejection(Reason.CANONICAL_BUILD_FAILED, "params is not ASCII")
    return params_text if isinstance(params_text, str) else params_text.decode("ascii")


def signing_string_v30_py(envelope):
    """hxtp-py 3.0: canonical_json of the envelope without its signature (§5.3)."""
    return canonical_json({key: value for key, value in envelope.items() if key != "signature"})


def signing_string_v30_js(envelope, *, bint include_params=False):
    """hxtp-js: canonicalJson of the header fields; its signer leaves params out, its validator
    (include_params=True) takes every field but the signature (§5.3)."""
    return js_canonical_json(
        {key: value for key, value in envelope.items()
         if key != "signature" and (include_params or key != "params")}
    )


def signing_string_bootstrap(version, device_id, tenant_id, timestamp_ms, message_id, nonce):
    """`{version}|bootstrap|{device_id}|{tenant_id}|{timestamp_ms}|{message_id}|{nonce}`, unescaped (§5.4)."""
    return "|".join((
        _text(version, "version"), "bootstrap", _text(device_id, "device_id"), _text(tenant_id, "tenant_id"),
        str(wire_int(timestamp_ms, "timestamp")), _text(message_id, "message_id"), _text(nonce, "nonce"),
    ))


def signing_string(variant, envelope, params_text=None):
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

cdef object _NOT_GIVEN = object()


def outbound_payload_hash(variant, params):
    """payload_hash for a message the server sends. Firmware gets "" (§4.3: its check turns any object
    into {}; an empty hash skips the check on v1.0.3-v1.0.7); SDK peers get their own rule (§4.1)."""
    if variant == VARIANT_FIRMWARE_31 or variant == VARIANT_FIRMWARE_30:
        return ""
    if variant == VARIANT_PY_31 or variant == VARIANT_PY_ED25519:
        return sha256_hex(canonical_params_json(params))
    if variant == VARIANT_PY_30:
        return sha256_hex(legacy_params_json(params))
    if variant == VARIANT_JS_30:
        return sha256_hex(js_canonical_json({} if params is None else params))
    raise ValueError(f"unknown signing variant {variant!r}")


def check_payload_hash(payload_hash, raw_params, *, parsed_params=_NOT_GIVEN):
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

def device_topic(tenant_id, device_id, channel):
    """`hxtp/{tenant_id}/device/{device_id}/{channel}`; ids may be empty but never hold / + #."""
    _topic_level(tenant_id, "tenant_id")
    _topic_level(device_id, "device_id")
    _topic_level(channel, "channel")
    return f"hxtp/{tenant_id}/device/{device_id}/{channel}"


def wildcard_topic(channel):
    return f"hxtp/+/device/+/{_topic_level(channel, 'channel')}"


def parse_topic(topic):
    """(tenant_id, device_id, channel) of a five-level hxtp device topic, else None."""
    cdef list levels = topic.split("/")
    if len(levels) != 5 or levels[0] != "hxtp" or levels[2] != "device":
        return None
    return levels[1], levels[3], levels[4]


def sdk_publish_channel(message_type):
    """The channel hxtp-py's MqttTransport publishes a message_type on (unknown types go to state)."""
    return _SDK_CHANNELS.get(message_type, "state")


def firmware_mqtt_credentials(device_id, secret_hex):
    """(client id, username, password) a firmware device connects with (§2.1)."""
    _secret_bytes(secret_hex)
    return f"hxtp-{device_id}", device_id, secret_hex


cdef str _topic_level(object value, str name):
    cdef str text = _text(value, name)
    if "/" in text or "+" in text or "#" in text:
        raise HxtpRejection(Reason.TOPIC_INVALID, f"{name} must not contain / + #")
    return text
