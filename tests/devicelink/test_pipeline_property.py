"""Arbitrary bytes into the receive pipeline never raise out of it and are never accepted; a message
it accepts always carries a valid signature by the device's key (re-checked here through ext)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ext
from server.devicelink.inbound import InboundPipeline
from tests.devicelink.directory import VECTOR_SECRET, FixedDevice, FixedDirectory
from tests.devicelink.firmware import FirmwareDevice
from tests.integration.harness import running

DEVICE = FixedDevice()
SECRET = VECTOR_SECRET
TOPIC = ext.device_topic(DEVICE.tenant_id, DEVICE.device_id, "state")


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _pipeline() -> InboundPipeline:
    return InboundPipeline(FixedDirectory(DEVICE))


def _framed(body: bytes, frame_type: int = 1) -> bytes:
    return b"HX\x03" + bytes([frame_type]) + len(body).to_bytes(4, "big") + body


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_ENVELOPES = st.fixed_dictionaries(
    {},
    optional={
        name: _JSON_VALUES
        for name in (
            "version",
            "message_type",
            "device_id",
            "tenant_id",
            "client_id",
            "message_id",
            "sequence_number",
            "timestamp",
            "nonce",
            "payload_hash",
            "signature",
            "params",
        )
    },
).map(lambda envelope: json.dumps(envelope).encode())
_PAYLOADS = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=300).map(_framed),
    _ENVELOPES,
    _ENVELOPES.map(_framed),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=_PAYLOADS)
def test_arbitrary_bytes_never_raise_and_are_never_accepted(
    loop: asyncio.AbstractEventLoop, payload: bytes
) -> None:
    assert loop.run_until_complete(_pipeline().receive(TOPIC, payload)) is None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0), value=st.integers(min_value=0, max_value=255))
def test_a_mutated_signed_message_is_accepted_only_if_still_signed(
    loop: asyncio.AbstractEventLoop, position: int, value: int
) -> None:
    device = FirmwareDevice(DEVICE.device_id, DEVICE.tenant_id, SECRET)
    original = device.build("state", '{"power":"on","level":3}')
    mutated = bytearray(original)
    mutated[position % len(mutated)] = value
    accepted = loop.run_until_complete(_pipeline().receive(TOPIC, bytes(mutated)))
    if accepted is None:
        return
    # Accepted: whatever changed is not covered by the signature (e.g. the unsigned `protocol` field),
    # and the signature still verifies over the signed fields, with the params bound by their hash.
    _, body = ext.decode_frame(bytes(mutated))
    envelope = json.loads(body)
    raw = ext.extract_raw_params(body)
    text = ext.signing_string(ext.VARIANT_FIRMWARE_31, envelope, raw)
    assert ext.HmacKey.from_hex(SECRET).verify(text, envelope["signature"])
    assert ext.check_payload_hash(envelope["payload_hash"], raw) in ("raw", "empty")
    assert accepted.params == json.loads(raw or b"{}")


async def test_the_pipeline_runs_against_the_fleet_directory(tmp_path: Path) -> None:
    """The same garbage through the real DeviceKeys port: unknown device, dropped, nothing raised."""
    async with running(tmp_path) as app:
        assert await app.inbound.receive(TOPIC, b"\xff" * 40) is None
        assert await app.inbound.receive("not/a/topic", b"{}") is None
        assert await app.inbound.receive("hxtp/t/device/d/cmd", b"ours") is None
