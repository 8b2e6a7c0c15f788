"""The spec's vectors (tests/data/hxtp_vectors.json) through the device link itself: every frame the
firmware code produced (v1.0.7 -> hxtp-3.1, v1.0.6 -> hxtp-3.0-fw) is accepted by the receive
pipeline with the active and with the previous secret, and the Ed25519 vectors verify and re-sign."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from prometheus_client import REGISTRY

import ext
from server.cache.memory import MemoryCache
from server.devicelink import profiles
from server.devicelink.inbound import InboundPipeline
from server.domain.link.replay import ReplayGuard
from tests.devicelink.directory import (
    VECTOR_NOW_MS,
    VECTOR_PREVIOUS_SECRET,
    VECTOR_SECRET,
    FixedDevice,
    FixedDirectory,
)
from tests.ext.conftest import load_vectors

BY_NAME: dict[str, dict[str, Any]] = {v["name"]: v for v in load_vectors()["vectors"]}
DEVICE_FRAMES = sorted(
    name for name, v in BY_NAME.items() if name.startswith("device_outbound/") and "json" in v["expected"]
)
PROFILE_OF_FIRMWARE = {"v1.0.7": "hxtp-3.1", "v1.0.6": "hxtp-3.0-fw"}


def test_every_device_frame_vector_is_covered() -> None:
    assert len(DEVICE_FRAMES) == 10  # hello, state, telemetry, ack ok/fail, for v1.0.7 and v1.0.6
    assert BY_NAME["device_outbound/v1.0.7/heartbeat"]["expected"]["build_result"] == "BUFFER_OVERFLOW"


@pytest.mark.parametrize(
    "secrets", [(VECTOR_SECRET,), (VECTOR_PREVIOUS_SECRET, VECTOR_SECRET)], ids=["active", "previous"]
)
@pytest.mark.parametrize("name", DEVICE_FRAMES)
def test_firmware_frames_are_accepted(name: str, secrets: tuple[str, ...]) -> None:
    expected = BY_NAME[name]["expected"]
    payload = bytes.fromhex(expected["frame_header_hex"]) + expected["json"].encode()
    pipeline = InboundPipeline(FixedDirectory(FixedDevice(), secrets), clock_ms=lambda: VECTOR_NOW_MS)
    message = asyncio.run(pipeline.receive(expected["mqtt_topic"], payload))
    assert message is not None, name
    assert message.profile == PROFILE_OF_FIRMWARE[name.split("/")[1]]
    assert message.params == json.loads(expected["raw_params_text"])
    # Replayed: the nonce is now known.
    assert asyncio.run(pipeline.receive(expected["mqtt_topic"], payload)) is None


def test_ed25519_vectors_verify_and_resign() -> None:
    for name in ("hxtp31_ed25519_command/object_params", "hxtp31_ed25519_command/nested_mixed"):
        vector = BY_NAME[name]
        seed = vector["inputs"]["ed25519_private_seed_hex"]
        envelope = vector["inputs"]["envelope_unsigned"]
        signing = ext.signing_string_v31_ed25519(envelope)
        assert signing == vector["expected"]["canonical_string_11_field"]
        signer = profiles.LinkSigner(seed)  # Ed25519 is deterministic: the same seed, the same bytes
        assert signer.public_key_hex == vector["expected"]["ed25519_public_key_hex"]
        assert signer.sign(signing) == vector["expected"]["ed25519_signature_hex"]
        public = bytes.fromhex(signer.public_key_hex)
        profiles.verify_ed25519(signing, vector["expected"]["ed25519_signature_hex"].upper(), public)
        with pytest.raises(ext.HxtpRejection):
            profiles.verify_ed25519(signing + "x", vector["expected"]["ed25519_signature_hex"], public)


def test_a_replay_to_another_replica_is_refused() -> None:
    """Two replicas' pipelines share the cache's nonce claims (Redis in production)."""
    expected = BY_NAME["device_outbound/v1.0.7/state"]["expected"]
    payload = bytes.fromhex(expected["frame_header_hex"]) + expected["json"].encode()
    guard = ReplayGuard(MemoryCache())
    replicas = [
        InboundPipeline(FixedDirectory(FixedDevice()), clock_ms=lambda: VECTOR_NOW_MS, replay_guard=guard)
        for _ in range(2)
    ]
    before = REGISTRY.get_sample_value("hxtp_device_messages_rejected_total", {"reason": "NONCE_REUSED"}) or 0
    assert asyncio.run(replicas[0].receive(expected["mqtt_topic"], payload)) is not None
    assert asyncio.run(replicas[1].receive(expected["mqtt_topic"], payload)) is None
    after = REGISTRY.get_sample_value("hxtp_device_messages_rejected_total", {"reason": "NONCE_REUSED"})
    assert after == before + 1
