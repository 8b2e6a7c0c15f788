"""The global capability registry: one catalog in code, the same for every tenant.

Ids are sequential in registry order and never reused, because firmware pairs a uint16 id with an
action name (contract §6.3, §6.7): 1 light_on "Turn light on" is fixed by the API reference, the rest
follow the contract's suggestions. A device type that names a category gets that category's actions
in its automatic manifest; every automatic manifest also carries the basic `ping` and `status`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class Capability:
    id: int
    action: str
    description: str
    category: str
    safety_class: str = "normal"
    param_schema: dict[str, Any] = field(default_factory=dict)
    supports_dry_run: bool = False


def _number(name: str, kind: str, **limits: float) -> dict[str, Any]:
    return {"type": "object", "properties": {name: {"type": kind, **limits}}, "required": [name]}


BASIC = "basic"

CATALOG: tuple[Capability, ...] = (
    Capability(1, "light_on", "Turn light on", "light"),
    Capability(2, "light_off", "Turn light off", "light"),
    Capability(
        3,
        "light_brightness",
        "Set light brightness (percent)",
        "light",
        param_schema=_number("brightness", "integer", minimum=0, maximum=100),
    ),
    Capability(
        4, "temp_set", "Set the target temperature", "climate", param_schema=_number("temperature", "number")
    ),
    Capability(5, "mode_auto", "Switch climate control to automatic mode", "climate"),
    Capability(6, "turn_on", "Turn switch on", "switch"),
    Capability(7, "turn_off", "Turn switch off", "switch"),
    Capability(8, "toggle", "Toggle switch", "switch"),
    Capability(9, "lock", "Lock", "lock", safety_class="critical", supports_dry_run=True),
    Capability(10, "unlock", "Unlock", "lock", safety_class="critical", supports_dry_run=True),
    Capability(11, "read_temperature", "Read the temperature sensor", "sensor"),
    Capability(
        12,
        "calibrate",
        "Calibrate the sensor (optional offset)",
        "sensor",
        safety_class="sensitive",
        param_schema={"type": "object", "properties": {"offset": {"type": "number"}}},
    ),
    Capability(13, "ping", "Check that the device answers", BASIC),
    Capability(14, "status", "Report the device status", BASIC),
)

BY_ACTION: MappingProxyType[str, Capability] = MappingProxyType({c.action: c for c in CATALOG})


def _categories() -> dict[str, tuple[str, ...]]:
    grouped: dict[str, list[str]] = {}
    for capability in CATALOG:
        grouped.setdefault(capability.category, []).append(capability.action)
    return {name: tuple(actions) for name, actions in grouped.items()}


CATEGORIES: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(_categories())
# Other words device types use for a category (DOCS' helix_* types, GOCLI's smart_switch, ...).
_SYNONYMS = {
    "lamp": "light",
    "bulb": "light",
    "thermostat": "climate",
    "hvac": "climate",
    "relay": "switch",
    "plug": "switch",
    "outlet": "switch",
    "doorlock": "lock",
}
_WORDS = re.compile(r"[^a-z0-9]+")


def category_for_type(device_type: str) -> str | None:
    """The category a device type names ("light", "helix_lock", "smart_switch"), else None (generic)."""
    for word in reversed(_WORDS.split(device_type.lower())):
        name = _SYNONYMS.get(word, word)
        if name in CATEGORIES and name != BASIC:
            return name
    return None


def default_capabilities(device_type: str) -> list[Capability]:
    """What a freshly registered device of this type may be asked to do."""
    category = category_for_type(device_type)
    actions = (CATEGORIES[category] if category else ()) + CATEGORIES[BASIC]
    return [BY_ACTION[action] for action in actions]
