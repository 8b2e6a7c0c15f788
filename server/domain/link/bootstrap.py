"""Firmware bootstrap (wire protocol §5.4, §9.3): `GET /device/{id}/bootstrap` with X-HXTP-* headers.

The request is authenticated by its headers alone: HMAC-SHA256 with the device secret over
`{version}|bootstrap|{device_id}|{tenant_id}|{timestamp_ms}|{message_id}|{nonce}` (unescaped). The
tenant in that string is whatever the device holds: its tenant, or "" for a SoftAP-provisioned device
(§9.1), so both are tried. Checks: version, time window, signature with the active then the previous
secret, then the nonce is claimed once in the cache (after the signature, so nobody can burn a
device's nonces). The answer is the broker endpoint and heartbeat interval from configuration.

Failures are UNAUTHORIZED with the reason code (VERSION_MISMATCH, TIMESTAMP_EXPIRED, NONCE_REUSED,
SIGNATURE_INVALID, ...) as the error's reason; a revoked device is FORBIDDEN.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import ext
from ext import HxtpRejection, Reason
from server.cache.base import Cache
from server.domain.clock import epoch_ms
from server.domain.link.ports import LinkDirectory
from server.errors import Code, HxtpError

HEADER_VERSION = "x-hxtp-version"
HEADER_TIMESTAMP = "x-hxtp-timestamp"
HEADER_NONCE = "x-hxtp-nonce"
HEADER_MESSAGE_ID = "x-hxtp-message-id"
HEADER_SIGNATURE = "x-hxtp-signature"
VERSIONS = frozenset({"HxTP/3.1", "HxTP/3.0"})
UNKNOWN_DEVICE = "UNKNOWN_DEVICE"
_NONCE_MAX = 64


@dataclass(frozen=True)
class BootstrapAnswer:
    mqtt_endpoint: str
    heartbeat_interval: int
    server_public_key: str = ""  # the server's Ed25519 link key (hex), for hxtp-3.1-ed25519 devices


class Bootstrap:
    def __init__(
        self,
        directory: LinkDirectory,
        cache: Cache,
        answer: BootstrapAnswer,
        *,
        max_age_s: int = 30,
        max_future_s: int = 5,
        clock_ms: Callable[[], int] = epoch_ms,
    ) -> None:
        self._directory = directory
        self._cache = cache
        self._answer = answer
        self._max_age_s = max_age_s
        self._max_future_s = max_future_s
        self._clock_ms = clock_ms

    async def answer(self, device_id: str, headers: Mapping[str, str]) -> BootstrapAnswer:
        """`headers` with lower-case names (as gRPC metadata carries them)."""
        device = await self._directory.profile(device_id)
        if device is None:
            raise HxtpError(Code.UNAUTHORIZED, UNKNOWN_DEVICE)
        if device.revoked:
            raise HxtpError(Code.FORBIDDEN, "DEVICE_REVOKED")
        try:
            nonce = await self._verify(device_id, device.tenant_id, headers)
        except HxtpRejection as rejection:
            raise HxtpError(Code.UNAUTHORIZED, rejection.reason) from None
        # Held past the window's end: by then the timestamp check refuses the request anyway.
        ttl = float(self._max_age_s + self._max_future_s + 1)
        if not await self._cache.set_if_absent(f"hxtp:bootstrap-nonce:{device_id}:{nonce}", b"1", ttl):
            raise HxtpError(Code.UNAUTHORIZED, Reason.NONCE_REUSED)
        return self._answer

    async def _verify(self, device_id: str, tenant_id: str, headers: Mapping[str, str]) -> str:
        version = ext.check_version(headers.get(HEADER_VERSION), VERSIONS)
        timestamp = ext.wire_int(headers.get(HEADER_TIMESTAMP), "timestamp")
        ext.check_timestamp(
            timestamp, self._clock_ms(), max_age_s=self._max_age_s, max_future_s=self._max_future_s
        )
        nonce = headers.get(HEADER_NONCE, "")
        if not nonce:
            raise HxtpRejection(Reason.NONCE_MISSING, "Missing nonce")
        if len(nonce) > _NONCE_MAX:
            raise HxtpRejection(Reason.FIELD_INVALID, "nonce too long")
        message_id = headers.get(HEADER_MESSAGE_ID, "")
        secrets = await self._directory.active_and_previous(device_id)
        if not secrets:
            raise HxtpRejection(Reason.SECRET_INVALID, "no usable secret")
        keys = [ext.HmacKey(secret) for secret in secrets]
        signature = headers.get(HEADER_SIGNATURE)
        failure: HxtpRejection | None = None
        for tenant in dict.fromkeys((tenant_id, "")):  # the device's tenant, then none (SoftAP)
            text = ext.signing_string_bootstrap(version, device_id, tenant, timestamp, message_id, nonce)
            try:
                index = ext.verify_hmac(text, signature, keys)
            except HxtpRejection as rejection:
                failure = rejection
                continue
            if index > 0:  # signed with a rotated-in secret: the device holds it now
                await self._directory.adopt(device_id, secrets[index])
            return nonce
        assert failure is not None
        raise failure
