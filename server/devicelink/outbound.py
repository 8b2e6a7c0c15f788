"""Cloud -> device messages (spec §11 "Sending a command"): built, signed and framed per profile.

Each message gets a message id (= request id; a command's is chosen, and committed, before it is
published), a 32-hex nonce, the current time in ms and the device's next sequence number
(server.domain.link.sequence, reserved in blocks), is signed through `ext`
(HMAC with the device's current secret; hxtp-3.1-ed25519 peers with the server's Ed25519 link key),
framed for firmware profiles, and published at QoS 1 on `hxtp/{tenant}/device/{device}/{channel}`.

The variant is the one the device's verified messages were seen to use (hxtp-py 1.1.x, hxtp-py <=
1.1.0 or hxtp-js for sdk-json peers; see profiles.outbound_for), else its recorded profile's.
`payload_hash` follows the variant's rule (`ext.outbound_payload_hash`): "" for firmware, whose
inbound check turns any object into {} (§4.3); the SDK's own hash for SDK peers. The params
text placed in the envelope is exactly the text the v1.0.6 template signs.

Number, signature and publish happen in the device's turn (server.devicelink.ordering), so
concurrent messages to one device reach the wire in the order of their numbers, across replicas too.

A message that would not fit the device's MQTT receive buffer (topic + payload + MQTT header) is
refused with PARAMS_INVALID before anything is sent: the firmware drops an oversized packet
silently. The number it was built with is skipped, which the device never notices (numbers only
need to increase).

As the command gates' `Dispatcher`, the link answers GATEWAY_ERROR at once while the broker is not
connected, before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

import ext
from contract.ids import random_hex, random_uuid
from ext import HxtpRejection
from server.devicelink import profiles
from server.devicelink.ordering import DeviceOrder
from server.domain.clock import epoch_ms
from server.domain.json_text import compact_json
from server.domain.link.ports import LinkDevice, LinkDirectory
from server.errors import Code, HxtpError

_CHANNEL = {"command": "cmd", "ota": "ota", "hello_ack": "cmd"}
# PUBLISH fixed header (<= 5 bytes) + topic length (2) + packet id (2): what the firmware's buffer
# holds on top of the topic and payload.
_MQTT_OVERHEAD = 9


class Publisher(Protocol):
    @property
    def connected(self) -> bool: ...

    async def publish(self, topic: str, payload: bytes, acknowledged: bool = False) -> None:
        """QoS 1, returning once the broker acknowledged it when `acknowledged`; raises
        HxtpError(GATEWAY_ERROR) when the broker cannot take it."""
        ...


class SequenceSource(Protocol):
    """The device's link state: its outbound counter, and the signing variant it was seen to use."""

    async def next(self, device_id: str) -> int: ...

    async def variant(self, device_id: str) -> str | None: ...


@dataclass(frozen=True)
class Sent:
    message_id: str
    sequence_number: int
    topic: str
    payload: bytes


def new_nonce() -> str:
    return random_hex(16)  # 32 lowercase hex chars, as the SDKs write (§7)


class OutboundLink:
    def __init__(
        self,
        directory: LinkDirectory,
        sequences: SequenceSource,
        publisher: Publisher,
        signer: profiles.LinkSigner,
        *,
        client_id: str,
        receive_buffer: int = 4096,
        clock_ms: Callable[[], int] = epoch_ms,
        message_ids: Callable[[], str] = random_uuid,
        nonces: Callable[[], str] = new_nonce,
        order: DeviceOrder | None = None,
    ) -> None:
        self._directory = directory
        self._message_ids = message_ids  # seams for replaying the spec's pinned-randomness vectors
        self._nonces = nonces
        self._sequences = sequences
        self._publisher = publisher
        self._signer = signer
        self.client_id = client_id  # one UUID per server instance (§11 step 1)
        self._receive_buffer = receive_buffer
        self._clock_ms = clock_ms
        self._order = order if order is not None else DeviceOrder()

    def ready(self) -> bool:
        return self._publisher.connected

    async def dispatch(self, device_id: str, message_id: str, action: str, params: dict[str, Any]) -> None:
        await self.send_command(device_id, action, params, message_id=message_id)

    async def send_command(
        self,
        device_id: str,
        action: str,
        params: dict[str, Any],
        capability: str | None = None,
        message_id: str | None = None,
    ) -> Sent:
        extra: dict[str, Any] = {"action": action}
        if capability is not None:
            extra["capability"] = capability
        return await self.send(device_id, "command", params, extra, message_id)

    async def send_hello_ack(self, device_id: str) -> Sent:
        return await self.send(device_id, "hello_ack", {}, {})

    async def send(
        self,
        device_id: str,
        message_type: str,
        params: dict[str, Any],
        extra: dict[str, Any],
        message_id: str | None = None,
    ) -> Sent:
        device = await self._directory.profile(device_id)
        if device is None:
            raise HxtpError(Code.NOT_FOUND, "Device not found")
        if device.revoked:
            raise HxtpError(Code.DEVICE_REVOKED)
        keys = await self._directory.active_and_previous(device_id)
        outbound = profiles.outbound_for(device.protocol, await self._sequences.variant(device_id))
        if outbound.variant != ext.VARIANT_PY_ED25519 and not keys:
            raise HxtpError(Code.DEVICE_REVOKED)
        key = ext.HmacKey(keys[0]) if keys else None
        topic = ext.device_topic(device.tenant_id, device.device_id, _CHANNEL[message_type])
        build = _Builder(
            device,
            outbound,
            key,
            self._signer,
            self.client_id,
            message_type,
            params,
            extra,
            message_id or self._message_ids(),
            self._nonces,
        )
        overhead = len(topic.encode()) + _MQTT_OVERHEAD
        limit = outbound.template_limit
        async with self._order.hold(device_id):
            sequence = await self._sequences.next(device_id)
            payload = build.payload(sequence, self._clock_ms())
            # Checked on the real message (no throwaway signature); a refusal leaves a gap in the
            # sequence, which the device accepts (it only needs each number above the last).
            if limit is not None and build.signing_bytes >= limit:
                raise HxtpError(
                    Code.PARAMS_INVALID,
                    f"The command's signing template would be {build.signing_bytes} bytes; devices of "
                    f"profile {outbound.variant} build it in a {limit}-byte buffer (at most {limit - 1})",
                )
            if overhead + len(payload) > self._receive_buffer:
                raise HxtpError(
                    Code.PARAMS_INVALID,
                    f"The message would be {overhead + len(payload)} bytes; "
                    f"the device receives at most {self._receive_buffer}",
                )
            await self._publisher.publish(topic, payload, acknowledged=self._order.across_replicas)
        return Sent(build.message_id, sequence, topic, payload)


class _Builder:
    """One message's fixed parts; `payload` fills in sequence, time and nonce and signs."""

    def __init__(
        self,
        device: LinkDevice,
        outbound: profiles.Outbound,
        key: ext.HmacKey | None,
        signer: profiles.LinkSigner,
        client_id: str,
        message_type: str,
        params: dict[str, Any],
        extra: dict[str, Any],
        message_id: str,
        nonces: Callable[[], str],
    ) -> None:
        self._device = device
        self._nonces = nonces
        self._outbound = outbound
        self._key = key
        self._signer = signer
        self._client_id = client_id
        self._message_type = message_type
        self._params = params
        self._extra = dict(extra)
        if outbound.variant == ext.VARIANT_FIRMWARE_30 and message_type == "command":
            self._extra.setdefault("capability", "")  # v1.0.6 signs it: always send it (§11)
        self.message_id = message_id
        self.signing_bytes = 0  # of the last payload built: what the device's template buffer holds
        try:
            # Compact, raw UTF-8, integers as integers; exactly this text goes into the envelope.
            self._params_text = compact_json(params)
            self._params_bytes = self._params_text.encode()
            self._payload_hash = profiles.outbound_payload_hash(
                outbound.variant, params, self._params_text, self._extra.get("action")
            )
        except (TypeError, ValueError, HxtpRejection) as exc:
            raise HxtpError(Code.PARAMS_INVALID, f"params cannot be encoded: {exc}") from None

    def payload(self, sequence: int, now_ms: int) -> bytes:
        header: dict[str, Any] = {
            "version": self._outbound.version,
            "message_type": self._message_type,
            "device_id": self._device.device_id,
            "tenant_id": self._device.tenant_id,
            "client_id": self._client_id,
            "message_id": self.message_id,
            "request_id": self.message_id,
            "sequence_number": sequence,
            "timestamp": now_ms,
            "nonce": self._nonces(),
            "payload_hash": self._payload_hash,
            **self._extra,
        }
        try:
            signing = profiles.outbound_signing_string(
                self._outbound.variant, header, self._params, self._params_text
            )
        except HxtpRejection as rejection:  # e.g. non-ASCII for the v1.0.6 template
            raise HxtpError(Code.PARAMS_INVALID, str(rejection)) from None
        self.signing_bytes = len(signing.encode())
        if self._outbound.variant == ext.VARIANT_PY_ED25519:
            signature = self._signer.sign(signing)
        else:
            assert self._key is not None
            signature = self._key.sign(signing)
        # The header holds ids, numbers and the profile's strings; its text is not signed (the signing
        # string is built from the values), so orjson's compact UTF-8 serves.
        head = orjson.dumps(header)
        body = b"".join(
            (head[:-1], b',"params":', self._params_bytes, b',"signature":"', signature.encode(), b'"}')
        )
        if not self._outbound.framed:
            return body
        return ext.encode_frame(ext.frame_type_for(self._message_type), body)
