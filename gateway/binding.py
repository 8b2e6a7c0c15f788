"""Builds the request message of a route from one HTTP request.

Each field binds from exactly one source, in precedence path > body > query: query values are
bound first, then the body, then the path variables overwrite whatever else named the same field.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from google.protobuf.message import Message

from gateway.codec import BindError, MessageCodec, assign_text, check_json_shape, codec_for
from gateway.routes import Route

JSON_LIMIT = 1 << 20  # bytes of a JSON body; larger bodies are refused with 413


class BodyTooLarge(ValueError):
    pass


def parse_json_body(raw: bytes, limit: int = JSON_LIMIT) -> Any:
    """Empty bodies (with or without a JSON content type) count as `{}`."""
    if not raw.strip():
        return {}
    if len(raw) > limit:
        raise BodyTooLarge(f"JSON bodies are limited to {limit} bytes")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise BindError("body", f"malformed JSON ({error.msg})") from error
    check_json_shape(data)
    return data


class RequestBinder:
    """Compiled once per route: which fields come from where."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.message_type = route.method.input_type
        self.codec: MessageCodec = codec_for(self.message_type.DESCRIPTOR)
        self._path_fields = [(name, self.codec.field(name)) for name in route.path_fields]
        self.takes_query = route.body != "*"

    def new_message(self) -> Message:
        return self.message_type()

    def bind_query(self, message: Message, query_string: bytes) -> None:
        if not self.takes_query or not query_string:
            return
        for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
            field = self.codec.field(key)
            if field is not None and key not in self.route.path_fields:
                assign_text(message, field, value, key)

    def bind_body(self, message: Message, data: Any) -> None:
        body = self.route.body
        if not body:
            return
        if body == "*":
            self.codec.decode_into(data, message)
            return
        target = getattr(message, body)
        codec_for(target.DESCRIPTOR).decode_into(data, target, f"{body}.")
        target.SetInParent()

    def bind_form(self, message: Message, fields: list[tuple[str, str | bytes]]) -> None:
        """multipart/form-data: text parts are typed like query values, file parts fill bytes fields."""
        for key, value in fields:
            field = self.codec.field(key)
            if field is None:
                continue
            if isinstance(value, bytes):
                if field.type != field.TYPE_BYTES:
                    raise BindError(key, "must be a text field, not a file")
                setattr(message, field.name, value)
            else:
                message.ClearField(field.name)
                assign_text(message, field, value, key)

    def bind_path(self, message: Message, params: dict[str, str]) -> None:
        for name, field in self._path_fields:
            if field is None:
                raise BindError(name, "path variable has no matching request field")
            message.ClearField(field.name)
            assign_text(message, field, params[name], name)
