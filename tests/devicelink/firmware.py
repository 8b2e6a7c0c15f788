"""A test device that speaks as the public hxtp-micro firmware does, built on `ext` and gmqtt only.

It writes envelopes the way the firmware's snprintf does (alphabetical keys, compact, the params text
verbatim, `"protocol":"hxtp/3.0"`, v1.0.6: quoted numbers), frames them, and checks inbound commands
the way `Core::process_inbound` does: frame type 0x02, its own version string, HMAC over its signing
string, payload_hash "" or sha256("{}") (the v1.0.6+ hash check turns any object into {}, spec §4.3),
sequence strictly above the last accepted one. It never imports server code.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv311

import ext

FIRMWARE_VERSIONS = {ext.VARIANT_FIRMWARE_31: "HxTP/3.1", ext.VARIANT_FIRMWARE_30: "HxTP/3.0"}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class MqttPeer:
    """A bare gmqtt client with an inbox: what any device or SDK transport is on the wire."""

    def __init__(self, url: str, client_id: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 1883
        self.client = Client(client_id)
        self.client.on_message = self._on_message
        self.inbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

    def _on_message(self, _client: Any, topic: str, payload: bytes, _qos: int, _props: Any) -> int:
        self.inbox.put_nowait((topic, payload))
        return 0

    async def connect(self) -> None:
        await self.client.connect(self.host, self.port, version=MQTTv311)

    async def subscribe(self, topic: str) -> None:
        subscribed = asyncio.get_running_loop().create_future()
        self.client.on_subscribe = lambda *_: subscribed.done() or subscribed.set_result(None)
        self.client.subscribe(topic, qos=1)
        async with asyncio.timeout(5):
            await subscribed

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=0)  # the firmware's PubSubClient publishes at QoS 0

    async def next_message(self, within: float = 5.0) -> tuple[str, bytes]:
        async with asyncio.timeout(within):
            return await self.inbox.get()

    async def close(self) -> None:
        await self.client.disconnect()


@dataclass
class FirmwareDevice:
    device_id: str
    tenant_id: str
    secret_hex: str
    variant: str = ext.VARIANT_FIRMWARE_31
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))  # a fresh UUID per boot
    sequence: int = 0  # persisted across boots by the firmware; +1 for every message built
    last_inbound_sequence: int | None = None

    @property
    def version(self) -> str:
        return FIRMWARE_VERSIONS[self.variant]

    def topic(self, channel: str) -> str:
        return ext.device_topic(self.tenant_id, self.device_id, channel)

    def build(
        self,
        message_type: str,
        params_text: str = "{}",
        *,
        timestamp: int | None = None,
        nonce: str | None = None,
        secret_hex: str | None = None,
        device_id: str | None = None,
        frame_type: int | None = None,
    ) -> bytes:
        """A framed message exactly as the firmware writes it."""
        self.sequence += 1
        message_id = str(uuid.uuid4())
        quoted = self.variant == ext.VARIANT_FIRMWARE_30  # v1.0.4-v1.0.6 quote the integers
        sequence: Any = str(self.sequence) if quoted else self.sequence
        stamp: Any = timestamp if timestamp is not None else now_ms()
        fields: dict[str, Any] = {
            "client_id": self.client_id,
            "device_id": device_id or self.device_id,
            "message_id": message_id,
            "message_type": message_type,
            "nonce": nonce or base64.b64encode(secrets.token_bytes(16)).decode(),  # 24-char base64
            "payload_hash": ext.sha256_hex(params_text),
            "protocol": "hxtp/3.0",
            "request_id": message_id,
            "sequence_number": sequence,
            "tenant_id": self.tenant_id,
            "timestamp": str(stamp) if quoted else stamp,
            "version": self.version,
        }
        signing = ext.signing_string(self.variant, fields, params_text)
        fields["signature"] = ext.HmacKey.from_hex(secret_hex or self.secret_hex).sign(signing)
        parts = []
        for key in sorted([*fields, "params"]):
            if key == "params":
                parts.append(f'"params":{params_text}')
            else:
                parts.append(f"{json.dumps(key)}:{json.dumps(fields[key])}")
        body = ("{" + ",".join(parts) + "}").encode()
        return ext.encode_frame(frame_type or ext.frame_type_for(message_type), body)

    def accept_command(self, payload: bytes) -> dict[str, Any]:
        """Check an inbound command as Core::process_inbound does; returns the envelope."""
        frame_type, body = ext.decode_frame(payload)
        assert frame_type == ext.FRAME_TYPES["command"], frame_type
        envelope = json.loads(body)
        assert envelope["version"] == self.version
        assert envelope["payload_hash"] in ("", ext.EMPTY_PARAMS_SHA256)
        raw_params = ext.extract_raw_params(body)
        signing = ext.signing_string(self.variant, envelope, raw_params)
        assert ext.HmacKey.from_hex(self.secret_hex).sign(signing) == envelope["signature"].lower()
        ext.check_timestamp(envelope["timestamp"], now_ms())
        sequence = envelope["sequence_number"]
        assert isinstance(sequence, int)
        if self.last_inbound_sequence is not None:
            assert sequence > self.last_inbound_sequence
        self.last_inbound_sequence = sequence
        assert isinstance(envelope["action"], str) and len(envelope["action"]) <= 31
        return dict(envelope)

    def ack(self, ref_message_id: str, error: str | None = None) -> bytes:
        if error is None:
            params = f'{{"ack_status":"executed","ref_message_id":"{ref_message_id}"}}'
        else:
            params = f'{{"ack_status":"failed","error":"{error}","ref_message_id":"{ref_message_id}"}}'
        return self.build("ack", params)
