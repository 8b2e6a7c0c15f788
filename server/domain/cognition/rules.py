"""Declarative rules that turn an observation into a command proposal.

A tenant's rules are a JSON list, evaluated in order; the first rule that matches fires:

    {
      "name": "lights on when someone enters",
      "context": "room_entry",              (optional: only observations with this context)
      "when": {"occupancy": true,           (every key must hold; a plain value means equality,
               "lux": {"lt": 40}},           an object uses operators eq, ne, gt, gte, lt, lte)
      "then": {
        "action": "light_on",
        "params": {},                        (optional)
        "target": "room",                    ("device": the observing device; "room": the devices
        "category": "light"                   of its room, optionally only those of a category)
      }
    }

A tenant that has set no rules gets DEFAULT_RULES. Nothing is dispatched by a rule: it proposes, and
a person approves (which runs the command gates).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from server.errors import Code, HxtpError

# The README shows this very rule as the example and as what a tenant without rules gets; a test
# keeps the two equal, so a reader's rule and the server's are one.
DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "name": "lights on when someone enters",
        "context": "room_entry",
        "when": {"occupancy": True, "lux": {"lt": 40}},
        "then": {"action": "light_on", "params": {}, "target": "room", "category": "light"},
    }
]
MAX_RULES = 100
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
_TARGETS = ("device", "room")


@dataclass(frozen=True)
class Rule:
    name: str
    when: dict[str, Any]
    action: str
    target: str
    params: dict[str, Any] = field(default_factory=dict)
    context: str | None = None
    category: str | None = None

    def matches(self, data: Mapping[str, Any], context: str) -> bool:
        if self.context is not None and self.context != context:
            return False
        return all(key in data and _holds(data[key], condition) for key, condition in self.when.items())


def _holds(value: Any, condition: Any) -> bool:
    if not isinstance(condition, dict):
        return bool(value == condition)
    try:
        return all(_OPERATORS[name](value, expected) for name, expected in condition.items())
    except TypeError:  # comparing unlike types (a string against a number) simply does not match
        return False


def _bad(index: int, where: str, problem: str) -> HxtpError:
    return HxtpError(Code.BAD_REQUEST, f"rules[{index}].{where}: {problem}", field=f"rules[{index}].{where}")


def _parse_one(index: int, raw: Any) -> Rule:
    if not isinstance(raw, dict):
        raise _bad(index, "", "must be an object")
    when, then = raw.get("when"), raw.get("then")
    if not isinstance(when, dict) or not when:
        raise _bad(index, "when", "must be a non-empty object")
    for key, condition in when.items():
        if isinstance(condition, dict):
            unknown = set(condition) - set(_OPERATORS)
            if unknown or not condition:
                raise _bad(index, f"when.{key}", f"operators are {', '.join(_OPERATORS)}")
    if not isinstance(then, dict) or not isinstance(then.get("action"), str) or not then["action"]:
        raise _bad(index, "then.action", "is required")
    target = then.get("target", "device")
    if target not in _TARGETS:
        raise _bad(index, "then.target", "must be device or room")
    params = then.get("params", {})
    if not isinstance(params, dict):
        raise _bad(index, "then.params", "must be an object")
    context, category = raw.get("context"), then.get("category")
    for where, value in (("context", context), ("then.category", category)):
        if value is not None and not isinstance(value, str):
            raise _bad(index, where, "must be a string")
    return Rule(
        str(raw.get("name", f"rule {index + 1}")), when, then["action"], target, params, context, category
    )


def parse_rules(raw_rules: list[Any]) -> list[Rule]:
    """The one validation of a rule list; a bad rule is a 400 naming it and the part that is wrong."""
    if len(raw_rules) > MAX_RULES:
        raise HxtpError(Code.BAD_REQUEST, f"at most {MAX_RULES} rules", field="rules")
    return [_parse_one(index, raw) for index, raw in enumerate(raw_rules)]


def first_match(rules: list[Rule], data: Mapping[str, Any], context: str) -> Rule | None:
    return next((rule for rule in rules if rule.matches(data, context)), None)
