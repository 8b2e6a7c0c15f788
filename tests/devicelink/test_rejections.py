"""What the receive pipeline refuses, counted by reason in hxtp_device_messages_rejected_total,
through both brokers; the loop keeps serving the next good message."""

from __future__ import annotations

import json
import time

import pytest

import ext
from tests.devicelink.conftest import Link, accepted, eventually, rejected
from tests.devicelink.firmware import MqttPeer

OTHER_SECRET = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100"


async def _expect(peer: MqttPeer, topic: str, payload: bytes, reason: str) -> None:
    before = rejected(reason)
    peer.publish(topic, payload)
    await eventually(lambda: rejected(reason) > before)


async def test_bad_messages_are_rejected_and_counted(link: Link) -> None:
    device = await link.device()
    peer = await link.peer(device)
    state = device.topic("state")
    try:
        good = device.build("state", '{"on":true}')
        good_sequence = device.sequence
        states = accepted("state")
        peer.publish(state, good)
        await eventually(lambda: accepted("state") > states)
        await _expect(peer, state, good, ext.Reason.NONCE_REUSED)  # the same bytes again: a replay
        now = int(time.time() * 1000)
        stale = device.build("state", timestamp=now - 60_000)
        future = device.build("state", timestamp=now + 60_000)
        await _expect(peer, state, stale, ext.Reason.TIMESTAMP_EXPIRED)
        await _expect(peer, state, future, ext.Reason.TIMESTAMP_FUTURE)
        forged = device.build("state", secret_hex=OTHER_SECRET)
        await _expect(peer, state, forged, ext.Reason.SIGNATURE_INVALID)
        # Signed by the device, but naming another device, or on the wrong channel.
        await _expect(peer, state, device.build("state", device_id="a" * 32), "TOPIC_MISMATCH")
        await _expect(peer, device.topic("telemetry"), device.build("state"), "TOPIC_MISMATCH")
        # A sequence number accepted before, re-signed with a fresh nonce (the counter went back).
        resume = device.sequence
        device.sequence = good_sequence - 1
        await _expect(peer, state, device.build("state"), ext.Reason.SEQUENCE_VIOLATION)
        device.sequence = resume + 10
        # Params edited after signing: the payload hash no longer matches the raw text.
        tampered = device.build("state", '{"level":1}').replace(b'{"level":1}', b'{"level":9}')
        await _expect(peer, state, tampered, ext.Reason.HASH_MISMATCH)
        # Oversized: a frame declaring more than 16384 bytes, a bare JSON payload above the limit.
        oversized = b"HX\x03\x01" + (20000).to_bytes(4, "big") + b"{" * 20000
        await _expect(peer, state, oversized, ext.Reason.FRAME_LENGTH_INVALID)
        await _expect(peer, state, b"{" + b" " * 17000 + b"}", ext.Reason.PAYLOAD_TOO_LARGE)
        # Garbage.
        await _expect(peer, state, b"\x00\x01\x02garbage", ext.Reason.FRAME_MAGIC_INVALID)
        await _expect(peer, state, b"HX", ext.Reason.FRAME_TOO_SHORT)
        await _expect(peer, state, ext.encode_frame(1, b"not json"), ext.Reason.JSON_INVALID)
        await _expect(peer, state, ext.encode_frame(1, b"[1,2]"), ext.Reason.JSON_INVALID)
        await _expect(peer, state, device.build("state", frame_type=2), ext.Reason.FRAME_TYPE_INVALID)
        bare_wrong_version = json.dumps({"version": "HxTP/2.0", "message_type": "state"}).encode()
        await _expect(peer, state, bare_wrong_version, ext.Reason.VERSION_MISMATCH)
        await _expect(peer, "hxtp/t/device/nobody/state", good, "UNKNOWN_DEVICE")

        # After all that, the next good message is served.
        states = accepted("state")
        peer.publish(state, device.build("state", '{"on":false}'))
        await eventually(lambda: accepted("state") > states)
    finally:
        await peer.close()


@pytest.mark.parametrize("broker_kind", ["embedded"])
async def test_revoked_device_is_dropped_from_its_next_message(link: Link) -> None:
    device = await link.device()
    peer = await link.peer(device)
    try:
        # A message before: the pipeline then holds the device's keys.
        states = accepted("state")
        peer.publish(device.topic("state"), device.build("state"))
        await eventually(lambda: accepted("state") > states)

        revoked = await link.http.post(f"/api/v1/devices/{device.device_id}/revoke", headers=link.headers())
        assert revoked.status_code == 200, revoked.text

        # The revocation forgot the device's keys on every replica before it answered: the very
        # next message is refused, not one after some cache has run out.
        before, states = rejected("DEVICE_REVOKED"), accepted("state")
        peer.publish(device.topic("state"), device.build("state"))
        await eventually(lambda: rejected("DEVICE_REVOKED") > before)
        assert accepted("state") == states
    finally:
        await peer.close()
