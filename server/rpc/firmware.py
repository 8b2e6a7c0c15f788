"""FirmwareService: uploads, releases, downloads and update checks (rules: domain.firmware)."""

from __future__ import annotations

from typing import Any

from google.api import httpbody_pb2

from hxtp.cloud.v1 import firmware_pb2
from server.domain.firmware.releases import FirmwareReleases, FirmwareView
from server.domain.firmware.rollout import Rollouts, RolloutView
from server.rpc.call_context import principal
from server.rpc.chain import metadata_dict
from server.rpc.convert import tenant, when


def _firmware(f: FirmwareView) -> firmware_pb2.Firmware:
    return firmware_pb2.Firmware(
        id=f.id,
        device_type=f.device_type,
        version=f.version,
        checksum=f.checksum,
        size=f.size,
        ed25519_signature=f.ed25519_signature,
        download_url=f.download_url,
        status=f.status,
        released_at=when(f.released_at),
        created_at=when(f.created_at),
        signing_public_key=f.signing_public_key,
    )


def _rollout(r: RolloutView) -> firmware_pb2.Rollout:
    return firmware_pb2.Rollout(
        id=r.id,
        firmware_id=r.firmware_id,
        version=r.version,
        status=r.status,
        stages=r.stages,
        current_stage=r.current_stage + 1,
        failure_threshold=r.failure_threshold,
        reason=r.reason,
        created_at=when(r.created_at),
        updated_at=when(r.updated_at),
        devices=[
            firmware_pb2.RolloutDevice(
                device_id=d.device_id,
                stage=d.stage + 1,
                status=d.status,
                reason=d.reason,
                command_id=d.command_id,
                updated_at=when(d.updated_at),
            )
            for d in r.devices
        ],
    )


class FirmwareServicer:
    def __init__(self, releases: FirmwareReleases, rollouts: Rollouts) -> None:
        self._releases = releases
        self._rollouts = rollouts

    async def CheckFirmware(
        self, request: firmware_pb2.CheckFirmwareRequest, context: Any
    ) -> firmware_pb2.CheckFirmwareResponse:
        device_id = request.device_id if request.HasField("device_id") else None
        check = await self._releases.check(tenant(), request.device_type, request.current_version, device_id)
        answer = firmware_pb2.CheckFirmwareResponse(
            update_available=check.update_available, signing_public_key=check.signing_public_key
        )
        if check.latest is not None:
            latest = check.latest
            answer.target_version = answer.version = latest.version
            answer.url = answer.download_url = latest.download_url
            answer.checksum = latest.checksum
            answer.ed25519_signature = latest.ed25519_signature
            answer.firmware_id = latest.id
        return answer

    async def UploadFirmware(
        self, request: firmware_pb2.UploadFirmwareRequest, context: Any
    ) -> firmware_pb2.UploadFirmwareResponse:
        signature = request.ed25519_signature if request.HasField("ed25519_signature") else None
        release = request.release if request.HasField("release") else True
        f = await self._releases.upload(
            tenant(), request.firmware, request.version, request.device_type, signature, release
        )
        return firmware_pb2.UploadFirmwareResponse(
            status=f.status,
            id=f.id,
            version=f.version,
            device_type=f.device_type,
            checksum=f.checksum,
            size=f.size,
            ed25519_signature=f.ed25519_signature,
            created_at=when(f.created_at),
        )

    async def CreateFirmwareRelease(
        self, request: firmware_pb2.CreateFirmwareReleaseRequest, context: Any
    ) -> firmware_pb2.CreateFirmwareReleaseResponse:
        f = await self._releases.create_release(
            tenant(),
            request.device_type,
            request.version,
            request.url,
            request.checksum,
            request.ed25519_signature if request.HasField("ed25519_signature") else None,
            request.size if request.HasField("size") else None,
        )
        return firmware_pb2.CreateFirmwareReleaseResponse(status="created", id=f.id)

    async def GetFirmware(
        self, request: firmware_pb2.GetFirmwareRequest, context: Any
    ) -> firmware_pb2.Firmware:
        return _firmware(await self._releases.get(tenant(), request.firmware_id))

    async def ReleaseFirmware(
        self, request: firmware_pb2.ReleaseFirmwareRequest, context: Any
    ) -> firmware_pb2.ReleaseFirmwareResponse:
        f = await self._releases.release(tenant(), request.firmware_id)
        return firmware_pb2.ReleaseFirmwareResponse(
            status="released", id=f.id, version=f.version, device_type=f.device_type
        )

    async def DownloadFirmware(
        self, request: firmware_pb2.DownloadFirmwareRequest, context: Any
    ) -> httpbody_pb2.HttpBody:
        data = await self._releases.image(tenant(), request.firmware_id)
        return httpbody_pb2.HttpBody(content_type="application/octet-stream", data=data)

    async def StartRollout(
        self, request: firmware_pb2.StartRolloutRequest, context: Any
    ) -> firmware_pb2.Rollout:
        view = await self._rollouts.start(
            tenant(),
            principal().user_id,
            request.firmware_id,
            device_ids=list(request.device_ids),
            group=request.group if request.HasField("group") else "",
            device_type=request.device_type if request.HasField("device_type") else "",
            percentage=request.percentage if request.HasField("percentage") else None,
            stages=list(request.stages),
            failure_threshold=request.failure_threshold if request.HasField("failure_threshold") else 0,
        )
        return _rollout(view)

    async def GetRollout(self, request: firmware_pb2.GetRolloutRequest, context: Any) -> firmware_pb2.Rollout:
        return _rollout(await self._rollouts.latest(tenant(), request.firmware_id))

    async def GetFirmwareImage(
        self, request: firmware_pb2.GetFirmwareImageRequest, context: Any
    ) -> httpbody_pb2.HttpBody:
        # The gateway forwards the X-HXTP-* headers as metadata with lower-case names.
        data = await self._rollouts.image_for_device(request.firmware_id, metadata_dict(context))
        return httpbody_pb2.HttpBody(content_type="application/octet-stream", data=data)
