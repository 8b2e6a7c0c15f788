"""JSON output reproduces the reference shapes."""

from __future__ import annotations

import orjson
from google.protobuf import struct_pb2

from gateway.codec import decode, encode
from hxtp.cloud.v1 import command_pb2, device_pb2, health_pb2, manifest_pb2, state_pb2


def test_whole_numbers_in_free_form_objects_stay_whole() -> None:
    params = struct_pb2.Struct()
    params.update({"brightness": 100, "ratio": 0.25, "big": 2**40, "list": [1, 2.5], "none": None})
    out = encode(params)
    assert out == {"brightness": 100, "ratio": 0.25, "big": 2**40, "list": [1, 2.5], "none": None}
    assert (
        orjson.dumps(out) == b'{"big":1099511627776,"brightness":100,"list":[1,2.5],"none":null,"ratio":0.25}'
    )


def test_defaults_are_written_and_int64_is_a_number() -> None:
    out = encode(health_pb2.GetHealthResponse(metrics=health_pb2.HealthMetrics(active_devices=0)))
    assert out["metrics"] == {"active_devices": 0}
    assert out["status"] == "" and out["services"] == {}
    event = encode(state_pb2.StreamStateResponse(type="state_update", device_id="d", timestamp=1704067200000))
    assert event["timestamp"] == 1704067200000


def test_unset_optional_is_null_and_omit_when_unset_is_absent() -> None:
    device = encode(device_pb2.Device(id="d1", firmware="0.0.0"))
    assert device["room_id"] is None and device["last_seen"] is None
    assert device["revoked"] is False and device["firmware"] == "0.0.0"
    ok = encode(command_pb2.DeviceCommandResult(device_id="d1", success=True, message_id="m1"))
    assert ok == {"device_id": "d1", "success": True, "message_id": "m1"}
    failed = encode(command_pb2.DeviceCommandResult(device_id="d2", success=False, error="Device is revoked"))
    assert failed == {"device_id": "d2", "success": False, "error": "Device is revoked"}


def test_unset_omitted_message_and_set_struct() -> None:
    event = state_pb2.StreamStateResponse(type="state_update", device_id="d1", timestamp=1)
    assert "state" not in encode(event)
    event.state.update({"light": "on", "brightness": 100})
    assert encode(event)["state"] == {"light": "on", "brightness": 100}


def test_explicit_json_names_are_camel_case_and_input_accepts_both() -> None:
    capability = manifest_pb2.ManifestCapability(id=1, action="light_on", safety_class="normal")
    out = encode(capability)
    assert out["safetyClass"] == "normal" and "safety_class" not in out
    assert "paramSchema" in out and "supportsDryRun" in out
    parsed = decode({"action": "lock", "safety_class": "critical"}, manifest_pb2.ManifestCapability())
    assert parsed.safety_class == "critical"  # type: ignore[attr-defined]
    parsed = decode({"action": "lock", "safetyClass": "sensitive"}, manifest_pb2.ManifestCapability())
    assert parsed.safety_class == "sensitive"  # type: ignore[attr-defined]


def test_round_trip_of_free_form_json_through_decode_and_encode() -> None:
    body = {"action": "light_brightness", "params": {"brightness": 80, "fade": {"ms": 250}}, "dry_run": True}
    request = decode(body, command_pb2.ExecuteCommandRequest())
    assert encode(request)["params"] == body["params"]
