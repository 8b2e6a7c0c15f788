"""Device secrets: generated from a CSPRNG, sealed with AES-256-GCM under the master key.

The server must recover a device's secret to sign the commands it sends, so secrets are encrypted,
not hashed. The 256-bit AES key is derived with HKDF-SHA256 from HXTP_SECRET_KEY (any string; the
embedded default is 32 random bytes in hex, generated once under the data dir). Each sealed value is
`nonce(12) || ciphertext || tag(16)` with the device id and key version as associated data, so a
sealed secret copied onto another device's row or version does not open. Secrets are never logged;
they leave the server only in the register and rotate responses.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SECRET_BYTES = 32  # the firmware hex-decodes device_secret and requires exactly 32 bytes
_NONCE_BYTES = 12
_HKDF_INFO = b"hxtp-cloud device secrets v1"


def new_device_secret() -> str:
    """64 lowercase hex characters (contract §8.6)."""
    return secrets.token_hex(SECRET_BYTES)


class SecretUnreadable(Exception):
    """A sealed secret that does not open under the configured master key (key changed or data damaged)."""


class SecretBox:
    def __init__(self, master_key: str) -> None:
        if not master_key:
            raise ValueError("the device-secret master key is empty")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
            master_key.encode()
        )
        self._aead = AESGCM(key)

    @staticmethod
    def _context(device_id: str, version: int) -> bytes:
        return f"{device_id}:{version}".encode()

    def seal(self, secret_hex: str, device_id: str, version: int) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, bytes.fromhex(secret_hex), self._context(device_id, version))

    def open(self, sealed: bytes, device_id: str, version: int) -> bytes:
        """The raw 32-byte secret (what HMAC keys with)."""
        nonce, body = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, body, self._context(device_id, version))
        except InvalidTag:
            raise SecretUnreadable(f"key version {version} of device {device_id} does not open") from None
