"""POST /device/claim as a device maker implements it from the README: the device signs
CLAIM|tenant_id|timestamp with its P-256 key, and decrypts the answer with that key alone. The
device side here is written from the README's description (ECDH, HKDF-SHA256, AES-256-GCM), not from
the server's code; the decrypted secret then signs a real bootstrap request."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gateway.transport import error_detail
from hxtp.cloud.v1 import device_pb2, errors_pb2
from server.app import Application
from server.domain.identity.principal import Role
from tests.devicelink.test_bootstrap import _headers as bootstrap_headers
from tests.identity.conftest import backend  # noqa: F401  (embedded and PostgreSQL + Redis)
from tests.integration.harness import base_url, running, token

TENANT = "tenant-1"


class ClaimingDevice:
    """What a device's firmware does: own a P-256 key, sign the claim, open the sealed secret."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())

    @property
    def public_pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def sign(self, tenant_id: str, timestamp: str) -> str:
        return self.key.sign(f"CLAIM|{tenant_id}|{timestamp}".encode(), ec.ECDSA(hashes.SHA256())).hex()

    def claim_body(self, tenant_id: str = TENANT, timestamp: str | None = None) -> dict[str, str]:
        stamp = timestamp if timestamp is not None else str(int(time.time() * 1000))  # Date.now()
        return {
            "public_key": self.public_pem,
            "device_type": "light",
            "signature": self.sign(tenant_id, stamp),
            "timestamp": stamp,
        }

    def open(self, device_id: str, sealed: dict[str, str]) -> str:
        server_point = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), bytes.fromhex(sealed["ephemeral_public_key"])
        )
        shared = self.key.exchange(ec.ECDH(), server_point)
        aes_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"HXTP-CLAIM-V1|" + device_id.encode()
        ).derive(shared)
        plaintext = AESGCM(aes_key).decrypt(
            bytes.fromhex(sealed["iv"]),
            bytes.fromhex(sealed["ciphertext"]) + bytes.fromhex(sealed["tag"]),
            device_id.encode(),
        )
        return plaintext.decode()


@pytest.fixture
async def app(backend: dict[str, str], tmp_path: Path) -> AsyncIterator[Application]:  # noqa: F811
    async with running(
        tmp_path, wait_for_mqtt=False, HXTP_CLAIM_WINDOW_SECONDS="120", **backend
    ) as application:
        yield application


@pytest.fixture
async def http(app: Application) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=base_url(app) + "/api/v1",
        headers={"authorization": f"Bearer {token(app, tenant_id=TENANT)}"},
        timeout=10,
    ) as client:
        yield client


async def test_a_claimed_device_decrypts_its_secret_and_uses_it(
    app: Application, http: httpx.AsyncClient
) -> None:
    device = ClaimingDevice()
    response = await http.post("/device/claim", json=device.claim_body())
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    assert set(body["encrypted_secret"]) == {"ephemeral_public_key", "iv", "tag", "ciphertext"}
    assert body["key_version"] == 1 and body["protocol_version"] == "HxTP/3.1"
    assert body["mqtt_endpoint"] == "mqtts://localhost:8883" and body["tenant_id"] == TENANT
    device_id = body["device_id"]
    secret = device.open(device_id, body["encrypted_secret"])
    assert len(secret) == 64 and int(secret, 16) >= 0

    listed = (await http.get(f"/devices/{device_id}")).json()
    assert listed["device_type"] == "light" and listed["key_version"] == 1
    bootstrap = await http.get(
        f"/device/{device_id}/bootstrap",
        headers={"authorization": "", **bootstrap_headers(device_id, TENANT, secret)},
    )
    assert bootstrap.status_code == 200, bootstrap.text  # the decrypted secret is the device's own

    other = ClaimingDevice()  # only the claiming key opens it
    with pytest.raises(InvalidTag):
        other.open(device_id, body["encrypted_secret"])


async def test_claims_that_must_be_refused(http: httpx.AsyncClient) -> None:
    device = ClaimingDevice()
    body = device.claim_body()
    assert (await http.post("/device/claim", json=body)).status_code in (200, 201)
    replay = await http.post("/device/claim", json=body)
    assert (replay.status_code, replay.json()["code"]) == (409, "CONFLICT")

    stale = device.claim_body(timestamp=str(int((time.time() - 600) * 1000)))
    old = await http.post("/device/claim", json=stale)
    assert (old.status_code, old.json()["field"]) == (400, "timestamp")
    future = device.claim_body(timestamp=str(int(time.time() + 600)))  # seconds are accepted too
    assert (await http.post("/device/claim", json=future)).status_code == 400

    other_tenant = device.claim_body(tenant_id="tenant-2")  # signed for another tenant
    forged = await http.post("/device/claim", json=other_tenant)
    assert (forged.status_code, forged.json()["code"]) == (403, "FORBIDDEN")
    impostor = {**device.claim_body(), "public_key": ClaimingDevice().public_pem}
    assert (await http.post("/device/claim", json=impostor)).status_code == 403
    garbage = {**device.claim_body(), "signature": "zz"}
    assert (await http.post("/device/claim", json=garbage)).status_code == 403

    not_a_key = await http.post("/device/claim", json={**device.claim_body(), "public_key": "hello"})
    assert (not_a_key.status_code, not_a_key.json()["field"]) == (400, "public_key")
    ed25519_sized = {**device.claim_body(), "public_key": "ab" * 32}
    assert (await http.post("/device/claim", json=ed25519_sized)).status_code == 400
    no_type = await http.post("/device/claim", json={**device.claim_body(), "device_type": ""})
    assert no_type.status_code == 400
    nothing = await http.post("/device/claim", json={})
    assert nothing.status_code == 400


async def test_claim_over_native_grpc_and_the_role_rule(app: Application) -> None:
    device = ClaimingDevice()
    body = device.claim_body()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.ports.grpc}") as channel:
        claim = channel.unary_unary(
            "/hxtp.cloud.v1.DeviceService/ClaimDevice",
            request_serializer=device_pb2.ClaimDeviceRequest.SerializeToString,
            response_deserializer=device_pb2.ClaimDeviceResponse.FromString,
        )
        admin = (("authorization", f"Bearer {token(app, tenant_id=TENANT)}"),)
        reply = await claim(device_pb2.ClaimDeviceRequest(**body), metadata=admin)
        secret = device.open(
            reply.device_id,
            {
                "ephemeral_public_key": reply.encrypted_secret.ephemeral_public_key,
                "iv": reply.encrypted_secret.iv,
                "tag": reply.encrypted_secret.tag,
                "ciphertext": reply.encrypted_secret.ciphertext,
            },
        )
        assert len(secret) == 64
        viewer = (("authorization", f"Bearer {token(app, role=Role.VIEWER, tenant_id=TENANT)}"),)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await claim(device_pb2.ClaimDeviceRequest(**device.claim_body()), metadata=viewer)
        detail = error_detail(refused.value.trailing_metadata() or ())
        assert detail is not None and detail.code == errors_pb2.FORBIDDEN
