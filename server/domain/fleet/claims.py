"""Claiming a device: a device proves it holds a P-256 key by signing the claiming tenant and a fresh
timestamp, and receives a newly registered identity whose secret only that key can decrypt.

Rules, in order: the key parses (400) -> the timestamp is a number inside the window (400) -> the
signature verifies over `CLAIM|tenant_id|timestamp` (403) ->
the same signed claim was not seen before (409: a replay) -> the device is registered in the
tenant's first home (one is created when the tenant has none) -> the secret is sealed to the key.
The replay record lives in the cache for the whole window, so a replayed claim is refused on every
replica until its timestamp is too old to pass anyway.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from server.cache.base import Cache
from server.domain import fields
from server.domain.fleet import claim_crypto
from server.domain.fleet.devices import Devices
from server.domain.fleet.homes import Homes
from server.errors import Code, HxtpError

# The firmware's own profile: a claimed device speaks HxTP 3.1 with an HMAC secret.
PROTOCOL_VERSION = "HxTP/3.1"
# Clocks of devices without NTP drift ahead too; a claim signed a minute "in the future" is still fresh.
MAX_FUTURE_SECONDS = 60.0
MAX_KEY_TEXT = 4096  # a P-256 public key in PEM is about 180 characters; hex, 130
DEFAULT_HOME = "My Home"
_MILLIS_FROM = 10**11  # larger timestamps are milliseconds (JavaScript's Date.now()), smaller seconds


@dataclass(frozen=True)
class ClaimWindow:
    max_age_seconds: float
    max_future_seconds: float


@dataclass(frozen=True)
class Claimed:
    device_id: str
    tenant_id: str
    key_version: int
    sealed: claim_crypto.Sealed
    protocol_version: str
    mqtt_endpoint: str


def _seconds(timestamp: str) -> float:
    try:
        value = float(timestamp.strip())
    except ValueError:
        raise fields.bad("timestamp", "must be Unix time in milliseconds (or seconds)") from None
    return value / 1000 if value >= _MILLIS_FROM else value


class DeviceClaims:
    def __init__(
        self, devices: Devices, homes: Homes, cache: Cache, window: ClaimWindow, mqtt_endpoint: str
    ) -> None:
        self._devices = devices
        self._homes = homes
        self._cache = cache
        self._window = window
        self._mqtt_endpoint = mqtt_endpoint

    async def claim(
        self, tenant_id: str, public_key: str, device_type: str, signature: str, timestamp: str
    ) -> Claimed:
        key = claim_crypto.parse_device_key(fields.text("public_key", public_key, MAX_KEY_TEXT))
        fields.identifier("device_type", device_type)
        if not signature.strip():
            raise fields.bad("signature", "is required")
        age = time.time() - _seconds(timestamp)
        if age > self._window.max_age_seconds or -age > self._window.max_future_seconds:
            raise HxtpError(
                Code.BAD_REQUEST,
                f"timestamp is outside the claim window ({int(self._window.max_age_seconds)} s old at most)",
                field="timestamp",
            )
        message = claim_crypto.claim_message(tenant_id, timestamp.strip())
        if not claim_crypto.signature_valid(key, signature, message):
            raise HxtpError(Code.FORBIDDEN, "signature does not verify over CLAIM|tenant_id|timestamp")
        seen = "claim-seen:" + hashlib.sha256(message + b"|" + public_key.strip().encode()).hexdigest()
        ttl = self._window.max_age_seconds + self._window.max_future_seconds + 1
        if not await self._cache.set_if_absent(seen, b"1", ttl=ttl):
            raise HxtpError(Code.CONFLICT, "this claim was already used; sign a new timestamp")
        registration = await self._devices.register(tenant_id, device_type, await self._home(tenant_id), None)
        sealed = claim_crypto.seal_secret(key, registration.device_id, registration.device_secret)
        return Claimed(registration.device_id, tenant_id, 1, sealed, PROTOCOL_VERSION, self._mqtt_endpoint)

    async def _home(self, tenant_id: str) -> str:
        homes = await self._homes.all(tenant_id)
        if homes:
            return homes[0].id
        return (await self._homes.create(tenant_id, DEFAULT_HOME, None)).id
