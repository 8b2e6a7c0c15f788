"""Input checks shared by the domain: each failure is a 400 that names the field."""

from __future__ import annotations

import re
import unicodedata

from server.errors import Code, HxtpError

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def bad(field: str, problem: str) -> HxtpError:
    return HxtpError(Code.BAD_REQUEST, f"{field}: {problem}", field=field)


def text(field: str, value: str | None, max_length: int, required: bool = True, trim: bool = True) -> str:
    """The one text validator: a (trimmed) text without NUL within its bound; required ones not blank."""
    cleaned = (value or "").strip() if trim else (value or "")
    if required and not cleaned:
        raise bad(field, "is required")
    if "\x00" in cleaned:
        raise bad(field, "must not contain NUL characters")  # PostgreSQL text cannot hold them
    if len(cleaned) > max_length:
        raise bad(field, f"must be at most {max_length} characters")
    return cleaned


def identifier(field: str, value: str | None, max_length: int = 64) -> str:
    """A machine name such as a device type: letters, digits, '_', '.', '-'."""
    cleaned = text(field, value, max_length)
    if not _SAFE_NAME.match(cleaned):
        raise bad(field, "may contain only letters, digits, '_', '.' and '-'")
    return cleaned


def slugify(name: str, max_length: int) -> str:
    """Lowercase ASCII letters and digits joined by single '-' ("Café Nord" -> "cafe-nord"); may be ""."""
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")[:max_length].strip("-")
