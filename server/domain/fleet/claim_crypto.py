"""The cryptography of a device claim (README "Claiming a device"), kept apart from the rules.

- The device holds a P-256 key pair. It signs `CLAIM|<tenant_id>|<timestamp>` (UTF-8) with ECDSA
  over SHA-256; the signature travels as the DER encoding in hex.
- The server answers the device secret encrypted to that key alone: an ephemeral P-256 key, ECDH
  with the device's public key, HKDF-SHA256 (no salt, info `HXTP-CLAIM-V1|<device_id>`) to 32
  bytes, then AES-256-GCM with a 12-byte random IV and the device id as associated data. Every
  field is hex: the ephemeral public key as the uncompressed point (65 bytes, 04||X||Y), the IV, the
  16-byte tag, and the ciphertext of the 64-character hex secret (its ASCII bytes).
"""

from __future__ import annotations

import binascii
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from server.domain import fields

HKDF_INFO_PREFIX = b"HXTP-CLAIM-V1|"
TAG_BYTES = 16
IV_BYTES = 12


@dataclass(frozen=True)
class Sealed:
    ephemeral_public_key: str
    iv: str
    tag: str
    ciphertext: str


def claim_message(tenant_id: str, timestamp: str) -> bytes:
    return f"CLAIM|{tenant_id}|{timestamp}".encode()


def parse_device_key(text: str) -> ec.EllipticCurvePublicKey:
    """A P-256 public key as PEM (SubjectPublicKeyInfo) or as the hex of its uncompressed point."""
    value = text.strip()
    try:
        if value.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(value.encode())
        else:
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), bytes.fromhex(value))
    except (ValueError, TypeError, binascii.Error):
        raise fields.bad(
            "public_key", "must be a P-256 public key (PEM or uncompressed point in hex)"
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise fields.bad("public_key", "must be a P-256 (secp256r1) public key")
    return key


def signature_valid(key: ec.EllipticCurvePublicKey, signature_hex: str, message: bytes) -> bool:
    try:
        key.verify(bytes.fromhex(signature_hex.strip()), message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def derive_key(shared_secret: bytes, device_id: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO_PREFIX + device_id.encode()
    ).derive(shared_secret)


def seal_secret(key: ec.EllipticCurvePublicKey, device_id: str, secret: str) -> Sealed:
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    aes_key = derive_key(ephemeral.exchange(ec.ECDH(), key), device_id)
    iv = os.urandom(IV_BYTES)
    sealed = AESGCM(aes_key).encrypt(iv, secret.encode(), device_id.encode())
    point = ephemeral.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return Sealed(point.hex(), iv.hex(), sealed[-TAG_BYTES:].hex(), sealed[:-TAG_BYTES].hex())
