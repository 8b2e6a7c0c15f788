"""GET /api/v1/device/{id}/bootstrap as the firmware calls it (spec §5.4): X-HXTP-* headers only."""

from __future__ import annotations

import base64
import secrets
import time
import uuid

import ext
from tests.devicelink.conftest import Link

SOFTAP_TENANT = ""


def _headers(
    device_id: str,
    tenant_id: str,
    secret_hex: str,
    *,
    version: str = "HxTP/3.1",
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    stamp = timestamp if timestamp is not None else time.time_ns() // 1_000_000
    nonce = nonce or base64.b64encode(secrets.token_bytes(16)).decode()
    message_id = str(uuid.uuid4())
    signing = ext.signing_string_bootstrap(version, device_id, tenant_id, stamp, message_id, nonce)
    return {
        "X-HXTP-Version": version,
        "X-HXTP-Timestamp": str(stamp),
        "X-HXTP-Nonce": nonce,
        "X-HXTP-Message-ID": message_id,
        "X-HXTP-Signature": ext.HmacKey.from_hex(secret_hex).sign(signing),
    }


async def test_bootstrap_success_failures_replay_rotation_and_revocation(embedded_link: Link) -> None:
    link = embedded_link
    device = await link.register()
    device_id, tenant, secret = device["device_id"], device["tenant_id"], device["device_secret"]
    path = f"/api/v1/device/{device_id}/bootstrap"

    ok = await link.http.get(path, headers=_headers(device_id, tenant, secret))
    assert ok.status_code == 200, ok.text
    assert ok.json() == {
        "mqtt_endpoint": "mqtts://localhost:8883",
        "heartbeat_interval": 30,
        "server_public_key": link.app.link_signer.public_key_hex,  # firmware ignores other keys (§9.3)
    }
    # A SoftAP-provisioned device signs with an empty tenant (§9.1); v1.0.6 says HxTP/3.0.
    softap = _headers(device_id, SOFTAP_TENANT, secret, version="HxTP/3.0")
    assert (await link.http.get(path, headers=softap)).status_code == 200

    replayed = _headers(device_id, tenant, secret)
    assert (await link.http.get(path, headers=replayed)).status_code == 200
    again = await link.http.get(path, headers=replayed)
    assert (again.status_code, again.json()["reason"]) == (401, "NONCE_REUSED")

    now = time.time_ns() // 1_000_000
    cases = {
        "SIGNATURE_INVALID": _headers(device_id, tenant, "ab" * 32),
        "TIMESTAMP_EXPIRED": _headers(device_id, tenant, secret, timestamp=now - 60_000),
        "TIMESTAMP_FUTURE": _headers(device_id, tenant, secret, timestamp=now + 60_000),
        "VERSION_MISMATCH": _headers(device_id, tenant, secret, version="HxTP/2.0"),
        "SIGNATURE_MISSING": {**_headers(device_id, tenant, secret), "X-HXTP-Signature": ""},
    }
    for reason, headers in cases.items():
        refused = await link.http.get(path, headers=headers)
        assert (refused.status_code, refused.json()["code"], refused.json()["reason"]) == (
            401,
            "UNAUTHORIZED",
            reason,
        ), reason
    bare = await link.http.get(path)  # no headers at all
    assert (bare.status_code, bare.json()["reason"]) == (401, "VERSION_MISMATCH")
    # A refused request does not burn its nonce: signed correctly later, the same nonce passes once.
    nonce = base64.b64encode(secrets.token_bytes(16)).decode()
    bad = await link.http.get(path, headers=_headers(device_id, tenant, "cd" * 32, nonce=nonce))
    assert bad.status_code == 401
    later = await link.http.get(path, headers=_headers(device_id, tenant, secret, nonce=nonce))
    assert later.status_code == 200

    stranger = "0" * 32
    unknown = await link.http.get(
        f"/api/v1/device/{stranger}/bootstrap", headers=_headers(stranger, tenant, secret)
    )
    assert (unknown.status_code, unknown.json()["reason"]) == (401, "UNKNOWN_DEVICE")

    # Rotation: the new secret works, and the previous one still does during the grace period.
    rotated = await link.http.post(f"/api/v1/devices/{device_id}/rotate-secret", headers=link.headers())
    new_secret = rotated.json()["new_secret"]
    assert (await link.http.get(path, headers=_headers(device_id, tenant, new_secret))).status_code == 200
    assert (await link.http.get(path, headers=_headers(device_id, tenant, secret))).status_code == 200

    await link.http.post(f"/api/v1/devices/{device_id}/revoke", headers=link.headers())
    revoked = await link.http.get(path, headers=_headers(device_id, tenant, new_secret))
    assert revoked.status_code == 403


async def test_the_spec_vector_signing_string() -> None:
    """bootstrap_request/HxTP/3.1 of hxtp_vectors.json, through the same ext call the server uses."""
    signing = ext.signing_string_bootstrap(
        "HxTP/3.1",
        "a3f9c2e1b4d5867f90a1b2c3d4e5f601",
        "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        1767225600000,
        "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
        "ABEiM0RVZneImaq7zN3u/w==",
    )
    secret = bytes(range(32)).hex()
    assert ext.HmacKey.from_hex(secret).sign(signing) == (
        "5f939c72d42ee759eb03d3641fe8dab153ac312a56c275ee8e18e3b9acaf8629"
    )
