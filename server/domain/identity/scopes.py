"""API-key scopes: one normal form, and what each scope grants.

Clients write scopes in two orders (SEED `read:devices`, the dashboard `devices:read`); both mean the
same, so every scope is normalised to "resource:verb" once, when a key is created and when a route's
required scope is read from the protos. Unknown but well-formed scopes are kept (the dashboard offers
extras such as `health:read`); they simply grant nothing a route asks for.
"""

from __future__ import annotations

from collections.abc import Iterable

from server.errors import Code, HxtpError

VERBS = frozenset({"read", "write", "send", "upload", "delete", "manage"})
ALL = "*"

# A held scope also grants these (contract §3: commands need commands:send or devices:write; admin
# routes accept admin:write or admin:read; a writer may read what it writes).
_IMPLIES: dict[str, frozenset[str]] = {
    "devices:write": frozenset({"devices:read", "commands:send"}),
    "admin:write": frozenset({"admin:read"}),
    "firmware:upload": frozenset({"firmware:read"}),
}


def normalise(scope: str) -> str:
    """`read:devices` -> `devices:read`; raises BAD_REQUEST for text that is not `a:b` (or `*`)."""
    text = scope.strip().lower()
    if text == ALL:
        return ALL
    first, sep, second = text.partition(":")
    if not sep or not first or not second or ":" in second or " " in text:
        raise HxtpError(Code.BAD_REQUEST, f"scope {scope!r} is not of the form resource:verb")
    if first in VERBS and second not in VERBS:
        first, second = second, first
    return f"{first}:{second}"


def normalise_all(scopes: Iterable[str]) -> tuple[str, ...]:
    """Normalised, de-duplicated, sorted; entries may hold several comma-separated scopes."""
    found: set[str] = set()
    for entry in scopes:
        for part in entry.split(","):
            if part.strip():
                found.add(normalise(part))
    return tuple(sorted(found))


def granted(held: Iterable[str]) -> frozenset[str]:
    """Every scope the held ones grant, implications included."""
    result: set[str] = set()
    for scope in held:
        result.add(scope)
        result.update(_IMPLIES.get(scope, ()))
    return frozenset(result)


def allows(held: frozenset[str] | None, required: str) -> bool:
    """None = a user's own credential, which is limited by role only."""
    if held is None or not required:
        return True
    return ALL in held or normalise(required) in held
