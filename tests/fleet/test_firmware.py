"""Firmware uploads, releases, downloads and update checks through REST and native gRPC."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from google.api import httpbody_pb2

from hxtp.cloud.v1 import firmware_pb2
from server.app import Application
from server.domain.identity.principal import Role
from tests.fleet.conftest import OTHER_TENANT, Client, Rpc
from tests.integration.harness import base_url, running, token

FIRMWARE = "/hxtp.cloud.v1.FirmwareService/"
IMAGE = b"\xe9\x04esp32 image" * 100


def _verify(public_hex: str, signature_hex: str, checksum: str) -> None:
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)).verify(
        bytes.fromhex(signature_hex), bytes.fromhex(checksum)
    )


def _published_key(app: Application) -> str:
    return (app.settings.data_dir / "firmware_signing_key.pub").read_text().strip()


def _signing_seed(app: Application) -> bytes:
    return bytes.fromhex((app.settings.data_dir / "firmware_signing_key").read_text().strip())


def _stored_image(app: Application, firmware_id: str) -> bytes:
    return (app.settings.firmware_dir / f"{firmware_id}.bin").read_bytes()


async def _upload(client: Client, version: str, image: bytes = IMAGE, **fields: str) -> httpx.Response:
    return await client.call(
        "POST",
        "/firmware/upload",
        files={"firmware": ("fw.bin", image, "application/octet-stream")},
        data={"version": version, "device_type": "esp32", **fields},
    )


async def test_upload_publish_check_download(app: Application, client: Client) -> None:
    uploaded = await _upload(client, "1.0.1", release="false")  # held until published
    assert uploaded.status_code == 201, uploaded.text
    body = uploaded.json()
    checksum = hashlib.sha256(IMAGE).hexdigest()
    assert (body["status"], body["version"], body["device_type"]) == ("uploaded", "1.0.1", "esp32")
    assert (body["checksum"], body["size"]) == (checksum, len(IMAGE))
    public_key = _published_key(app)
    _verify(public_key, body["ed25519_signature"], checksum)
    assert _stored_image(app, body["id"]) == IMAGE

    record = (await client.call("GET", f"/firmware/{body['id']}", role=Role.VIEWER)).json()
    assert record["status"] == "uploaded" and record["released_at"] is None
    assert record["download_url"] == f"{app.settings.api_base_url}/firmware/{body['id']}/download"
    assert record["signing_public_key"] == public_key

    query = {"device_type": "esp32", "current_version": "1.0.0"}
    unreleased = (await client.call("GET", "/firmware/check", role=Role.USER, params=query)).json()
    assert unreleased["update_available"] is False and unreleased["target_version"] == ""
    assert unreleased["url"] is None and unreleased["ed25519_signature"] is None

    published = await client.call("POST", f"/firmware/{body['id']}/release", json={})
    assert published.json() == {
        "status": "released",
        "id": body["id"],
        "version": "1.0.1",
        "device_type": "esp32",
    }
    for check in (
        await client.call("GET", "/firmware/check", role=Role.USER, params=query),
        await client.call("POST", "/firmware/check", role=Role.USER, json=query),
    ):
        answer = check.json()
        assert answer["update_available"] is True
        assert answer["target_version"] == answer["version"] == "1.0.1"
        assert answer["url"] == answer["download_url"] == record["download_url"]
        assert answer["checksum"] == checksum and answer["signing_public_key"] == public_key
        _verify(public_key, answer["ed25519_signature"], checksum)
    current = (
        await client.call("GET", "/firmware/check", params={**query, "current_version": "1.0.1"})
    ).json()
    assert current["update_available"] is False and current["version"] == "1.0.1"

    download = await client.call("GET", f"/firmware/{body['id']}/download", role=Role.VIEWER)
    assert download.status_code == 200 and download.content == IMAGE
    assert download.headers["content-type"] == "application/octet-stream"


async def test_an_upload_as_the_dashboard_sends_it_is_offered_at_once(
    app: Application, client: Client
) -> None:
    """The dashboard's firmware page posts the form and then checks with `_all`; it never releases."""
    uploaded = await client.call(
        "POST",
        "/firmware/upload",
        files={"firmware": ("helix.bin", IMAGE, "application/octet-stream")},
        data={"version": "3.1.0", "device_type": "helix_core_v2"},
    )
    assert uploaded.status_code == 201, uploaded.text
    body = uploaded.json()
    assert (body["status"], body["version"], body["device_type"]) == ("released", "3.1.0", "helix_core_v2")
    probe = {"device_type": "_all", "current_version": "0.0.0"}
    listed = (await client.call("GET", "/firmware/check", role=Role.USER, params=probe)).json()
    assert listed["update_available"] is True and listed["version"] == "3.1.0"
    assert listed["checksum"] == body["checksum"] and listed["ed25519_signature"] == body["ed25519_signature"]
    device = {"device_type": "helix_core_v2", "current_version": "3.0.0"}
    offered = (await client.call("GET", "/firmware/check", role=Role.USER, params=device)).json()
    assert offered["update_available"] is True and offered["download_url"].endswith(
        f"/firmware/{body['id']}/download"
    )
    download = await client.call("GET", f"/firmware/{body['id']}/download", role=Role.VIEWER)
    assert download.content == IMAGE


async def test_semantic_versions_types_and_devices(client: Client) -> None:
    for device_type, version in [
        ("esp32", "1.0.9"),
        ("esp32", "1.0.10"),
        ("esp32", "v1.1.0-beta.2"),
        ("esp32", "1.1.0-beta.10"),
        ("esp8266", "2.0.0"),
    ]:
        created = await client.call(
            "POST",
            "/firmware/release",
            json={
                "device_type": device_type,
                "version": version,
                "url": f"https://cdn.example/{version}.bin",
                "checksum": hashlib.sha256(version.encode()).hexdigest(),
                "size": 10,
            },
        )
        assert created.status_code == 201 and created.json()["status"] == "created"

    async def target(**params: str) -> tuple[bool, str]:
        answer = (await client.call("GET", "/firmware/check", params=params)).json()
        return answer["update_available"], answer["target_version"]

    assert await target(device_type="esp32", current_version="1.0.9") == (True, "1.1.0-beta.10")
    assert await target(device_type="esp32", current_version="1.1.0") == (False, "1.1.0-beta.10")
    assert await target(device_type="_all", current_version="0.0.0") == (True, "2.0.0")
    device = await client.device(await client.home(), device_type="esp8266")
    assert await target(device_id=device["device_id"], current_version="1.9") == (True, "2.0.0")
    url = await client.call(
        "GET", "/firmware/check", params={"device_type": "esp8266", "current_version": "1"}
    )
    assert url.json()["download_url"] == "https://cdn.example/2.0.0.bin"
    # Another tenant sees no release at all.
    other = await client.call(
        "GET",
        "/firmware/check",
        tenant=OTHER_TENANT,
        params={"device_type": "_all", "current_version": "0.0.0"},
    )
    assert other.json()["update_available"] is False


async def test_firmware_input_errors(app: Application, client: Client) -> None:
    first = (await _upload(client, "1.0.0")).json()
    checksum = hashlib.sha256(IMAGE).hexdigest()
    own_signature = Ed25519PrivateKey.from_private_bytes(_signing_seed(app)).sign(bytes.fromhex(checksum))
    signed = await _upload(client, "1.0.2", ed25519_signature=own_signature.hex())
    assert signed.status_code == 201 and signed.json()["ed25519_signature"] == own_signature.hex()
    stranger = Ed25519PrivateKey.generate().sign(bytes.fromhex(checksum)).hex()
    cases = [
        (await _upload(client, "1.0.0"), 409, None),
        (await _upload(client, "one"), 400, "version"),
        (await _upload(client, "1.0.3", image=b""), 400, "firmware"),
        (await _upload(client, "1.0.4", ed25519_signature=stranger), 400, "ed25519_signature"),
        (await _upload(client, "1.0.5", ed25519_signature="zz"), 400, "ed25519_signature"),
        (
            await client.call("POST", "/firmware/upload", json={"version": "1.0.6", "device_type": "esp32"}),
            400,
            "firmware",
        ),
        (
            await client.call(
                "POST",
                "/firmware/release",
                json={"device_type": "esp32", "version": "3.0.0", "url": "ftp://x", "checksum": checksum},
            ),
            400,
            "url",
        ),
        (
            await client.call(
                "POST",
                "/firmware/release",
                json={"device_type": "esp32", "version": "3.0.0", "url": "https://x", "checksum": "sha256"},
            ),
            400,
            "checksum",
        ),
        (
            await client.call(
                "POST",
                "/firmware/release",
                json={"version": "3.0.0", "url": "https://x", "checksum": checksum},
            ),
            400,
            "device_type",
        ),
        (
            await client.call("GET", "/firmware/check", params={"device_type": "esp32"}),
            400,
            "current_version",
        ),
        (
            await client.call("GET", "/firmware/check", params={"current_version": "1.0.0"}),
            400,
            "device_type",
        ),
        (
            await client.call(
                "GET", "/firmware/check", params={"device_type": "x", "current_version": "a.b"}
            ),
            400,
            "current_version",
        ),
        (
            await client.call("GET", "/firmware/check", params={"device_id": "nope", "current_version": "1"}),
            404,
            "device_id",
        ),
    ]
    for response, status, field in cases:
        assert (response.status_code, response.json().get("field")) == (status, field), response.text
    for method, path in [
        ("GET", "/firmware/nope"),
        ("POST", "/firmware/nope/release"),
        ("GET", "/firmware/nope/download"),
    ]:
        assert (await client.call(method, path)).status_code == 404
        foreign = path.replace("nope", first["id"])
        assert (await client.call(method, foreign, tenant=OTHER_TENANT)).status_code == 404
    assert (
        await client.call(
            "GET",
            "/firmware/check",
            role=Role.VIEWER,
            params={"device_type": "esp32", "current_version": "1"},
        )
    ).status_code == 403
    assert (await _upload_as_user(client)).status_code == 403


async def _upload_as_user(client: Client) -> httpx.Response:
    return await client.call(
        "POST",
        "/firmware/upload",
        role=Role.USER,
        files={"firmware": ("fw.bin", IMAGE)},
        data={"version": "9.9.9", "device_type": "x"},
    )


async def test_upload_size_limit_and_directory_are_settings(tmp_path: Path) -> None:
    images = tmp_path / "images"
    async with running(
        tmp_path / "data", wait_for_mqtt=False, HXTP_FIRMWARE_MAX_BYTES="16", HXTP_FIRMWARE_DIR=str(images)
    ) as app:
        async with httpx.AsyncClient(base_url=base_url(app)) as http:
            auth = {"authorization": f"Bearer {token(app)}"}
            form = {"version": "1.0.0", "device_type": "esp32"}
            too_big = await http.post(
                "/api/v1/firmware/upload", headers=auth, data=form, files={"firmware": ("fw.bin", b"x" * 17)}
            )
            fits = await http.post(
                "/api/v1/firmware/upload", headers=auth, data=form, files={"firmware": ("fw.bin", b"x" * 16)}
            )
    assert too_big.status_code == 413 and too_big.json()["field"] == "firmware"
    assert fits.status_code == 201
    assert _stored_image(app, fits.json()["id"]) == b"x" * 16 and app.settings.firmware_dir == images


async def test_firmware_over_grpc(app: Application, rpc: Rpc) -> None:
    uploaded = await rpc(
        FIRMWARE + "UploadFirmware",
        firmware_pb2.UploadFirmwareRequest(
            firmware=IMAGE, version="2.0.0", device_type="esp32", release=False
        ),
        firmware_pb2.UploadFirmwareResponse,
    )
    assert uploaded.checksum == hashlib.sha256(IMAGE).hexdigest()
    got = await rpc(
        FIRMWARE + "GetFirmware",
        firmware_pb2.GetFirmwareRequest(firmware_id=uploaded.id),
        firmware_pb2.Firmware,
        role=Role.VIEWER,
    )
    assert got.status == "uploaded" and got.signing_public_key == _published_key(app)
    released = await rpc(
        FIRMWARE + "ReleaseFirmware",
        firmware_pb2.ReleaseFirmwareRequest(firmware_id=uploaded.id),
        firmware_pb2.ReleaseFirmwareResponse,
    )
    assert released.status == "released"
    external = await rpc(
        FIRMWARE + "CreateFirmwareRelease",
        firmware_pb2.CreateFirmwareReleaseRequest(
            device_type="esp32", version="2.0.1", url="https://cdn.example/a.bin", checksum="ab" * 32
        ),
        firmware_pb2.CreateFirmwareReleaseResponse,
    )
    assert external.status == "created"
    check = await rpc(
        FIRMWARE + "CheckFirmware",
        firmware_pb2.CheckFirmwareRequest(device_type="esp32", current_version="2.0.0"),
        firmware_pb2.CheckFirmwareResponse,
        role=Role.USER,
    )
    assert (check.update_available, check.version, check.url) == (True, "2.0.1", "https://cdn.example/a.bin")
    _verify(check.signing_public_key, check.ed25519_signature, "ab" * 32)
    image = await rpc(
        FIRMWARE + "DownloadFirmware",
        firmware_pb2.DownloadFirmwareRequest(firmware_id=uploaded.id),
        httpbody_pb2.HttpBody,
    )
    assert image.data == IMAGE
    failures = [
        (
            "UploadFirmware",
            firmware_pb2.UploadFirmwareRequest(
                firmware=IMAGE, version="2.0.0", device_type="esp32", release=False
            ),
            firmware_pb2.UploadFirmwareResponse,
            "CONFLICT",
        ),
        (
            "CreateFirmwareRelease",
            firmware_pb2.CreateFirmwareReleaseRequest(device_type="esp32", version="x"),
            firmware_pb2.CreateFirmwareReleaseResponse,
            "BAD_REQUEST",
        ),
        (
            "GetFirmware",
            firmware_pb2.GetFirmwareRequest(firmware_id="nope"),
            firmware_pb2.Firmware,
            "NOT_FOUND",
        ),
        (
            "ReleaseFirmware",
            firmware_pb2.ReleaseFirmwareRequest(firmware_id="nope"),
            firmware_pb2.ReleaseFirmwareResponse,
            "NOT_FOUND",
        ),
        (
            "CheckFirmware",
            firmware_pb2.CheckFirmwareRequest(device_type="esp32", current_version="?"),
            firmware_pb2.CheckFirmwareResponse,
            "BAD_REQUEST",
        ),
        (
            "DownloadFirmware",
            firmware_pb2.DownloadFirmwareRequest(firmware_id=external.id),
            httpbody_pb2.HttpBody,
            "NOT_FOUND",
        ),
    ]
    for method, request, reply, code in failures:
        assert (await rpc.fails(FIRMWARE + method, request, reply))[0] == code, method
