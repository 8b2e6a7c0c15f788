"""DeviceService: registration, listing, secrets, key history, revocation (rules: domain.fleet.devices).

Bootstrap and the latest state belong to the device link (server.domain.link.bootstrap, device_messages);
claims to server.domain.fleet.claims.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hxtp.cloud.v1 import device_pb2
from server.domain import fields
from server.domain.fleet.claims import DeviceClaims
from server.domain.fleet.devices import ROTATION_NEXT_STEP, Devices, DeviceView
from server.domain.link.bootstrap import Bootstrap
from server.domain.link.messages import DeviceMessages
from server.rpc.chain import metadata_dict
from server.rpc.convert import dict_to_struct, tenant, when


def device_message(device: DeviceView) -> device_pb2.Device:
    return device_pb2.Device(
        id=device.id,
        device_type=device.device_type,
        home_id=device.home_id,
        room_id=device.room_id,
        firmware=device.firmware,
        last_seen=when(device.last_seen),
        last_heartbeat=when(device.last_heartbeat),
        active=device.active,
        revoked=device.revoked,
        key_version=device.key_version,
        status=device.status,
        created_at=when(device.created_at),
        updated_at=when(device.updated_at),
    )


@dataclass(frozen=True)
class LinkFacts:
    """What the device routes publish about the link: the server's Ed25519 public key (hex) and the
    telemetry retention settings."""

    public_key_hex: str
    telemetry_keep: int
    telemetry_retention_seconds: int


def _optional(request: Any, name: str) -> str | None:
    return getattr(request, name) if request.HasField(name) else None


class DeviceServicer:
    def __init__(
        self,
        devices: Devices,
        bootstrap: Bootstrap,
        messages: DeviceMessages,
        link: LinkFacts,
        claims: DeviceClaims,
    ) -> None:
        self._devices = devices
        self._bootstrap = bootstrap
        self._messages = messages
        self._link = link
        self._claims = claims

    async def ClaimDevice(
        self, request: device_pb2.ClaimDeviceRequest, context: Any
    ) -> device_pb2.ClaimDeviceResponse:
        claimed = await self._claims.claim(
            tenant(), request.public_key, request.device_type, request.signature, request.timestamp
        )
        sealed = claimed.sealed
        return device_pb2.ClaimDeviceResponse(
            device_id=claimed.device_id,
            encrypted_secret=device_pb2.EncryptedSecret(
                ephemeral_public_key=sealed.ephemeral_public_key,
                iv=sealed.iv,
                tag=sealed.tag,
                ciphertext=sealed.ciphertext,
            ),
            key_version=claimed.key_version,
            protocol_version=claimed.protocol_version,
            mqtt_endpoint=claimed.mqtt_endpoint,
            tenant_id=claimed.tenant_id,
        )

    async def RegisterDevice(
        self, request: device_pb2.RegisterDeviceRequest, context: Any
    ) -> device_pb2.RegisterDeviceResponse:
        done = await self._devices.register(
            tenant(),
            request.device_type,
            request.home_id,
            _optional(request, "room_id") or None,
            _optional(request, "protocol"),
            _optional(request, "public_key"),
        )
        return device_pb2.RegisterDeviceResponse(
            status="registered",
            device_id=done.device_id,
            tenant_id=done.tenant_id,
            api_base_url=done.api_base_url,
            device_secret=done.device_secret,
            initial_sequence=done.initial_sequence,
            home_id=done.home_id,
            room_id=done.room_id,
            server_public_key=self._link.public_key_hex,
        )

    async def ListDevices(
        self, request: device_pb2.ListDevicesRequest, context: Any
    ) -> device_pb2.ListDevicesResponse:
        devices, total = await self._devices.page(
            tenant(),
            _optional(request, "home_id"),
            _optional(request, "room_id"),
            request.limit,
            request.offset,
        )
        return device_pb2.ListDevicesResponse(devices=[device_message(d) for d in devices], count=total)

    async def GetDevice(self, request: device_pb2.GetDeviceRequest, context: Any) -> device_pb2.Device:
        return device_message(await self._devices.read(tenant(), request.device_id))

    async def RotateDeviceSecret(
        self, request: device_pb2.RotateDeviceSecretRequest, context: Any
    ) -> device_pb2.RotateDeviceSecretResponse:
        secret, version = await self._devices.rotate(tenant(), request.device_id)
        return device_pb2.RotateDeviceSecretResponse(
            device_id=request.device_id, new_secret=secret, key_version=version, next_step=ROTATION_NEXT_STEP
        )

    async def GetDeviceKeyHistory(
        self, request: device_pb2.GetDeviceKeyHistoryRequest, context: Any
    ) -> device_pb2.GetDeviceKeyHistoryResponse:
        current, history = await self._devices.key_history(tenant(), request.device_id)
        return device_pb2.GetDeviceKeyHistoryResponse(
            device_id=request.device_id,
            current_version=current,
            history=[
                device_pb2.DeviceKeyVersion(
                    version=k.version,
                    created_at=when(k.created_at),
                    algorithm=k.algorithm,
                    status=k.status,
                    adopted_at=when(k.adopted_at),
                )
                for k in history
            ],
        )

    async def RevokeDevice(
        self, request: device_pb2.RevokeDeviceRequest, context: Any
    ) -> device_pb2.RevokeDeviceResponse:
        await self._devices.revoke(tenant(), request.device_id)
        return device_pb2.RevokeDeviceResponse(device_id=request.device_id, status="revoked")

    async def BootstrapDevice(
        self, request: device_pb2.BootstrapDeviceRequest, context: Any
    ) -> device_pb2.BootstrapDeviceResponse:
        # The gateway forwards the X-HXTP-* headers as metadata with lower-case names.
        answer = await self._bootstrap.answer(request.device_id, metadata_dict(context))
        return device_pb2.BootstrapDeviceResponse(
            mqtt_endpoint=answer.mqtt_endpoint,
            heartbeat_interval=answer.heartbeat_interval,
            server_public_key=answer.server_public_key,
        )

    async def GetDeviceTelemetry(
        self, request: device_pb2.GetDeviceTelemetryRequest, context: Any
    ) -> device_pb2.GetDeviceTelemetryResponse:
        if request.limit < 0:
            raise fields.bad("limit", "must not be negative")
        if request.since < 0:
            raise fields.bad("since", "must not be negative")
        device = await self._devices.get(tenant(), request.device_id)  # another tenant's device: 404
        samples = await self._messages.telemetry(device.id, request.limit or None, request.since or None)
        return device_pb2.GetDeviceTelemetryResponse(
            device_id=device.id,
            samples=[
                device_pb2.TelemetrySample(
                    data=dict_to_struct(sample["data"]),
                    timestamp=sample["timestamp"],
                    received_at=sample["received_at"],
                )
                for sample in samples
            ],
            count=len(samples),
            keep=self._link.telemetry_keep,
            retention_seconds=self._link.telemetry_retention_seconds,
        )

    async def GetLinkKey(
        self, request: device_pb2.GetLinkKeyRequest, context: Any
    ) -> device_pb2.GetLinkKeyResponse:
        return device_pb2.GetLinkKeyResponse(
            public_key=self._link.public_key_hex, algorithm="Ed25519", protocol="hxtp-3.1-ed25519"
        )

    async def GetDeviceState(
        self, request: device_pb2.GetDeviceStateRequest, context: Any
    ) -> device_pb2.GetDeviceStateResponse:
        device = await self._devices.get(tenant(), request.device_id)  # another tenant's device: 404
        latest = await self._messages.latest_state(device.id)
        state, updated_ms = latest if latest is not None else ({}, None)
        return device_pb2.GetDeviceStateResponse(
            device_id=device.id,
            state=dict_to_struct(state),
            active=device.active,
            last_seen=when(device.last_seen),
            updated_at=when(datetime.fromtimestamp(updated_ms / 1000, UTC))
            if updated_ms is not None
            else None,
        )
