"""Wire profiles a device may be registered with, and Ed25519 public keys of the devices that sign."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from server.domain import fields


@dataclass(frozen=True)
class Profile:
    name: str
    needs_public_key: bool = False


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("hxtp-3.1"),  # firmware b20fe44 / v1.0.7
        Profile("hxtp-3.0-fw"),  # firmware v1.0.6
        Profile("sdk-json"),  # hxtp-py / hxtp-js SDK devices
        Profile("hxtp-3.1-ed25519", needs_public_key=True),  # hxtp-py 1.2.0 signs with Ed25519
        Profile("hxtp-3.1-bound"),  # our firmware (firmware/): action and params bound by payload_hash
    )
}
DEFAULT_PROFILE = PROFILES["hxtp-3.1"]
_HEX_KEY = re.compile(r"^[0-9a-fA-F]{64}$")


def parse_profile(name: str) -> Profile:
    profile = PROFILES.get(name.strip().lower())
    if profile is None:
        raise fields.bad("protocol", f"unknown protocol profile {name!r}; use one of {sorted(PROFILES)}")
    return profile


def parse_public_key(text: str | None, required: bool) -> str | None:
    """An Ed25519 public key given as 64 hex characters or base64 of 32 bytes; stored as lowercase hex."""
    value = (text or "").strip()
    if not value:
        if required:
            raise fields.bad("public_key", "is required for the hxtp-3.1-ed25519 profile")
        return None
    if _HEX_KEY.match(value):
        return value.lower()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise fields.bad("public_key", "must be an Ed25519 key: 64 hex characters or base64 of 32 bytes")
    return raw.hex()
