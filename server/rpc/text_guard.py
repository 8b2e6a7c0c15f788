"""The edge check of every text a request carries, native gRPC and REST alike.

Each request message's string fields (nested messages included, free-form JSON not) go through the
one text validator (server/domain/fields.py) against the storage bound of the column of that name,
before any servicer or lookup sees them: a NUL character (which PostgreSQL text cannot hold) or a
text longer than its column is the client's error, never a database error. An identifier no row can
have answers 404, like any other unknown id; other text answers 400 naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from server.domain import fields
from server.errors import Code, HxtpError

# Far above every bounded column, for text no column bounds (tokens, codes, free text stored as JSON).
UNBOUNDED_TEXT = 100_000


def _is_identifier(name: str) -> bool:
    return name in ("id", "slug", "code") or name.endswith(("_id", "_ids", "_slug"))


@dataclass(frozen=True)
class _TextField:
    name: str
    repeated: bool
    max_length: int
    identifier: bool


@dataclass(frozen=True)
class _Plan:
    texts: tuple[_TextField, ...]
    messages: tuple[tuple[str, bool, Descriptor], ...]


class TextGuard:
    """`bounds` by column name; `fields` by full proto field name, for a request field that shares a
    column's name without being stored in it (a claim's PEM `public_key` is not a device's hex key)."""

    def __init__(
        self, bounds: Mapping[str, tuple[int, int]], fields: Mapping[str, int] | None = None
    ) -> None:
        self._bounds = dict(bounds)
        self._fields = dict(fields or {})
        self._plans: dict[str, _Plan] = {}

    def check(self, message: Any) -> None:
        self._check(message, self._plan(message.DESCRIPTOR))

    def _plan(self, descriptor: Descriptor) -> _Plan:
        plan = self._plans.get(descriptor.full_name)
        if plan is not None:
            return plan
        texts, messages = [], []
        for field in descriptor.fields:
            repeated = bool(field.is_repeated)
            if field.type == FieldDescriptor.TYPE_STRING:
                identifier = _is_identifier(field.name)
                own = self._fields.get(field.full_name)
                shortest, longest = (
                    (own, own)
                    if own is not None
                    else self._bounds.get(field.name, (UNBOUNDED_TEXT, UNBOUNDED_TEXT))
                )
                texts.append(
                    _TextField(field.name, repeated, longest if identifier else shortest, identifier)
                )
            elif (
                field.type == FieldDescriptor.TYPE_MESSAGE
                and not field.message_type.GetOptions().map_entry
                and not field.message_type.full_name.startswith("google.")
            ):
                messages.append((field.name, repeated, field.message_type))
        plan = _Plan(tuple(texts), tuple(messages))
        self._plans[descriptor.full_name] = plan
        return plan

    def _check(self, message: Any, plan: _Plan) -> None:
        for text in plan.texts:
            values = getattr(message, text.name) if text.repeated else (getattr(message, text.name),)
            for value in values:
                self._check_text(text, value)
        for name, repeated, descriptor in plan.messages:
            if repeated:
                children = list(getattr(message, name))
            elif message.HasField(name):
                children = [getattr(message, name)]
            else:
                continue
            for child in children:
                self._check(child, self._plan(descriptor))

    @staticmethod
    def _check_text(text: _TextField, value: str) -> None:
        try:
            fields.text(text.name, value, text.max_length, required=False, trim=False)
        except HxtpError:
            if text.identifier:
                raise HxtpError(Code.NOT_FOUND, f"No such {text.name}") from None
            raise
