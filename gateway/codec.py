"""JSON <-> protobuf, compiled once per message type.

Output rules (they reproduce the reference bodies):
- the JSON name is the proto field name, unless the proto sets `json_name` explicitly;
- every field without presence is written, defaults included; a field with presence (proto3
  `optional`, or a message) that is unset is written as null, or left out when the field carries
  `(field).omit_when_unset`;
- integers are JSON numbers (int64 too), and a whole number inside a free-form object stays a whole
  number (`100`, not `100.0`), since google.protobuf.Value stores every number as a double.

Input rules: names and their `(field).aliases` are accepted (own name first, then aliases in order),
JSON null leaves a field unset (`params: null` is `{}`), unknown names are ignored, and a value of
the wrong type is a BindError naming the field.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from hxtp.cloud.v1 import options_pb2

F = FieldDescriptor
_INT_TYPES = {
    F.TYPE_INT32,
    F.TYPE_INT64,
    F.TYPE_UINT32,
    F.TYPE_UINT64,
    F.TYPE_SINT32,
    F.TYPE_SINT64,
    F.TYPE_FIXED32,
    F.TYPE_FIXED64,
    F.TYPE_SFIXED32,
    F.TYPE_SFIXED64,
}
_FLOAT_TYPES = {F.TYPE_DOUBLE, F.TYPE_FLOAT}
# What each integer type can hold: a JSON number outside it is the client's error (400), not ours.
INTEGER_RANGES: dict[int, tuple[int, int]] = {
    **dict.fromkeys((F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32), (-(2**31), 2**31 - 1)),
    **dict.fromkeys((F.TYPE_UINT32, F.TYPE_FIXED32), (0, 2**32 - 1)),
    **dict.fromkeys((F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64), (-(2**63), 2**63 - 1)),
    **dict.fromkeys((F.TYPE_UINT64, F.TYPE_FIXED64), (0, 2**64 - 1)),
}


def _in_range(field: FieldDescriptor, value: int, where: str) -> int:
    low, high = INTEGER_RANGES[field.type]
    if not low <= value <= high:
        raise BindError(where, f"must be between {low} and {high}")
    return value


_STRUCT = "google.protobuf.Struct"
_VALUE = "google.protobuf.Value"
_LIST_VALUE = "google.protobuf.ListValue"
_MAX_EXACT_FLOAT_INT = 2**53


class BindError(ValueError):
    """A request value that does not fit its field; `field` names it for the 400 body."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"field '{field}': {problem}")


# ---------------------------------------------------------------- free-form JSON (Struct/Value)

# Deeper than any document a client has a reason to send, far below the recursion protobuf's Struct
# conversion and our encoders can take (hundreds of levels crash them, which is a 500 for the client).
MAX_JSON_DEPTH = 32
# Objects, arrays and scalars in one document: the byte limit alone still lets `[[],[],...]` through
# as half a million protobuf messages.
MAX_JSON_NODES = 20_000


def check_json_shape(data: Any) -> None:
    """Refuses (BindError) a JSON document nested deeper than MAX_JSON_DEPTH or larger than MAX_JSON_NODES.

    Iterative, so the check itself cannot overflow the stack it protects.
    """
    pending: list[tuple[Any, int]] = [(data, 1)]
    nodes = 0
    while pending:
        value, depth = pending.pop()
        nodes += 1
        if nodes > MAX_JSON_NODES:
            raise BindError("body", f"JSON documents are limited to {MAX_JSON_NODES} values")
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth >= MAX_JSON_DEPTH and children:
            raise BindError("body", f"JSON documents are limited to {MAX_JSON_DEPTH} levels of nesting")
        pending.extend((child, depth + 1) for child in children)


def value_to_python(value: Message) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        if number.is_integer() and abs(number) <= _MAX_EXACT_FLOAT_INT:
            return int(number)
        return number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return struct_to_python(value.struct_value)
    if kind == "list_value":
        return [value_to_python(v) for v in value.list_value.values]
    return None


def struct_to_python(struct: Message) -> dict[str, Any]:
    # A Struct is a map, which keeps no order: sorting makes the output stable for clients and tests.
    fields = struct.fields
    return {key: value_to_python(fields[key]) for key in sorted(fields)}


# ---------------------------------------------------------------- field plans


def _explicit_json_names(descriptor: Descriptor) -> dict[str, str]:
    proto = descriptor_pb2.DescriptorProto()
    descriptor.CopyToProto(proto)
    return {f.name: f.json_name for f in proto.field if f.HasField("json_name")}


def _field_rules(field: FieldDescriptor) -> Any:
    return field.GetOptions().Extensions[options_pb2.field]


def _is_map(field: FieldDescriptor) -> bool:
    return bool(field.type == F.TYPE_MESSAGE and field.message_type.GetOptions().map_entry)


def _is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


class MessageCodec:
    """Encoder and decoder for one message type; build through `codec_for`."""

    def __init__(self, descriptor: Descriptor) -> None:
        self.descriptor = descriptor
        explicit = _explicit_json_names(descriptor)
        self._out: list[tuple[str, str, Callable[[Any], Any], bool, bool]] = []
        self._in: dict[str, tuple[FieldDescriptor, int]] = {}
        for field in descriptor.fields:
            rules = _field_rules(field)
            json_name = explicit.get(field.name, field.name)
            presence = field.has_presence and not _is_repeated(field)
            self._out.append((field.name, json_name, _encoder(field), presence, rules.omit_when_unset))
            for rank, name in enumerate([field.name, json_name, *rules.aliases]):
                self._in.setdefault(name, (field, rank))
        self.json_names = {name: json for name, json, *_ in self._out}

    # Output ----------------------------------------------------------------

    def encode(self, message: Message) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, json_name, encode, presence, omit in self._out:
            if presence and not message.HasField(name):
                if not omit:
                    result[json_name] = None
                continue
            value = getattr(message, name)
            if omit and not presence and not value:
                continue
            result[json_name] = encode(value)
        return result

    # Input -----------------------------------------------------------------

    def decode_into(self, data: Any, message: Message, path: str = "") -> None:
        if not isinstance(data, dict):
            raise BindError(path or "body", "must be a JSON object")
        ranks: dict[str, int] = {}
        for key, value in data.items():
            entry = self._in.get(key)
            if entry is None or value is None:
                continue
            field, rank = entry
            if ranks.get(field.name, 99) < rank:
                continue  # the field's own name (or an earlier alias) was given too and wins
            ranks[field.name] = rank
            message.ClearField(field.name)
            _assign(message, field, value, f"{path}{key}")

    def field(self, name: str) -> FieldDescriptor | None:
        entry = self._in.get(name)
        return entry[0] if entry else None


_CODECS: dict[str, MessageCodec] = {}


def codec_for(descriptor: Descriptor) -> MessageCodec:
    codec = _CODECS.get(descriptor.full_name)
    if codec is None:
        codec = MessageCodec(descriptor)
        _CODECS[descriptor.full_name] = codec
    return codec


def encode(message: Message) -> Any:
    """A message as JSON-ready Python data (Struct/Value/ListValue as plain JSON)."""
    return _message_encoder(message.DESCRIPTOR)(message)


def decode(data: Any, message: Message) -> Message:
    codec_for(message.DESCRIPTOR).decode_into(data, message)
    return message


# ---------------------------------------------------------------- encoders


def _enum_encoder(enum: EnumDescriptor) -> Callable[[Any], Any]:
    names = {v.number: v.name for v in enum.values}
    return lambda number: names.get(number, number)


def _message_encoder(descriptor: Descriptor) -> Callable[[Any], Any]:
    if descriptor.full_name == _STRUCT:
        return struct_to_python
    if descriptor.full_name == _VALUE:
        return value_to_python
    if descriptor.full_name == _LIST_VALUE:
        return lambda lv: [value_to_python(v) for v in lv.values]
    return lambda m: codec_for(descriptor).encode(m)


def _scalar_encoder(field: FieldDescriptor) -> Callable[[Any], Any]:
    if field.type == F.TYPE_BYTES:
        return lambda b: base64.b64encode(b).decode("ascii")
    if field.type == F.TYPE_ENUM:
        return _enum_encoder(field.enum_type)
    if field.type == F.TYPE_MESSAGE:
        return _message_encoder(field.message_type)
    return lambda v: v


def _encoder(field: FieldDescriptor) -> Callable[[Any], Any]:
    if _is_map(field):
        value_field = field.message_type.fields_by_name["value"]
        encode_value = _scalar_encoder(value_field)
        return lambda m: {str(k): encode_value(v) for k, v in m.items()}
    single = _scalar_encoder(field)
    if _is_repeated(field):
        return lambda values: [single(v) for v in values]
    return single


# ---------------------------------------------------------------- decoders


def convert_scalar(field: FieldDescriptor, value: Any, where: str) -> Any:
    """A JSON value for a scalar field, type-checked."""
    kind = field.type
    if kind == F.TYPE_STRING:
        if not isinstance(value, str):
            raise BindError(where, "must be a string")
        return value
    if kind == F.TYPE_BOOL:
        if not isinstance(value, bool):
            raise BindError(where, "must be a boolean")
        return value
    if kind in _INT_TYPES:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise BindError(where, "must be an integer")
        return _in_range(field, value, where)
    if kind in _FLOAT_TYPES:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise BindError(where, "must be a number")
        return float(value)
    if kind == F.TYPE_BYTES:
        if isinstance(value, bytes):
            return value
        if not isinstance(value, str):
            raise BindError(where, "must be base64 text")
        try:
            return base64.b64decode(value, validate=True)
        except ValueError as error:
            raise BindError(where, "must be base64 text") from error
    if kind == F.TYPE_ENUM:
        names = field.enum_type.values_by_name
        if isinstance(value, str) and value in names:
            return names[value].number
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and value in field.enum_type.values_by_number
        ):
            return value
        raise BindError(where, f"must be one of {', '.join(names)}")
    raise BindError(where, "has an unsupported type")


def convert_text(field: FieldDescriptor, text: str, where: str) -> Any:
    """A path or query string for a scalar field: `true`/`1`, numbers, enum names."""
    kind = field.type
    if kind == F.TYPE_BOOL:
        lowered = text.lower()
        if lowered in ("true", "1", ""):
            return True
        if lowered in ("false", "0"):
            return False
        raise BindError(where, "must be true or false")
    if kind in _INT_TYPES:
        try:
            return _in_range(field, int(text), where)
        except ValueError as error:
            if isinstance(error, BindError):
                raise
            raise BindError(where, "must be an integer") from error
    if kind in _FLOAT_TYPES:
        try:
            return float(text)
        except ValueError as error:
            raise BindError(where, "must be a number") from error
    if kind == F.TYPE_BYTES:
        return text.encode()
    return convert_scalar(field, text, where)


def _assign_message(target: Message, value: Any, where: str) -> None:
    full_name = target.DESCRIPTOR.full_name
    if full_name == _STRUCT:
        if not isinstance(value, dict):
            raise BindError(where, "must be a JSON object")
        target.update(value)
    elif full_name == _VALUE:
        from google.protobuf import json_format

        json_format.ParseDict(value, target)
    elif full_name == _LIST_VALUE:
        if not isinstance(value, list):
            raise BindError(where, "must be a JSON array")
        target.extend(value)
    else:
        codec_for(target.DESCRIPTOR).decode_into(value, target, f"{where}.")


def _assign(message: Message, field: FieldDescriptor, value: Any, where: str) -> None:
    if _is_map(field):
        if not isinstance(value, dict):
            raise BindError(where, "must be a JSON object")
        target_map = getattr(message, field.name)
        value_field = field.message_type.fields_by_name["value"]
        for key, item in value.items():
            if value_field.type == F.TYPE_MESSAGE:
                _assign_message(target_map[key], item, f"{where}.{key}")
            else:
                target_map[key] = convert_scalar(value_field, item, f"{where}.{key}")
        return
    if _is_repeated(field):
        if not isinstance(value, list):
            raise BindError(where, "must be a JSON array")
        target_list = getattr(message, field.name)
        for index, item in enumerate(value):
            item_where = f"{where}[{index}]"
            if field.type == F.TYPE_MESSAGE:
                _assign_message(target_list.add(), item, item_where)
            else:
                target_list.append(convert_scalar(field, item, item_where))
        return
    if field.type == F.TYPE_MESSAGE:
        _assign_message(getattr(message, field.name), value, where)
        getattr(message, field.name).SetInParent()
        return
    setattr(message, field.name, convert_scalar(field, value, where))


def assign_text(message: Message, field: FieldDescriptor, text: str, where: str) -> None:
    """Bind one path or query value (repeated fields collect every occurrence)."""
    if field.type == F.TYPE_MESSAGE:
        raise BindError(where, "cannot be given in the URL")
    converted = convert_text(field, text, where)
    if _is_repeated(field):
        getattr(message, field.name).append(converted)
    else:
        setattr(message, field.name, converted)
