"""The route table: path templates compiled once into a literal map plus a segment trie.

Matching prefers a literal segment over a variable at every depth (so `/devices/register` wins
over `/devices/{device_id}`), and tells "no such path" (404) apart from "path exists, method
does not" (405).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from gateway.descriptors import Binding, MethodInfo

_VARIABLE = re.compile(r"^\{([a-z_][a-z0-9_.]*)(?:=\*)?\}$")


@dataclass(frozen=True)
class Route:
    http_method: str
    template: str
    body: str
    method: MethodInfo
    path_fields: tuple[str, ...]

    @property
    def websocket(self) -> bool:
        return self.method.server_streaming and self.http_method == "GET"


@dataclass
class _Node:
    literals: dict[str, _Node] = field(default_factory=dict)
    variable: _Node | None = None
    variable_name: str = ""
    routes: dict[str, Route] = field(default_factory=dict)


@dataclass(frozen=True)
class Match:
    route: Route
    params: dict[str, str]


@dataclass(frozen=True)
class MethodMismatch:
    allowed: tuple[str, ...]


class RouteConflict(ValueError):
    pass


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


class Router:
    def __init__(self, methods: Iterable[MethodInfo]) -> None:
        self.routes: list[Route] = []
        self._static: dict[str, dict[str, Route]] = {}
        self._root = _Node()
        for method in methods:
            for binding in method.bindings:
                self._add(method, binding)

    def _add(self, method: MethodInfo, binding: Binding) -> None:
        node = self._root
        names: list[str] = []
        for segment in _segments(binding.path):
            variable = _VARIABLE.match(segment)
            if variable is None:
                node = node.literals.setdefault(segment, _Node())
                continue
            if node.variable is None:
                node.variable = _Node()
                node.variable_name = variable.group(1)
            node = node.variable
            names.append(variable.group(1))
        route = Route(binding.http_method, binding.path, binding.body, method, tuple(names))
        if binding.http_method in node.routes:
            raise RouteConflict(f"{binding.http_method} {binding.path} is bound twice")
        node.routes[binding.http_method] = route
        self.routes.append(route)
        if not names:
            self._static.setdefault(binding.path.rstrip("/") or "/", {})[binding.http_method] = route

    def match(self, http_method: str, path: str) -> Match | MethodMismatch | None:
        static = self._static.get(path.rstrip("/") or "/")
        if static is not None:
            route = static.get(http_method)
            if route is not None:
                return Match(route, {})
        found = self._walk(self._root, _segments(path), 0, [])
        if found is None:
            return None
        node, values = found
        route = node.routes.get(http_method)
        if route is None:
            return MethodMismatch(tuple(sorted(node.routes)))
        return Match(route, dict(zip(route.path_fields, values, strict=True)))

    def _walk(
        self, node: _Node, segments: list[str], depth: int, values: list[str]
    ) -> tuple[_Node, list[str]] | None:
        if depth == len(segments):
            return (node, values) if node.routes else None
        segment = segments[depth]
        literal = node.literals.get(segment)
        if literal is not None:
            found = self._walk(literal, segments, depth + 1, values)
            if found is not None:
                return found
        if node.variable is not None:
            return self._walk(node.variable, segments, depth + 1, [*values, segment])
        return None

    def table(self) -> list[tuple[str, str, str]]:
        """(HTTP method, path template, gRPC method) sorted: the golden-snapshot view of the API."""
        return sorted((r.http_method, r.template, r.method.full_name) for r in self.routes)
