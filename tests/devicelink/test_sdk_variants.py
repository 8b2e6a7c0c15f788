"""sdk-json peers of every SDK generation get commands they can verify: the signing variant a device
uses is learned from its verified messages, persisted with its link state, and used for outbound
(version string, payload_hash rule, signing string, bare JSON). Replicas share the inbound sequence
window: a number one replica accepted is refused by the other."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

import ext
from server.app import Application
from server.devicelink import profiles
from server.devicelink.outbound import OutboundLink
from server.domain.link.sequence import OutboundSequence
from server.domain.link.variants import LinkVariants
from server.storage.database import Database
from server.storage.migrate import run_migrations_async
from tests.devicelink.conftest import Link, accepted, eventually, rejected
from tests.devicelink.directory import VECTOR_SECRET, FixedDevice, FixedDirectory
from tests.devicelink.firmware import MqttPeer
from tests.devicelink.sdk_peer import SDK_VARIANTS, SdkDevice
from tests.ext.conftest import load_vectors
from tests.integration.harness import base_url, running

VECTORS = {vector["name"]: vector for vector in load_vectors()["vectors"]}


async def _sdk_device(link: Link, variant: str) -> tuple[SdkDevice, MqttPeer]:
    registration = await link.register(protocol="sdk-json")
    device = SdkDevice(
        registration["device_id"], registration["tenant_id"], registration["device_secret"], variant
    )
    peer = MqttPeer(link.broker_url, f"sdk-{device.device_id}")
    await peer.connect()
    await peer.subscribe(device.topic("cmd"))
    return device, peer


@pytest.mark.parametrize("variant", SDK_VARIANTS)
async def test_each_sdk_verifies_the_commands_built_for_the_variant_it_signs_with(
    embedded_link: Link, variant: str
) -> None:
    app = embedded_link.app
    device, peer = await _sdk_device(embedded_link, variant)
    try:
        states = accepted("state")
        peer.publish(device.topic("state"), device.build("state", {"power": "on", "level": 3, "ratio": 0.25}))
        await eventually(lambda: accepted("state") > states)
        await eventually(lambda: _variant_is(app, device.device_id, variant))
        assert app.outbound is not None
        params: dict[str, Any] = {"level": 7, "ratio": 0.1, "mode": "é", "nested": {"b": [1, 2.5], "a": True}}
        sent = await app.outbound.send_command(device.device_id, "set_level", params)
        command = device.accept_command((await peer.next_message())[1])
        assert command["version"] == profiles.OUTBOUND_BY_VARIANT[variant].version
        assert command["message_id"] == sent.message_id and command["params"] == params
        assert command["payload_hash"] == ext.outbound_payload_hash(variant, params)
        second = await app.outbound.send_command(device.device_id, "set_level", {"level": 8})
        device.accept_command((await peer.next_message())[1])  # the peer's sequence check holds too
        acks = accepted("ack")
        peer.publish(device.topic("cmd_ack"), device.ack(second.message_id))
        await eventually(lambda: accepted("ack") > acks)
        record = await eventually(lambda: app.command_outcomes.get(device.device_id, second.message_id))
        assert record.status == "acked"
    finally:
        await peer.close()


async def test_a_v106_firmware_registered_as_31_is_answered_in_its_own_variant(embedded_link: Link) -> None:
    """No hello needed: the first verified message (a state) tells the link the device signs with the
    v1.0.6 template, so commands go out framed, as HxTP/3.0, with the template signature."""
    app = embedded_link.app
    device = await embedded_link.device(ext.VARIANT_FIRMWARE_30)  # registered with the default hxtp-3.1
    peer = await embedded_link.peer(device)
    try:
        states = accepted("state")
        peer.publish(device.topic("state"), device.build("state", '{"power":"on"}'))
        await eventually(lambda: accepted("state") > states)
        await eventually(lambda: _variant_is(app, device.device_id, ext.VARIANT_FIRMWARE_30))
        assert app.outbound is not None
        sent = await app.outbound.send_command(device.device_id, "toggle", {"state": "1"})
        command = device.accept_command((await peer.next_message())[1])
        assert command["version"] == "HxTP/3.0" and command["message_id"] == sent.message_id
    finally:
        await peer.close()


async def _variant_is(app: Application, device_id: str, variant: str) -> bool:
    return await app.outbound_sequence.variant(device_id) == variant


async def test_the_learned_variant_survives_a_restart_and_keeps_the_counter(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'link.db'}"
    await run_migrations_async(url)
    first, second = Database(url), Database(url)
    try:
        await LinkVariants(first).learn("d1", ext.VARIANT_JS_30)  # no link state yet: the row is created
        sequence = OutboundSequence(second, clock_ms=lambda: 1000)
        assert await sequence.variant("d1") == ext.VARIANT_JS_30  # another process reads it
        assert await sequence.next("d1") == 1000  # the counter started at 0: the clock floor applies
        await LinkVariants(second).learn("d1", ext.VARIANT_PY_30)  # the device changed its SDK
        assert await OutboundSequence(first).variant("d1") == ext.VARIANT_PY_30
        assert await sequence.next("d1") == 1001
        assert await sequence.variant("unknown") is None
    finally:
        await first.dispose()
        await second.dispose()


def _unsigned(envelope: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in envelope.items() if key != "signature"}


class _Pinned:
    """The outbound link's ports with the vector's fixed inputs."""

    def __init__(self, variant: str) -> None:
        self._variant = variant
        self.published: list[tuple[str, bytes]] = []

    async def next(self, device_id: str) -> int:
        return int(VECTORS["hxtp30_canonical_variants"]["inputs"]["envelope_unsigned"]["sequence_number"])

    async def variant(self, device_id: str) -> str | None:
        return self._variant

    async def publish(self, topic: str, payload: bytes, acknowledged: bool = False) -> None:
        self.published.append((topic, payload))


async def test_the_hxtp_py_30_vector_replays_through_the_outbound_builder() -> None:
    """hxtp30_canonical_variants with pinned randomness: params {"state":"1"} (whose legacy hash is the
    vector's payload_hash) give the vector's canonical_json signing string and HMAC, as bare JSON that an
    hxtp-py <= 1.1.0 validator accepts."""
    vector = VECTORS["hxtp30_canonical_variants"]
    unsigned = vector["inputs"]["envelope_unsigned"]
    expected = vector["expected"]
    ports = _Pinned(ext.VARIANT_PY_30)
    link = OutboundLink(
        FixedDirectory(FixedDevice(protocol="sdk-json")),
        ports,
        ports,
        profiles.LinkSigner("00" * 32),
        client_id=unsigned["client_id"],
        clock_ms=lambda: unsigned["timestamp"],
        message_ids=lambda: unsigned["message_id"],
        nonces=lambda: unsigned["nonce"],
    )
    sent = await link.send_command(unsigned["device_id"], "toggle", {"state": "1"}, capability="relay")
    envelope = json.loads(sent.payload)
    assert sent.payload[:1] == b"{"  # sdk-json: no frame header
    assert {**envelope, "params": unsigned["params"]} == {**unsigned, "signature": envelope["signature"]}
    signing = ext.signing_string(ext.VARIANT_PY_30, _unsigned(envelope))
    canonical = "hxtpy_111_canonical_json (params included, numbers as strings, protocol injected)"
    assert signing == expected[canonical]
    assert envelope["signature"] == expected["hxtpy_111_hmac"]
    assert ext.HmacKey.from_hex(VECTOR_SECRET).sign(signing) == envelope["signature"]


async def test_the_hxtp_js_outbound_is_what_its_validator_recomputes() -> None:
    """hxtp-js: payload_hash by its canonicalJson(params) (protocol injected), HMAC over canonicalJson of
    every field but the signature; the vector's header-only string is what its *signer* makes, and the
    server accepts that inbound."""
    vector = VECTORS["hxtp30_canonical_variants"]
    unsigned = vector["inputs"]["envelope_unsigned"]
    ports = _Pinned(ext.VARIANT_JS_30)
    link = OutboundLink(
        FixedDirectory(FixedDevice(protocol="sdk-json")),
        ports,
        ports,
        profiles.LinkSigner("00" * 32),
        client_id=unsigned["client_id"],
        clock_ms=lambda: unsigned["timestamp"],
        message_ids=lambda: unsigned["message_id"],
        nonces=lambda: unsigned["nonce"],
    )
    sent = await link.send_command(unsigned["device_id"], "toggle", {"state": 1}, capability="relay")
    envelope = json.loads(sent.payload)
    assert envelope["version"] == "HxTP/3.0"
    assert envelope["payload_hash"] == ext.sha256_hex('{"protocol":"hxtp/3.0","state":"1"}')
    header_only = ext.signing_string(ext.VARIANT_JS_30, _unsigned(envelope))
    everything = ext.signing_string_v30_js(_unsigned(envelope), include_params=True)
    assert '"params":{"state":"1"}' in everything and '"params"' not in header_only
    assert ext.HmacKey.from_hex(VECTOR_SECRET).sign(everything) == envelope["signature"]


async def test_two_replicas_share_the_inbound_sequence_window(tmp_path: Path, redis_url: str) -> None:
    """Two Applications on one Redis, one broker and one database. Which replica a device message
    reaches is the broker's choice (a shared subscription); here each message is handed to the
    replica named, through its pipeline. A message one replica accepted is refused as
    SEQUENCE_VIOLATION by the other when re-sent with a fresh nonce and the same sequence; a forged
    message does not move the shared window; of two replicas racing on one number, one wins."""
    env = {"HXTP_REDIS_URL": redis_url}
    async with running(tmp_path, **env) as first:
        assert first.broker is not None
        async with running(tmp_path, HXTP_MQTT_URL=first.broker.url, **env) as second:
            async with httpx.AsyncClient(base_url=base_url(first)) as http:
                registration = await Link(first, http, first.broker.url).register(protocol="sdk-json")
            device = SdkDevice(
                registration["device_id"], registration["tenant_id"], registration["device_secret"]
            )
            topic = device.topic("state")

            async def deliver(replica: Application, sequence: int, *, forged: bool = False) -> bool:
                envelope = device.envelope("state", {"n": sequence}, sequence=sequence)  # fresh nonce
                if forged:
                    envelope["signature"] = "0" * 64
                return await replica.inbound.receive(topic, device.wire(envelope)) is not None

            violations = rejected("SEQUENCE_VIOLATION")
            assert await deliver(first, 1)
            assert not await deliver(second, 1)  # refused before the signature: seeded from Redis
            assert rejected("SEQUENCE_VIOLATION") == violations + 1
            assert not await deliver(second, 10, forged=True)  # a forgery does not advance the window
            assert await deliver(second, 5)
            assert not await deliver(first, 5)  # its local window says 1; the shared one refuses
            assert rejected("SEQUENCE_VIOLATION") == violations + 2
            results = await asyncio.gather(deliver(first, 6), deliver(second, 6))
            assert sorted(results) == [False, True]
            assert await deliver(first, 7) and await deliver(second, 8)


async def test_a_learned_variant_is_seen_by_every_replica_at_once(
    tmp_path: Path, fresh_postgres_url: str, redis_url: str
) -> None:
    shared = {"HXTP_DATABASE_URL": fresh_postgres_url, "HXTP_REDIS_URL": redis_url, "HXTP_GRPC_PORT": "-1"}
    async with running(tmp_path / "a", **shared) as a, running(tmp_path / "b", **shared) as b:
        assert await a.outbound_sequence.variant("d1") is None  # remembered by A
        await b.link_variants.learn("d1", ext.VARIANT_JS_30)
        assert await a.outbound_sequence.variant("d1") == ext.VARIANT_JS_30
