"""Secrets the embedded defaults generate once and keep under the data directory."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def load_or_create_secret(configured: str, path: Path, nbytes: int = 32) -> str:
    """The configured value, else the one stored at `path`, else a new random one stored there (0600)."""
    if configured:
        return configured
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(nbytes)
    # O_EXCL: two processes starting together agree on the first one written.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


def publish_public_key(public_key_hex: str, path: Path) -> None:
    """Write a public key (hex) beside its seed, world-readable, where operators pick it up."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(public_key_hex + "\n")
