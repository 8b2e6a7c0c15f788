"""The server's Ed25519 release key: every firmware release is signed so devices can verify images.

The signed message is the image's raw 32-byte SHA-256 digest (not its hex text), so externally hosted
releases, known only by checksum, are signed exactly like uploaded ones. Ed25519 is deterministic:
a signature supplied with an upload verifies only if it equals the server's own.

The private key is HXTP_FIRMWARE_SIGNING_KEY (32-byte seed in hex), else generated once under the
data dir (`firmware_signing_key`). The public key, 64 hex characters, is published in every
firmware record and update-check answer as `signing_public_key`, and written next to the private key
as `firmware_signing_key.pub` for operators who bake it into firmware.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from server.domain import fields

_HEX_SIGNATURE = re.compile(r"^[0-9a-fA-F]{128}$")


class ReleaseSigner:
    def __init__(self, seed_hex: str) -> None:
        try:
            seed = bytes.fromhex(seed_hex)
        except ValueError:
            seed = b""
        if len(seed) != 32:
            raise ValueError("the firmware signing key must be 32 bytes in hex (64 characters)")
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self._public: Ed25519PublicKey = self._key.public_key()
        self.public_key_hex = self._public.public_bytes_raw().hex()

    def publish(self, path: Path) -> None:
        """Write the public key (hex) where operators can pick it up."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.public_key_hex + "\n")

    def sign(self, checksum_hex: str) -> str:
        return self._key.sign(bytes.fromhex(checksum_hex)).hex()

    def checked_signature(self, given: str | None, checksum_hex: str) -> str:
        """The release signature; a supplied one (hex or base64) must verify, else a 400."""
        if given is None or not given.strip():
            return self.sign(checksum_hex)
        text = given.strip()
        try:
            raw = bytes.fromhex(text) if _HEX_SIGNATURE.match(text) else base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 64:
            raise fields.bad("ed25519_signature", "must be 64 bytes in hex (128 characters) or base64")
        try:
            self._public.verify(raw, bytes.fromhex(checksum_hex))
        except InvalidSignature:
            raise fields.bad(
                "ed25519_signature", "does not verify against the server's signing key for this image"
            ) from None
        return raw.hex()
