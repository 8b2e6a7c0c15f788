"""Small proto <-> Python conversions the fleet servicers share."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf import struct_pb2

from server.domain.clock import iso
from server.errors import Code, HxtpError
from server.rpc import call_context

_MAX_EXACT_INT = 2**53


def plain(value: Any) -> Any:
    """google.protobuf.Value content as JSON-like Python; whole numbers become ints again (a Struct
    stores every number as a double, and a schema's `maxLength: 10` must stay an integer)."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= _MAX_EXACT_INT:
        return int(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    """The Struct as `plain` JSON-like Python, read field by field (json_format's generic walk was a
    visible share of every command)."""
    return {key: _value(item) for key, item in struct.fields.items()}


def _value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        number = value.number_value
        if number.is_integer() and abs(number) <= _MAX_EXACT_INT:
            return int(number)
        return number
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return struct_to_dict(value.struct_value)
    if kind == "list_value":
        return [_value(item) for item in value.list_value.values]
    return None  # null_value, or a Value with nothing set


def dict_to_struct(data: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(data)
    return struct


def when(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)


def tenant() -> str:
    """The caller's tenant; the chain has already refused tenantless callers of tenant_required methods."""
    tenant_id = call_context.principal().tenant_id
    if tenant_id is None:
        raise HxtpError(Code.TENANT_REQUIRED)
    return tenant_id
