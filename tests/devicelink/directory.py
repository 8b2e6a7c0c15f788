"""A LinkDirectory holding fixed devices: the port's contract for pipeline tests that replay the spec
vectors (the integration tests run the fleet's DeviceKeys itself)."""

from __future__ import annotations

from dataclasses import dataclass

VECTOR_SECRET = bytes(range(32)).hex()  # hxtp_vectors.json fixed_inputs
VECTOR_PREVIOUS_SECRET = bytes(range(31, -1, -1)).hex()
VECTOR_DEVICE = "a3f9c2e1b4d5867f90a1b2c3d4e5f601"
VECTOR_TENANT = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
VECTOR_NOW_MS = 1767225600000 + 1500


@dataclass(frozen=True)
class FixedDevice:
    device_id: str = VECTOR_DEVICE
    tenant_id: str = VECTOR_TENANT
    protocol: str = "hxtp-3.1"
    public_key: bytes | None = None
    revoked: bool = False


class FixedDirectory:
    def __init__(self, device: FixedDevice, secrets_hex: tuple[str, ...] = (VECTOR_SECRET,)) -> None:
        self.device = device
        self.secrets = [bytes.fromhex(s) for s in secrets_hex]

    async def profile(self, device_id: str) -> FixedDevice | None:
        return self.device if device_id == self.device.device_id else None

    async def active_and_previous(self, device_id: str) -> list[bytes]:
        return list(self.secrets) if device_id == self.device.device_id and not self.device.revoked else []

    async def adopt(self, device_id: str, secret: bytes) -> bool:
        """Fixed keys: the device's secrets never change here."""
        return False
