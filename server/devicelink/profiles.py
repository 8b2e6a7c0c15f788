"""Wire profiles (spec "Profiles"): which signing variant, version string and framing a message uses.

Inbound, the variant is read off the message itself (framed or bare, `version`, signature length),
because a device registered under one profile may run another firmware (a v1.0.6 device registered
with the default `hxtp-3.1`); the variant that verifies is the profile recorded on `hello`.
Outbound, the device's recorded profile decides: the firmware accepts only its own version string
and only framed payloads.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

import ext
from ext import HxtpRejection, Reason

V31 = "HxTP/3.1"
V30 = "HxTP/3.0"
ACCEPTED_VERSIONS = frozenset({V31, V30})

PROFILE_FIRMWARE_31 = "hxtp-3.1"
PROFILE_FIRMWARE_30 = "hxtp-3.0-fw"
PROFILE_SDK_JSON = "sdk-json"
PROFILE_ED25519 = "hxtp-3.1-ed25519"

_ED25519_SIGNATURE_HEX = 128


@dataclass(frozen=True)
class Outbound:
    """How the server writes to a device of one profile."""

    variant: str
    version: str
    framed: bool
    hello_ack: bool  # hxtp-py 1.2.0 waits for one after HELLO; the firmware neither expects nor needs it


OUTBOUND: dict[str, Outbound] = {
    PROFILE_FIRMWARE_31: Outbound(ext.VARIANT_FIRMWARE_31, V31, framed=True, hello_ack=False),
    PROFILE_FIRMWARE_30: Outbound(ext.VARIANT_FIRMWARE_30, V30, framed=True, hello_ack=False),
    # sdk-json peers are answered as hxtp-py 1.1.x (the 3.1 SDK that verifies HMAC commands).
    PROFILE_SDK_JSON: Outbound(ext.VARIANT_PY_31, V31, framed=False, hello_ack=False),
    PROFILE_ED25519: Outbound(ext.VARIANT_PY_ED25519, V31, framed=False, hello_ack=True),
}

PROFILE_OF_VARIANT = {
    ext.VARIANT_FIRMWARE_31: PROFILE_FIRMWARE_31,
    ext.VARIANT_FIRMWARE_30: PROFILE_FIRMWARE_30,
    ext.VARIANT_PY_31: PROFILE_SDK_JSON,
    ext.VARIANT_PY_30: PROFILE_SDK_JSON,
    ext.VARIANT_JS_30: PROFILE_SDK_JSON,
    ext.VARIANT_PY_ED25519: PROFILE_ED25519,
}


def outbound_for(profile: str) -> Outbound:
    return OUTBOUND.get(profile, OUTBOUND[PROFILE_FIRMWARE_31])


def inbound_variants(framed: bool, version: str, signature: object) -> tuple[str, ...]:
    """Signing variants to try for a message, in order (spec "Profile selection")."""
    if framed:
        return (ext.VARIANT_FIRMWARE_31,) if version == V31 else (ext.VARIANT_FIRMWARE_30,)
    if version == V31:
        if isinstance(signature, str) and len(signature) == _ED25519_SIGNATURE_HEX:
            return (ext.VARIANT_PY_ED25519,)
        return (ext.VARIANT_PY_31,)
    return (ext.VARIANT_PY_30, ext.VARIANT_JS_30)


def is_sdk_variant(variant: str) -> bool:
    return variant not in (ext.VARIANT_FIRMWARE_31, ext.VARIANT_FIRMWARE_30)


def verify_ed25519(message: str, signature: object, public_key: bytes | None) -> None:
    """hxtp-py 1.2.0 verification (§5.2): hex-decoded, so case-insensitive; the one registered key."""
    if signature is None or signature == "":
        raise HxtpRejection(Reason.SIGNATURE_MISSING, "Missing signature")
    if public_key is None or len(public_key) != 32:
        raise HxtpRejection(Reason.SECRET_INVALID, "No Ed25519 public key registered for the device")
    try:
        raw = bytes.fromhex(signature) if isinstance(signature, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != 64:
        raise HxtpRejection(Reason.SIGNATURE_INVALID, "Ed25519 signature must be 128 hex characters")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(raw, message.encode("utf-8"))
    except InvalidSignature:
        raise HxtpRejection(Reason.SIGNATURE_INVALID, "Ed25519 verification failed") from None


class LinkSigner:
    """The server's own Ed25519 key for hxtp-3.1-ed25519 peers (it never holds a device's seed)."""

    def __init__(self, seed_hex: str) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex))
        self.public_key_hex = self._key.public_key().public_bytes_raw().hex()

    def sign(self, message: str) -> str:
        return self._key.sign(message.encode("utf-8")).hex()
