# Included by _hotpath.pyx. Twin of ext/_reference_schema.py: manifest params validator, compiled once
# per schema into a tree of C-level nodes.

import math as _math
import re as _re

cdef int _MAX_SCHEMA_DEPTH = 32
cdef tuple _SCHEMA_TYPES = ("object", "string", "integer", "number", "boolean", "array")
cdef frozenset _KNOWN_KEYWORDS = frozenset(
    {"type", "properties", "required", "enum", "minimum", "maximum", "minLength", "maxLength",
     "additionalProperties", "description"}
)
cdef object _INTEGER_TEXT = _re.compile(r"-?(?:0|[1-9][0-9]*)")
cdef object _NUMBER_TEXT = _re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
cdef str _ROOT = "schema"

cdef enum _Kind:
    KIND_ANY, KIND_OBJECT, KIND_STRING, KIND_INTEGER, KIND_NUMBER, KIND_BOOLEAN, KIND_ARRAY

cdef dict _KIND_OF = {"object": KIND_OBJECT, "string": KIND_STRING, "integer": KIND_INTEGER,
                      "number": KIND_NUMBER, "boolean": KIND_BOOLEAN, "array": KIND_ARRAY}
cdef object _REFUSED = object()


def compile_params_schema(schema):
    """Compile an action's paramSchema once; the result is called for every command."""
    if schema is None:
        schema = {}
    cdef _Node root = _compile_node(schema, _ROOT, 0)
    if root.type_name is not None and root.type_name != "object":
        raise SchemaInvalid(
            "type", _ROOT, f"params are an object, so the root cannot declare {root.type_name!r} for"
        )
    return ParamsValidator(root)


cdef class ParamsValidator:
    """Callable: `validator(params) -> converted params`, raising `ParamsInvalid`. `None` counts as `{}`."""

    cdef _Node _root

    def __init__(self, _Node root):
        self._root = root

    def __call__(self, params):
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise ParamsInvalid("params", "type object")
        return self._root.check_members(params, "")

    def __repr__(self):
        return "ParamsValidator()"


cdef class _Node:
    cdef int kind
    cdef object type_name
    cdef dict properties
    cdef list required
    cdef list enum
    cdef str enum_rule
    cdef object minimum, minimum_rule, maximum, maximum_rule
    cdef object min_length, max_length
    cdef object additional  # True, False or a _Node

    def __cinit__(self):
        self.kind = KIND_ANY
        self.type_name = None
        self.properties = {}
        self.required = []
        self.enum = None
        self.enum_rule = ""
        self.additional = True

    cdef object check(self, object value, str path):
        value = self.converted(value, path)
        if self.enum is not None and not _in_enum(value, self.enum):
            raise ParamsInvalid(path, self.enum_rule)
        if _is_number(value):
            if self.minimum is not None and value < self.minimum:
                raise ParamsInvalid(path, self.minimum_rule)
            if self.maximum is not None and value > self.maximum:
                raise ParamsInvalid(path, self.maximum_rule)
        elif isinstance(value, str):
            if self.min_length is not None and len(value) < self.min_length:
                raise ParamsInvalid(path, f"minLength {self.min_length}")
            if self.max_length is not None and len(value) > self.max_length:
                raise ParamsInvalid(path, f"maxLength {self.max_length}")
        elif isinstance(value, dict):
            return self.check_members(value, path + ".")
        return value

    cdef dict check_members(self, dict members, str prefix):
        for name in self.required:
            if name not in members:
                raise ParamsInvalid(prefix + name, "required")
        cdef dict checked = {}
        cdef _Node node
        for name, member in members.items():
            node = self.properties.get(name) if isinstance(name, str) else None
            if node is None:
                node = self.additional_node(name, prefix)
            checked[name] = member if node is None else node.check(member, f"{prefix}{name}")
        return checked

    cdef _Node additional_node(self, object name, str prefix):
        if self.additional is False:
            raise ParamsInvalid(f"{prefix}{name}", "additionalProperties false")
        return None if self.additional is True else <_Node>self.additional

    cdef object converted(self, object value, str path):
        if self.kind == KIND_ANY:
            return value
        result = _convert(self.kind, value)
        if result is _REFUSED:
            raise ParamsInvalid(path, f"type {self.type_name}")
        return result


# ── conversions: a value of the expected type, or _REFUSED ───────────────────────────────

cdef object _convert(int kind, object value):
    if kind == KIND_STRING:
        return value if isinstance(value, str) else _REFUSED
    if kind == KIND_INTEGER:
        return _as_integer(value)
    if kind == KIND_NUMBER:
        return _as_number(value)
    if kind == KIND_BOOLEAN:
        return _as_boolean(value)
    if kind == KIND_ARRAY:
        return value if isinstance(value, list) else _REFUSED
    return value if isinstance(value, dict) else _REFUSED


cdef object _as_integer(object value):
    if isinstance(value, bool):
        return _REFUSED
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else _REFUSED
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value) is not None:
        return _int_from_text(value)
    return _REFUSED


cdef object _as_number(object value):
    if isinstance(value, bool):
        return _REFUSED
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if _math.isfinite(value) else _REFUSED
    if isinstance(value, str):
        match = _NUMBER_TEXT.fullmatch(value)
        if match is None:
            return _REFUSED
        if match.group(1) is None and match.group(2) is None:
            return _int_from_text(value)
        number = float(value)
        return number if _math.isfinite(number) else _REFUSED
    return _REFUSED


cdef object _as_boolean(object value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value == "true":
            return True
        if value == "false":
            return False
    return _REFUSED


cdef object _int_from_text(str text):
    try:
        return int(text)
    except ValueError:  # beyond the interpreter's integer-digits limit: not a usable number
        return _REFUSED


cdef inline bint _is_number(object value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


cdef bint _in_enum(object value, list options) except -1:
    for option in options:
        if _json_equal(value, option):
            return True
    return False


cdef bint _json_equal(object left, object right) except -1:
    # JSON equality: 1 == 1.0, but true is not 1 and "1" is not 1.
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if _is_number(left) and _is_number(right):
        return bool(left == right)
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    if isinstance(left, list) and isinstance(right, list):
        if len(left) != len(right):
            return False
        for a, b in zip(left, right):
            if not _json_equal(a, b):
                return False
        return True
    if isinstance(left, dict) and isinstance(right, dict):
        if left.keys() != right.keys():
            return False
        for key in left:
            if not _json_equal(left[key], right[key]):
                return False
        return True
    return left is None and right is None


# ── compilation ──────────────────────────────────────────────────────────────────────────

cdef _Node _compile_node(object schema, str location, int depth):
    if not isinstance(schema, dict):
        raise SchemaInvalid(location.rpartition(".")[2], location, "expected a schema object for")
    if depth > _MAX_SCHEMA_DEPTH:
        raise SchemaInvalid("properties", location, f"nesting deeper than {_MAX_SCHEMA_DEPTH} under")
    cdef _Node node = _Node()
    for keyword, value in schema.items():
        if keyword not in _KNOWN_KEYWORDS:
            raise SchemaInvalid(str(keyword), location, "unsupported keyword")
        _compile_keyword(node, keyword, value, location, depth)
    return node


cdef _compile_keyword(_Node node, str keyword, object value, str location, int depth):
    if keyword == "type":
        if not isinstance(value, str) or value not in _SCHEMA_TYPES:
            raise SchemaInvalid("type", location, f"unsupported value {value!r} for keyword")
        node.type_name = value
        node.kind = _KIND_OF[value]
    elif keyword == "properties":
        _compile_properties(node, value, location, depth)
    elif keyword == "required":
        if not _is_name_list(value):
            raise SchemaInvalid("required", location, "expected a list of names for")
        node.required = list(value)
    elif keyword == "enum":
        _compile_enum(node, value, location)
    elif keyword == "minimum":
        node.minimum = _limit(keyword, value, location)
        node.minimum_rule = f"minimum {_json_dumps(value)}"
    elif keyword == "maximum":
        node.maximum = _limit(keyword, value, location)
        node.maximum_rule = f"maximum {_json_dumps(value)}"
    elif keyword == "minLength":
        node.min_length = _length(keyword, value, location)
    elif keyword == "maxLength":
        node.max_length = _length(keyword, value, location)
    elif keyword == "additionalProperties":
        if isinstance(value, bool):
            node.additional = value
        else:
            node.additional = _compile_node(value, f"{location}.additionalProperties", depth + 1)
    # "description" documents the parameter for people; it constrains nothing.


cdef bint _is_name_list(object value):
    if not isinstance(value, list):
        return False
    for name in value:
        if not isinstance(name, str):
            return False
    return True


cdef _compile_properties(_Node node, object value, str location, int depth):
    if not isinstance(value, dict):
        raise SchemaInvalid("properties", location, "expected an object of schemas for")
    for name, subschema in value.items():
        if not isinstance(name, str):
            raise SchemaInvalid("properties", location, f"non-string property name {name!r} under")
        node.properties[name] = _compile_node(subschema, f"{location}.properties.{name}", depth + 1)


cdef _compile_enum(_Node node, object value, str location):
    if not isinstance(value, list):
        raise SchemaInvalid("enum", location, "expected a list for")
    try:
        node.enum_rule = "enum " + _json_dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        raise SchemaInvalid("enum", location, "expected JSON values for") from None
    node.enum = list(value)


cdef object _limit(str keyword, object value, str location):
    if not _is_number(value) or (isinstance(value, float) and not _math.isfinite(value)):
        raise SchemaInvalid(keyword, location, "expected a finite number for")
    return value


cdef object _length(str keyword, object value, str location):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SchemaInvalid(keyword, location, "expected a non-negative integer for")
    return value
