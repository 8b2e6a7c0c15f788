"""Reference twin, manifest half: a params validator compiled once per action schema (REST §6.5).

Supported JSON Schema subset: `type` (object, string, integer, number, boolean, array), `properties`,
`required`, `enum`, `minimum`, `maximum`, `minLength`, `maxLength`, `additionalProperties` (boolean or
schema, default allow); `description` is ignored; an empty or missing schema accepts any object.
Any other keyword makes compilation fail with `SchemaInvalid` naming it, so a manifest never silently
loses a rule.

The CLIs send every param as a string, so where a schema expects integer, number or boolean, a
well-formed string ("80", "-2.5e3", "true") is converted first. The validator returns a new params
dict carrying the converted values and never mutates its input.

Check order for one value: type (with conversion), enum, minimum, maximum, minLength, maxLength, then
for objects the `required` names in schema order and the members in the order they arrived.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ext._errors import ParamsInvalid, SchemaInvalid

MAX_SCHEMA_DEPTH = 32
SCHEMA_TYPES = ("object", "string", "integer", "number", "boolean", "array")
_KNOWN_KEYWORDS = frozenset(
    {"type", "properties", "required", "enum", "minimum", "maximum", "minLength", "maxLength",
     "additionalProperties", "description"}
)
_INTEGER_TEXT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_NUMBER_TEXT = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_ROOT = "schema"


def compile_params_schema(schema: dict[str, Any] | None) -> ParamsValidator:
    """Compile an action's paramSchema once; the result is called for every command."""
    if schema is None:
        schema = {}
    root = _compile_node(schema, _ROOT, 0)
    if root.type not in (None, "object"):
        raise SchemaInvalid(
            "type", _ROOT, f"params are an object, so the root cannot declare {root.type!r} for"
        )
    return ParamsValidator(root)


class ParamsValidator:
    """Callable: `validator(params) -> converted params`, raising `ParamsInvalid`. `None` counts as `{}`."""

    __slots__ = ("_root",)

    def __init__(self, root: _Node) -> None:
        self._root = root

    def __call__(self, params: Any) -> dict[str, Any]:
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise ParamsInvalid("params", "type object")
        return self._root.check_members(params, "")

    def __repr__(self) -> str:
        return "ParamsValidator()"


class _Node:
    """One compiled (sub)schema. Rule texts are built at compile time, not per command."""

    __slots__ = (
        "additional",
        "enum",
        "enum_rule",
        "max_length",
        "maximum",
        "min_length",
        "minimum",
        "properties",
        "required",
        "type",
    )

    def __init__(self) -> None:
        self.type: str | None = None
        self.properties: dict[str, _Node] = {}
        self.required: list[str] = []
        self.enum: list[Any] | None = None
        self.enum_rule = ""
        self.minimum: tuple[int | float, str] | None = None
        self.maximum: tuple[int | float, str] | None = None
        self.min_length: int | None = None
        self.max_length: int | None = None
        self.additional: bool | _Node = True

    def check(self, value: Any, path: str) -> Any:
        value = self.converted(value, path)
        if self.enum is not None and not any(_json_equal(value, option) for option in self.enum):
            raise ParamsInvalid(path, self.enum_rule)
        if _is_number(value):
            if self.minimum is not None and value < self.minimum[0]:
                raise ParamsInvalid(path, self.minimum[1])
            if self.maximum is not None and value > self.maximum[0]:
                raise ParamsInvalid(path, self.maximum[1])
        elif isinstance(value, str):
            if self.min_length is not None and len(value) < self.min_length:
                raise ParamsInvalid(path, f"minLength {self.min_length}")
            if self.max_length is not None and len(value) > self.max_length:
                raise ParamsInvalid(path, f"maxLength {self.max_length}")
        elif isinstance(value, dict):
            return self.check_members(value, path + ".")
        return value

    def check_members(self, members: dict[Any, Any], prefix: str) -> dict[Any, Any]:
        for name in self.required:
            if name not in members:
                raise ParamsInvalid(prefix + name, "required")
        checked = {}
        for name, member in members.items():
            node = self.properties.get(name) if isinstance(name, str) else None
            if node is None:
                node = self.additional_node(name, prefix)
            checked[name] = member if node is None else node.check(member, f"{prefix}{name}")
        return checked

    def additional_node(self, name: Any, prefix: str) -> _Node | None:
        if self.additional is False:
            raise ParamsInvalid(f"{prefix}{name}", "additionalProperties false")
        return None if self.additional is True else self.additional

    def converted(self, value: Any, path: str) -> Any:
        kind = self.type
        if kind is None:
            return value
        result = _CONVERTERS[kind](value)
        if result is _REFUSED:
            raise ParamsInvalid(path, f"type {kind}")
        return result


# ── conversions: a value of the expected type, or _REFUSED ───────────────────────────────

_REFUSED = object()


def _as_string(value: Any) -> Any:
    return value if isinstance(value, str) else _REFUSED


def _as_integer(value: Any) -> Any:
    if isinstance(value, bool):
        return _REFUSED
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else _REFUSED
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):
        return _int_from_text(value)
    return _REFUSED


def _as_number(value: Any) -> Any:
    if isinstance(value, bool):
        return _REFUSED
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _REFUSED
    if isinstance(value, str):
        match = _NUMBER_TEXT.fullmatch(value)
        if match is None:
            return _REFUSED
        if match.group(1) is None and match.group(2) is None:
            return _int_from_text(value)
        number = float(value)
        return number if math.isfinite(number) else _REFUSED
    return _REFUSED


def _as_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if value == "true" and isinstance(value, str):
        return True
    if value == "false" and isinstance(value, str):
        return False
    return _REFUSED


def _as_array(value: Any) -> Any:
    return value if isinstance(value, list) else _REFUSED


def _as_object(value: Any) -> Any:
    return value if isinstance(value, dict) else _REFUSED


def _int_from_text(text: str) -> Any:
    try:
        return int(text)
    except ValueError:  # beyond the interpreter's integer-digits limit: not a usable number
        return _REFUSED


_CONVERTERS = {
    "string": _as_string,
    "integer": _as_integer,
    "number": _as_number,
    "boolean": _as_boolean,
    "array": _as_array,
    "object": _as_object,
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_equal(left: Any, right: Any) -> bool:
    # JSON equality: 1 == 1.0, but true is not 1 and "1" is not 1.
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if _is_number(left) and _is_number(right):
        return bool(left == right)
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_json_equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_json_equal(left[key], right[key]) for key in left)
    return left is None and right is None


# ── compilation ──────────────────────────────────────────────────────────────────────────


def _compile_node(schema: Any, location: str, depth: int) -> _Node:
    if not isinstance(schema, dict):
        raise SchemaInvalid(location.rpartition(".")[2], location, "expected a schema object for")
    if depth > MAX_SCHEMA_DEPTH:
        raise SchemaInvalid("properties", location, f"nesting deeper than {MAX_SCHEMA_DEPTH} under")
    node = _Node()
    for keyword, value in schema.items():
        if keyword not in _KNOWN_KEYWORDS:
            raise SchemaInvalid(str(keyword), location, "unsupported keyword")
        _COMPILERS[keyword](node, value, location, depth)
    return node


def _compile_type(node: _Node, value: Any, location: str, depth: int) -> None:
    if not isinstance(value, str) or value not in SCHEMA_TYPES:
        raise SchemaInvalid("type", location, f"unsupported value {value!r} for keyword")
    node.type = value


def _compile_properties(node: _Node, value: Any, location: str, depth: int) -> None:
    if not isinstance(value, dict):
        raise SchemaInvalid("properties", location, "expected an object of schemas for")
    for name, subschema in value.items():
        if not isinstance(name, str):
            raise SchemaInvalid("properties", location, f"non-string property name {name!r} under")
        node.properties[name] = _compile_node(subschema, f"{location}.properties.{name}", depth + 1)


def _compile_required(node: _Node, value: Any, location: str, depth: int) -> None:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise SchemaInvalid("required", location, "expected a list of names for")
    node.required = list(value)


def _compile_enum(node: _Node, value: Any, location: str, depth: int) -> None:
    if not isinstance(value, list):
        raise SchemaInvalid("enum", location, "expected a list for")
    try:
        node.enum_rule = "enum " + json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        raise SchemaInvalid("enum", location, "expected JSON values for") from None
    node.enum = list(value)


def _compile_limit(keyword: str) -> Any:
    def compile_limit(node: _Node, value: Any, location: str, depth: int) -> None:
        if not _is_number(value) or (isinstance(value, float) and not math.isfinite(value)):
            raise SchemaInvalid(keyword, location, "expected a finite number for")
        setattr(node, keyword, (value, f"{keyword} {json.dumps(value)}"))

    return compile_limit


def _compile_length(attribute: str, keyword: str) -> Any:
    def compile_length(node: _Node, value: Any, location: str, depth: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SchemaInvalid(keyword, location, "expected a non-negative integer for")
        setattr(node, attribute, value)

    return compile_length


def _compile_additional(node: _Node, value: Any, location: str, depth: int) -> None:
    if isinstance(value, bool):
        node.additional = value
    else:
        node.additional = _compile_node(value, f"{location}.additionalProperties", depth + 1)


def _ignore(node: _Node, value: Any, location: str, depth: int) -> None:
    """`description` documents the parameter for people; it constrains nothing."""


_COMPILERS = {
    "type": _compile_type,
    "properties": _compile_properties,
    "required": _compile_required,
    "enum": _compile_enum,
    "minimum": _compile_limit("minimum"),
    "maximum": _compile_limit("maximum"),
    "minLength": _compile_length("min_length", "minLength"),
    "maxLength": _compile_length("max_length", "maxLength"),
    "additionalProperties": _compile_additional,
    "description": _ignore,
}
