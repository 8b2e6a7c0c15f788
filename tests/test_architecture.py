"""The layers of docs/ARCHITECTURE.md, enforced: an import a layer is not allowed fails here, naming it.

Each module belongs to the layer with the longest matching prefix in LAYERS. Among the project's own
packages a layer imports only what its entry allows (an allow-list: a new dependency is a decision
made here, in review). Third-party imports are ruled by a deny-list per layer (a domain module never
imports a transport). The contexts of the domain are layers too, ordered so that they form no cycle.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = ("server", "gateway", "contract", "ext", "hxtp")

# What the shared root of the domain and every context may use.
_DOMAIN_BASE = ("server.domain", "server.storage", "server.cache", "server.errors", "contract", "ext")
# The contexts of the domain and the other contexts each may import (a DAG, checked below).
CONTEXTS: dict[str, tuple[str, ...]] = {
    "identity": (),
    "platform": (),
    "catalog": (),
    "audit": ("identity",),
    "fleet": ("catalog",),
    "link": ("fleet",),
    "commands": ("identity", "catalog", "fleet"),
    "cognition": ("catalog", "commands", "fleet"),
    "firmware": ("audit", "commands", "fleet", "link"),
    "assistant": ("catalog", "commands", "platform"),
}

# layer -> the project layers it may import (besides itself).
LAYERS: dict[str, tuple[str, ...]] = {
    "ext": (),
    "hxtp": (),
    "contract": ("hxtp",),
    "gateway": ("contract", "hxtp"),
    "server.errors": ("contract", "hxtp"),
    "server.config": (),
    "server.keyfiles": (),
    "server.redaction": (),
    "server.storage": ("server.errors", "contract"),
    "server.cache": ("server.errors",),
    "server.domain": _DOMAIN_BASE,  # the shared root: clock, memo, fields, events, ports, ...
    **{
        f"server.domain.{context}": (*_DOMAIN_BASE, *(f"server.domain.{c}" for c in allowed))
        for context, allowed in CONTEXTS.items()
    },
    "server.devicelink": ("server.domain", "server.errors", "server.keyfiles", "contract", "ext"),
    "server.rpc": ("server.domain", "server.errors", "contract", "hxtp"),
    "server.cli": ("server",),  # the entry point: everything
    "server.app": ("server", "gateway", "ext"),  # the composition root: everything
    "server.__main__": ("server.cli",),
    "server": (),
}

# layer -> third-party module prefixes it must never import.
FOREIGN_FORBIDDEN: dict[str, tuple[str, ...]] = {
    "server.domain": ("grpc", "starlette", "uvicorn", "httpx", "gmqtt", "amqtt", "google.protobuf"),
    "server.devicelink": ("grpc", "starlette", "uvicorn"),
    "server.rpc": ("starlette", "uvicorn", "gmqtt", "amqtt", "sqlalchemy", "sqlmodel", "redis"),
    "server.storage": ("grpc", "starlette", "gmqtt"),
    "server.cache": ("grpc", "starlette", "gmqtt"),
    "server.errors": ("grpc",),
    "contract": ("grpc", "starlette", "gmqtt", "sqlalchemy", "redis"),
    "gateway": ("gmqtt", "amqtt", "sqlalchemy", "sqlmodel", "redis"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _layer_of(module: str, layers: dict[str, tuple[str, ...]]) -> str | None:
    candidates = [layer for layer in layers if _matches(module, layer)]
    return max(candidates, key=len) if candidates else None


def _own_sources() -> list[Path]:
    return sorted(
        path
        for package in ("server", "gateway", "contract", "ext")
        for path in (ROOT / package).rglob("*.py")
    )


def test_every_module_belongs_to_a_layer() -> None:
    homeless = [_module_name(p) for p in _own_sources() if _layer_of(_module_name(p), LAYERS) is None]
    assert not homeless, homeless


def test_each_layer_imports_only_the_project_layers_it_may() -> None:
    violations = []
    for path in _own_sources():
        module = _module_name(path)
        layer = _layer_of(module, LAYERS)
        assert layer is not None
        for name in _imports(path):
            if not name.startswith(PROJECT_PACKAGES) or name.split(".")[0] not in PROJECT_PACKAGES:
                continue
            target = _layer_of(name, LAYERS)
            if target == layer:
                continue
            if not any(_matches(name, allowed) for allowed in LAYERS[layer]):
                violations.append(f"{module} ({layer}) imports {name} ({target})")
            elif (
                target is not None
                and target.startswith("server.domain.")
                and layer.startswith("server.domain")
            ):
                # The domain's root allows `server.domain`, which is no licence to reach every context.
                context = target.split(".")[2]
                own = layer.split(".")[2] if layer.count(".") >= 2 else None
                if context in CONTEXTS and context != own and (own is None or context not in CONTEXTS[own]):
                    violations.append(f"{module} ({layer}) imports {name} ({target})")
    assert not violations, "\n".join(violations)


@pytest.mark.parametrize("layer", sorted(FOREIGN_FORBIDDEN))
def test_layer_imports_no_forbidden_third_party_code(layer: str) -> None:
    violations = [
        f"{_module_name(path)} imports {name}"
        for path in _own_sources()
        if _matches(_module_name(path), layer)
        for name in _imports(path)
        if any(_matches(name, prefix) for prefix in FOREIGN_FORBIDDEN[layer])
    ]
    assert not violations, "\n".join(violations)


def test_the_contexts_of_the_domain_form_no_cycle() -> None:
    done: set[str] = set()

    def visit(context: str, path: tuple[str, ...]) -> None:
        assert context not in path, " -> ".join((*path, context))
        if context not in done:
            for other in CONTEXTS[context]:
                visit(other, (*path, context))
            done.add(context)

    for context in CONTEXTS:
        visit(context, ())


def test_every_context_of_the_domain_is_listed() -> None:
    present = {
        p.name for p in (ROOT / "server" / "domain").iterdir() if p.is_dir() and (p / "__init__.py").exists()
    }
    assert present == set(CONTEXTS)


def test_ext_imports_the_standard_library_only() -> None:
    violations = [
        f"{_module_name(path)} imports {name}"
        for path in sorted((ROOT / "ext").rglob("*.py"))
        for name in _imports(path)
        if name.split(".")[0] not in sys.stdlib_module_names and not _matches(name, "ext")
    ]
    assert not violations, "\n".join(violations)


def test_nothing_but_the_entry_point_imports_the_composition_root() -> None:
    importers = [
        _module_name(path)
        for path in _own_sources()
        if any(_matches(name, "server.app") for name in _imports(path)) and _module_name(path) != "server.cli"
    ]
    assert not importers, importers


def test_the_checker_sees_imports_and_refuses_a_cycle() -> None:
    # Guards the guard: if parsing silently found nothing, every rule above would pass vacuously.
    assert "gateway.transport" in _imports(ROOT / "gateway" / "app.py")
    assert "server.errors" in _imports(ROOT / "server" / "domain" / "identity" / "tokens.py")
    assert _layer_of("server.domain.fleet.devices", LAYERS) == "server.domain.fleet"
    assert _layer_of("server.domain.clock", LAYERS) == "server.domain"
    assert not any(_matches("server.domain.identity.quota", a) for a in LAYERS["server.cache"])
