"""Wire profiles (spec "Profiles"): which signing variant, version string and framing a message uses.

Inbound, the variant is read off the message itself (framed or bare, `version`, signature length),
because a device registered under one profile may run another firmware (a v1.0.6 device registered
with the default `hxtp-3.1`); the variant that verifies is the profile recorded on `hello`.
Outbound, the signing variant the device's verified messages were seen to use decides (persisted with
its link state, server.domain.link.variants), else its recorded profile: the firmware accepts only its
own version string and only framed payloads, and a 3.0 SDK peer verifies only its own canonical JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

import ext
from ext import HxtpRejection, Reason
from server.keyfiles import publish_public_key

V31 = "HxTP/3.1"
V30 = "HxTP/3.0"
ACCEPTED_VERSIONS = frozenset({V31, V30})

PROFILE_FIRMWARE_31 = "hxtp-3.1"
PROFILE_FIRMWARE_30 = "hxtp-3.0-fw"
PROFILE_SDK_JSON = "sdk-json"
PROFILE_ED25519 = "hxtp-3.1-ed25519"
# Our own firmware (firmware/): hxtp-3.1 framing, version and signing string, but the payload hash
# is checked by the device over the exact params text, bound to the action (firmware/core protocol.h),
# so action and params are protected. Announced in hello as params.profile.
PROFILE_FIRMWARE_BOUND = "hxtp-3.1-bound"
VARIANT_FIRMWARE_BOUND = PROFILE_FIRMWARE_BOUND  # signs like ext.VARIANT_FIRMWARE_31, hashes bound

_ED25519_SIGNATURE_HEX = 128


@dataclass(frozen=True)
class Outbound:
    """How the server writes to a device of one profile."""

    variant: str
    version: str
    framed: bool
    hello_ack: bool  # hxtp-py 1.2.0 waits for one after HELLO; the firmware neither expects nor needs it
    # Bytes of the device's signing-template buffer: v1.0.6 builds its JSON template in 1,024 bytes
    # (with the terminating NUL), so a template of 1,024 or more fails there as CANONICAL_BUILD_FAILED.
    template_limit: int | None = None


V106_TEMPLATE_BUFFER = 1024


# What a peer verifies, per signing variant it was seen to sign with (spec §11 "For sdk-json peers":
# sign per the peer's version, payload_hash by that SDK's rule, bare JSON).
OUTBOUND_BY_VARIANT: dict[str, Outbound] = {
    ext.VARIANT_FIRMWARE_31: Outbound(ext.VARIANT_FIRMWARE_31, V31, framed=True, hello_ack=False),
    ext.VARIANT_FIRMWARE_30: Outbound(
        ext.VARIANT_FIRMWARE_30, V30, framed=True, hello_ack=False, template_limit=V106_TEMPLATE_BUFFER
    ),
    ext.VARIANT_PY_31: Outbound(ext.VARIANT_PY_31, V31, framed=False, hello_ack=False),
    ext.VARIANT_PY_30: Outbound(ext.VARIANT_PY_30, V30, framed=False, hello_ack=False),
    ext.VARIANT_JS_30: Outbound(ext.VARIANT_JS_30, V30, framed=False, hello_ack=False),
    ext.VARIANT_PY_ED25519: Outbound(ext.VARIANT_PY_ED25519, V31, framed=False, hello_ack=True),
}

OUTBOUND: dict[str, Outbound] = {
    PROFILE_FIRMWARE_31: Outbound(ext.VARIANT_FIRMWARE_31, V31, framed=True, hello_ack=False),
    PROFILE_FIRMWARE_30: OUTBOUND_BY_VARIANT[ext.VARIANT_FIRMWARE_30],
    # sdk-json peers are answered as hxtp-py 1.1.x (the 3.1 SDK that verifies HMAC commands).
    PROFILE_SDK_JSON: Outbound(ext.VARIANT_PY_31, V31, framed=False, hello_ack=False),
    PROFILE_ED25519: Outbound(ext.VARIANT_PY_ED25519, V31, framed=False, hello_ack=True),
    PROFILE_FIRMWARE_BOUND: Outbound(VARIANT_FIRMWARE_BOUND, V31, framed=True, hello_ack=False),
}

PROFILE_OF_VARIANT = {
    ext.VARIANT_FIRMWARE_31: PROFILE_FIRMWARE_31,
    ext.VARIANT_FIRMWARE_30: PROFILE_FIRMWARE_30,
    ext.VARIANT_PY_31: PROFILE_SDK_JSON,
    ext.VARIANT_PY_30: PROFILE_SDK_JSON,
    ext.VARIANT_JS_30: PROFILE_SDK_JSON,
    ext.VARIANT_PY_ED25519: PROFILE_ED25519,
}


def outbound_for(profile: str, learned_variant: str | None = None) -> Outbound:
    """How to write to a device: the signing variant its verified messages were seen to use, when
    known (it is proof of what the peer runs: a 3.0 SDK, a v1.0.6 firmware registered as hxtp-3.1);
    otherwise its recorded profile (sdk-json then means hxtp-py 1.1.x)."""
    if profile == PROFILE_FIRMWARE_BOUND and learned_variant in (None, ext.VARIANT_FIRMWARE_31):
        return OUTBOUND[PROFILE_FIRMWARE_BOUND]  # its messages verify as hxtp-3.1: same signing string
    if learned_variant is not None and learned_variant in OUTBOUND_BY_VARIANT:
        return OUTBOUND_BY_VARIANT[learned_variant]
    return OUTBOUND.get(profile, OUTBOUND[PROFILE_FIRMWARE_31])


def outbound_signing_string(
    variant: str, header: dict[str, Any], params: dict[str, Any], params_text: str
) -> str:
    """The string the peer's *validator* recomputes for a message we send (§5). The 3.0 SDKs verify
    a canonical JSON of everything they received but the signature, params included: hxtp-py <= 1.1.0
    its canonical_json of the envelope, hxtp-js its canonicalJson of every field (its signer leaves
    params out, its validator does not). The firmware template signs the params text itself."""
    if variant == ext.VARIANT_JS_30:
        return ext.signing_string_v30_js({**header, "params": params}, include_params=True)
    if variant == ext.VARIANT_PY_30:
        return ext.signing_string(variant, {**header, "params": params})
    if variant == VARIANT_FIRMWARE_BOUND:
        return ext.signing_string(ext.VARIANT_FIRMWARE_31, header, params_text)
    return ext.signing_string(variant, header, params_text)


def outbound_payload_hash(variant: str, params: dict[str, Any], params_text: str, action: object) -> str:
    """payload_hash of a message we send: the variant's rule (ext.outbound_payload_hash); for our
    firmware sha256 of the exact params text placed in the envelope, with a command's action bound in
    front (`action|params`), which the device checks, so neither can be rewritten on the broker."""
    if variant == VARIANT_FIRMWARE_BOUND:
        bound = params_text if not isinstance(action, str) else f"{action}|{params_text}"
        return ext.sha256_hex(bound)
    return ext.outbound_payload_hash(variant, params)


def profile_of(variant: str, message_type: str, params: dict[str, Any]) -> str:
    """The wire profile a verified message shows: by its signing variant, except that a hello of our
    firmware (framed hxtp-3.1) announces the hxtp-3.1-bound profile in params.profile."""
    if (
        variant == ext.VARIANT_FIRMWARE_31
        and message_type == "hello"
        and params.get("profile") == PROFILE_FIRMWARE_BOUND
    ):
        return PROFILE_FIRMWARE_BOUND
    return PROFILE_OF_VARIANT[variant]


def check_inbound_payload_hash(
    variants: tuple[str, ...], payload_hash: object, raw_params: bytes | None, params: dict[str, Any]
) -> None:
    """Step 4 (§4.3, §11): sha256 of the raw params text; SDK peers may hash their canonical form
    instead, and hxtp-js hashes its canonicalJson of the params (protocol key injected, §4.1)."""
    if not is_sdk_variant(variants[0]):
        ext.check_payload_hash(payload_hash, raw_params)
        return
    try:
        ext.check_payload_hash(payload_hash, raw_params, parsed_params=params)
    except HxtpRejection as rejection:
        if (
            rejection.reason != Reason.HASH_MISMATCH
            or ext.VARIANT_JS_30 not in variants
            or payload_hash != ext.outbound_payload_hash(ext.VARIANT_JS_30, params)
        ):
            raise


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

    def publish(self, path: Path) -> None:
        """The public key beside the seed (`link_signing_key.pub`): devices are configured with it."""
        publish_public_key(self.public_key_hex, path)
