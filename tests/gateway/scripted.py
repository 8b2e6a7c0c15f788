"""Gateway tests run the real gateway over a transport swapped at its seam.

`ScriptedTransport` stands where the servicers would be: it records what the gateway sent
(message and metadata) and answers with whatever the test scripted for that RPC.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message

from gateway.descriptors import MethodInfo
from gateway.transport import Admitted, Metadata, UnaryResult

Answer = Callable[[Message, Metadata], Any]


@dataclass
class Call:
    method: str
    request: Message
    metadata: dict[str, Any]


@dataclass
class ScriptedTransport:
    answers: dict[str, Answer] = field(default_factory=dict)
    streams: dict[str, Callable[[Message, Metadata], AsyncIterator[Message]]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)

    def answer(self, method_name: str, answer: Answer) -> None:
        self.answers[method_name] = answer

    async def unary(self, method: MethodInfo, request: Message, metadata: Metadata) -> UnaryResult:
        self.calls.append(Call(method.full_name, request, dict(metadata)))
        answer = self.answers.get(method.name)
        result = method.output_type() if answer is None else answer(request, metadata)
        if isinstance(result, UnaryResult):
            return result
        return UnaryResult(result, ())

    async def stream(
        self, method: MethodInfo, request: Message, metadata: Metadata, on_admitted: Admitted = None
    ) -> AsyncIterator[Message]:
        self.calls.append(Call(method.full_name, request, dict(metadata)))
        if on_admitted is not None:
            on_admitted()
        async for message in self.streams[method.name](request, metadata):
            yield message

    async def close(self) -> None:
        return None

    @property
    def last(self) -> Call:
        return self.calls[-1]
