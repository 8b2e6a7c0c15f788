"""The receive pipeline (spec §8, §11 "Receiving from a device"), in the spec's order.

topic -> device (unknown / revoked dropped) -> frame (or bare JSON for SDK peers) -> JSON with the raw
params text captured -> version -> time window -> per-device nonce -> payload hash of the raw params
text -> sequence (checked) -> signature (active key, then previous) -> sequence recorded -> topic ids
equal envelope ids.

Every check is one call into `ext`; nothing here re-implements signing. A rejection is counted by
reason in `hxtp_device_messages_rejected_total` and logged with the topic and reason only (never a
key, signature or payload). The sequence is recorded only after the signature verified, so a forged
message cannot push a device's window forward; the nonce is burnt before, as the firmware does.
With a replay guard (every server: shared across replicas on Redis) the sequence window is the
shared sliding window of server.domain.link.replay, so valid messages are accepted in any order.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter

import ext
from ext import HxtpRejection, Reason
from server.devicelink import profiles
from server.devicelink.salvage import unparseable_ack
from server.domain.clock import epoch_ms
from server.domain.link.channels import DEVICE_CHANNELS
from server.domain.link.messages import DeviceMessage
from server.domain.link.ports import LinkDevice, LinkDirectory
from server.domain.link.replay import ReplayGuard

log = logging.getLogger(__name__)

MESSAGES = Counter("hxtp_device_messages", "Verified device messages by message_type", ["message_type"])
REJECTED = Counter("hxtp_device_messages_rejected", "Device messages refused, by reason", ["reason"])

# Reasons of the link itself, next to ext's (ext.Reason).
UNKNOWN_DEVICE = "UNKNOWN_DEVICE"
DEVICE_REVOKED = "DEVICE_REVOKED"
TOPIC_MISMATCH = "TOPIC_MISMATCH"

# Device message types outside ext's tables: OTA progress from our firmware (framed as type 0x06).
_EXTRA_FRAME_TYPES = {"ota_status": ext.FRAME_TYPES["ota"]}
_EXTRA_CHANNELS = {"ota_status": "ota_status"}
_DIRECTORY_MAX = 10_000


@dataclass(frozen=True)
class Limits:
    max_age_s: int = 30
    max_future_s: int = 5
    nonce_ttl_s: float = 60.0


@dataclass(frozen=True)
class _Entry:
    device: LinkDevice | None
    keys: tuple[ext.HmacKey, ...]
    secrets: list[bytes]  # the directory's own list, which the keys were made from


class InboundPipeline:
    def __init__(
        self,
        directory: LinkDirectory,
        limits: Limits = Limits(),
        clock_ms: Callable[[], int] = epoch_ms,
        replay_guard: ReplayGuard | None = None,
    ) -> None:
        self._directory = directory
        self._replay_guard = replay_guard  # shared across replicas; None = this process only
        self._limits = limits
        self._clock_ms = clock_ms
        self._nonces = ext.NonceCache(ttl_seconds=limits.nonce_ttl_s)
        self._sequences = ext.SequenceWindow()
        self._entries: dict[str, _Entry] = {}

    async def receive(self, topic: str, payload: bytes) -> DeviceMessage | None:
        """The verified message, or None (rejected and counted, or not device traffic). Never raises
        for anything a peer can send."""
        route = ext.parse_topic(topic)
        if route is not None and route[2] not in DEVICE_CHANNELS:
            return None
        try:
            if route is None:
                raise HxtpRejection(Reason.TOPIC_INVALID, "not an hxtp device topic")
            message = await self._verify(route, payload)
        except HxtpRejection as rejection:
            REJECTED.labels(rejection.reason).inc()
            log.info("device message on %r rejected: %s", topic, rejection.reason)
            return None
        MESSAGES.labels(message.message_type).inc()
        return message

    async def _device(self, device_id: str) -> _Entry:
        """The device and its keys as the directory has them now. The directory remembers them
        (server.domain.link.keys.RecentDeviceKeys, forgotten on every replica by a revocation or a
        rotation) and hands back the same objects until then: the keys made from them are reused
        while it does, and made again from whatever it reads after a forget."""
        device = await self._directory.profile(device_id)
        secrets = await self._directory.active_and_previous(device_id) if device is not None else []
        entry = self._entries.get(device_id)
        if entry is None or entry.device is not device or entry.secrets is not secrets:
            if len(self._entries) >= _DIRECTORY_MAX:
                self._entries.clear()
            keys = tuple(ext.HmacKey(secret) for secret in secrets)
            entry = self._entries[device_id] = _Entry(device, keys, secrets)
        return entry

    async def _verify(self, route: tuple[str, str, str], payload: bytes) -> DeviceMessage:
        topic_tenant, topic_device, channel = route
        entry = await self._device(topic_device)
        device = entry.device
        if device is None:
            raise HxtpRejection(UNKNOWN_DEVICE, "no such device")
        if device.revoked:
            raise HxtpRejection(DEVICE_REVOKED, "device revoked")
        framed, body = _unframe(payload)
        envelope, raw_params, params = _read(framed, body)
        message_type = envelope.get("message_type")
        expected_frame = (
            ext.FRAME_TYPES.get(message_type, _EXTRA_FRAME_TYPES.get(message_type))
            if isinstance(message_type, str)
            else None
        )
        if framed is not None and framed != expected_frame:
            raise HxtpRejection(Reason.FRAME_TYPE_INVALID, "frame type disagrees with message_type")
        # 1. version
        version = ext.check_version(
            envelope.get("version", envelope.get("protocol_version")), profiles.ACCEPTED_VERSIONS
        )
        # 2. time window
        timestamp = ext.wire_int(envelope.get("timestamp"), "timestamp")
        ext.check_timestamp(
            timestamp,
            self._clock_ms(),
            max_age_s=self._limits.max_age_s,
            max_future_s=self._limits.max_future_s,
        )
        # 3. nonce, per device: this process first, then across replicas
        nonce = envelope.get("nonce")
        self._nonces.remember(topic_device, nonce)
        guard = self._replay_guard
        if guard is not None and not await guard.first_use(topic_device, str(nonce)):
            raise HxtpRejection(Reason.NONCE_REUSED, "Nonce already seen by another replica (replay)")
        # 4. payload hash over the raw params text (SDK peers may hash their canonical form)
        variants = profiles.inbound_variants(framed is not None, version, envelope.get("signature"))
        profiles.check_inbound_payload_hash(variants, envelope.get("payload_hash"), raw_params, params)
        # 5. sequence, per (device, client)
        client_id = envelope.get("client_id")
        if not isinstance(client_id, str):
            raise HxtpRejection(Reason.FIELD_INVALID, "client_id must be a string")
        sequence = envelope.get("sequence_number", envelope.get("sequence"))
        # hxtp-py 1.2.0 sends every HELLO (again after each reconnect, same client_id) with sequence 0
        # while its later messages continue its counter: that HELLO is exempt from the window, still
        # bound by its nonce and time window. Every other message must be strictly increasing.
        sdk_hello = message_type == "hello" and type(sequence) is int and sequence == 0 and framed is None
        if not sdk_hello:
            await self._check_sequence(topic_device, client_id, sequence)
        # 6. signature
        variant, key_index = _verify_signature(variants, envelope, raw_params, entry, device)
        if key_index > 0:
            await self._adopt(topic_device, entry.secrets[key_index])
        if not sdk_hello:
            await self._record_sequence(topic_device, client_id, sequence)
        # 7. the envelope is trusted now; its ids must be the topic's
        _cross_check(envelope, device, topic_tenant, topic_device, channel)
        return DeviceMessage(
            device_id=device.device_id,
            tenant_id=device.tenant_id,
            message_type=str(message_type),
            params=params,
            profile=profiles.profile_of(variant, str(message_type), params),
            timestamp_ms=timestamp,
            variant=variant,
        )

    async def _adopt(self, device_id: str, secret: bytes) -> None:
        """Verified under a secret other than the one commands are signed with: a rotated-in secret
        the device holds now (the server then signs with it) or one in its grace period."""
        if await self._directory.adopt(device_id, secret):
            self._entries.pop(device_id, None)
            log.info("device %s now holds its rotated-in secret; commands are signed with it", device_id)

    async def _check_sequence(self, device_id: str, client_id: str, sequence: object) -> None:
        """Before the signature: the number's form; this process's own strictly increasing window
        only when nothing is shared (with a replay guard the shared window decides, after the
        signature)."""
        number = ext.wire_int(sequence, "sequence_number")
        if number < 0:
            raise HxtpRejection(Reason.FIELD_INVALID, "sequence_number must not be negative")
        if self._replay_guard is None:
            self._sequences.check(device_id, client_id, number)

    async def _record_sequence(self, device_id: str, client_id: str, sequence: object) -> None:
        """After the signature verified: mark the number (no await between the check and this when
        nothing is shared, so a duplicate inside one process is refused by the check); with a replay
        guard, the shared window's atomic mark: losing it means the number was accepted already."""
        number = ext.wire_int(sequence, "sequence_number")
        guard = self._replay_guard
        if guard is None:
            self._sequences.record(device_id, client_id, number)
        elif not await guard.accept_sequence(device_id, client_id, number):
            raise HxtpRejection(Reason.SEQUENCE_VIOLATION, f"Sequence {number} replayed or too old")


def _unframe(payload: bytes) -> tuple[int | None, bytes]:
    """(frame type or None for bare JSON, JSON body)."""
    if payload[:1] == b"{" or payload.lstrip()[:1] == b"{":
        ext.check_payload_size(len(payload))
        return None, payload
    frame_type, body = ext.decode_frame(payload)
    return frame_type, body


def _read(framed: int | None, body: bytes) -> tuple[dict[str, Any], bytes | None, dict[str, Any]]:
    """(envelope, raw params text, params). A firmware ack whose unescaped error text broke its JSON
    is read field by field (server.devicelink.salvage), then verified like any other message."""
    try:
        raw_params = ext.extract_raw_params(body)  # strict JSON walk; rejects what json.loads would bend
        envelope = _parse(body)
    except HxtpRejection as rejection:
        salvaged = unparseable_ack(framed, body) if rejection.reason == Reason.JSON_INVALID else None
        if salvaged is None:
            raise
        log.info("reading an ack whose JSON does not parse (unescaped error text); verifying it")
        return salvaged
    params = envelope.get("params", {})
    if not isinstance(params, dict):
        raise HxtpRejection(Reason.FIELD_INVALID, "params must be an object")
    return envelope, raw_params, params


def _parse(body: bytes) -> dict[str, Any]:
    try:
        envelope = json.loads(body)
    except (ValueError, RecursionError):
        raise HxtpRejection(Reason.JSON_INVALID, "envelope is not JSON") from None
    if not isinstance(envelope, dict):
        raise HxtpRejection(Reason.JSON_INVALID, "envelope is not a JSON object")
    return envelope


def _verify_signature(
    variants: tuple[str, ...],
    envelope: dict[str, Any],
    raw_params: bytes | None,
    entry: _Entry,
    device: LinkDevice,
) -> tuple[str, int]:
    """(the variant whose signature verified, the index of the key that did: 0 for Ed25519); the last
    variant's rejection otherwise."""
    signature = envelope.get("signature")
    failure: HxtpRejection | None = None
    for variant in variants:
        try:
            text = ext.signing_string(variant, envelope, raw_params)
            if variant == ext.VARIANT_PY_ED25519:
                profiles.verify_ed25519(text, signature, device.public_key)
                index = 0
            else:
                index = ext.verify_hmac(text, signature, entry.keys)
        except HxtpRejection as rejection:
            failure = rejection
            continue
        return variant, index
    assert failure is not None  # variants is never empty
    raise failure


def _cross_check(
    envelope: dict[str, Any], device: LinkDevice, topic_tenant: str, topic_device: str, channel: str
) -> None:
    tenant = envelope.get("tenant_id", "")
    if envelope.get("device_id") != topic_device:
        raise HxtpRejection(TOPIC_MISMATCH, "envelope device_id differs from the topic's")
    # A SoftAP-provisioned device has no tenant (§2.2, §9.1): empty on the topic and in the envelope.
    if topic_tenant not in ("", device.tenant_id) or tenant not in ("", device.tenant_id):
        raise HxtpRejection(TOPIC_MISMATCH, "tenant differs between topic, envelope and device record")
    message_type = str(envelope.get("message_type"))
    if _EXTRA_CHANNELS.get(message_type, ext.sdk_publish_channel(message_type)) != channel:
        raise HxtpRejection(TOPIC_MISMATCH, f"message_type does not belong on {channel}")
