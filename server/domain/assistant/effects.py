"""What a catalog action does, in two directions: the action that undoes it (a plan's rollback) and
the state a device reports once it took effect (state verification).

Devices report state in their own words ({"power": "on"}, {"on": true}, ...), so an effect lists the
spellings that count: each key maps to the values accepted for it, and one key matching is enough.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

INVERSES: dict[str, str] = {
    "light_on": "light_off",
    "light_off": "light_on",
    "turn_on": "turn_off",
    "turn_off": "turn_on",
    "lock": "unlock",
    "unlock": "lock",
    "toggle": "toggle",
}

_ON = {"power": ("on", True), "on": (True, "on"), "state": ("on",)}
_OFF = {"power": ("off", False), "on": (False, "off"), "state": ("off",)}
_LOCKED = {"locked": (True, "locked"), "lock": ("locked", True)}
_UNLOCKED = {"locked": (False, "unlocked"), "lock": ("unlocked", False)}
_STATIC: dict[str, dict[str, tuple[Any, ...]]] = {
    "light_on": _ON,
    "turn_on": _ON,
    "light_off": _OFF,
    "turn_off": _OFF,
    "lock": _LOCKED,
    "unlock": _UNLOCKED,
}


def inverse_of(action: str) -> str | None:
    return INVERSES.get(action)


def expected_state(action: str, params: Mapping[str, Any]) -> dict[str, tuple[Any, ...]]:
    """key -> accepted values; empty when the action has no state a device reports (ping, status)."""
    if action in _STATIC:
        return dict(_STATIC[action])
    if action == "light_brightness" and "brightness" in params:
        return {"brightness": (params["brightness"],)}
    if action == "temp_set" and "temperature" in params:
        value = (params["temperature"],)
        return {"target_temperature": value, "setpoint": value, "temperature_target": value}
    return {}


def shows_effect(expected: Mapping[str, tuple[Any, ...]], observed: Mapping[str, Any]) -> bool:
    return any(key in observed and observed[key] in accepted for key, accepted in expected.items())


def described(expected: Mapping[str, tuple[Any, ...]]) -> dict[str, Any]:
    """The expectation as a reader wants it: each key with the first (canonical) accepted value."""
    return {key: accepted[0] for key, accepted in expected.items()}
